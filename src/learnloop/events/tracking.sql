-- name: insert_execution
INSERT INTO executions (tenant_id, execution_id, idempotency_key, goal, intent, success, error,
                        duration_ms, started_at, impression_id, metadata)
VALUES (%(tenant_id)s, %(execution_id)s, %(idempotency_key)s, %(goal)s, %(intent)s,
        %(success)s, %(error)s, %(duration_ms)s, %(started_at)s, %(impression_id)s,
        %(metadata)s)
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING execution_id;

-- name: execution_by_key
SELECT execution_id FROM executions
WHERE tenant_id = %(tenant_id)s AND idempotency_key = %(idempotency_key)s;

-- name: insert_tool_call
INSERT INTO tool_calls (tenant_id, execution_id, seq, tool, item_id, parameters, result,
                        success, error, duration_ms)
VALUES (%(tenant_id)s, %(execution_id)s, %(seq)s, %(tool)s, %(item_id)s, %(parameters)s,
        %(result)s, %(success)s, %(error)s, %(duration_ms)s);

-- name: get_execution
SELECT execution_id, goal, intent, success, error, duration_ms, started_at, impression_id,
       metadata, created_at
FROM executions WHERE tenant_id = %(tenant_id)s AND execution_id = %(execution_id)s;

-- name: execution_tool_calls
SELECT seq, tool, item_id, parameters, result, success, error, duration_ms
FROM tool_calls WHERE tenant_id = %(tenant_id)s AND execution_id = %(execution_id)s
ORDER BY seq;

-- name: insert_tool_creation
INSERT INTO tool_creations (tenant_id, execution_id, tool, code, validation_passed,
                            validation_errors)
VALUES (%(tenant_id)s, %(execution_id)s, %(tool)s, %(code)s, %(validation_passed)s,
        %(validation_errors)s)
RETURNING creation_id, execution_id, tool, code, validation_passed, validation_errors,
          created_at;

-- name: upsert_report
-- A new report, or the one with the same external_id brought up to date.
INSERT INTO reports AS r (tenant_id, external_id, account, playbook, playbook_item_id, status,
                          steps_completed, steps_total, started_at, ended_at,
                          executive_summary, outcomes, next_steps, raci, exit_criteria)
VALUES (%(tenant_id)s, %(external_id)s, %(account)s, %(playbook)s, %(playbook_item_id)s,
        %(status)s, %(steps_completed)s, %(steps_total)s, %(started_at)s, %(ended_at)s,
        %(executive_summary)s, %(outcomes)s, %(next_steps)s, %(raci)s, %(exit_criteria)s)
ON CONFLICT (tenant_id, external_id) DO UPDATE SET
    account = excluded.account, playbook = excluded.playbook,
    playbook_item_id = excluded.playbook_item_id, status = excluded.status,
    steps_completed = excluded.steps_completed, steps_total = excluded.steps_total,
    started_at = excluded.started_at, ended_at = excluded.ended_at,
    executive_summary = excluded.executive_summary, outcomes = excluded.outcomes,
    next_steps = excluded.next_steps, raci = excluded.raci,
    exit_criteria = excluded.exit_criteria, updated_at = now()
RETURNING report_id, external_id, account, playbook, playbook_item_id, status, steps_completed,
          steps_total, started_at, ended_at, executive_summary, outcomes, next_steps, raci,
          exit_criteria, created_at, updated_at;

-- name: list_reports
SELECT report_id, external_id, account, playbook, playbook_item_id, status, steps_completed,
       steps_total, started_at, ended_at, executive_summary, outcomes, next_steps, raci,
       exit_criteria, created_at, updated_at
FROM reports
WHERE tenant_id = %(tenant_id)s AND (%(account)s::text IS NULL OR account = %(account)s::text)
ORDER BY created_at DESC, report_id DESC
LIMIT %(limit)s;

-- name: claim_spans
-- The spans of a call not seen before, claimed; a span already taken in (same tenant,
-- trace id and span id) is left out of the answer, so sending it again adds nothing.
INSERT INTO trace_spans (tenant_id, trace_id, span_id, became)
SELECT %(tenant_id)s, s.trace_id, s.span_id, s.became
FROM unnest(%(trace_ids)s::text[], %(span_ids)s::text[], %(became)s::text[])
     AS s (trace_id, span_id, became)
ORDER BY s.trace_id, s.span_id
ON CONFLICT DO NOTHING
RETURNING trace_id, span_id;

-- name: tenant_impressions
SELECT impression_id FROM impressions
WHERE tenant_id = %(tenant_id)s AND impression_id = ANY(%(impression_ids)s::uuid[]);

-- name: lock_execution
SELECT execution_id, started_at, metadata FROM executions
WHERE tenant_id = %(tenant_id)s AND idempotency_key = %(idempotency_key)s
FOR UPDATE;

-- name: set_run
-- The run span of the trace, in place of what the execution held.
UPDATE executions
SET goal = %(goal)s, intent = %(intent)s, success = %(success)s, error = %(error)s,
    duration_ms = %(duration_ms)s, started_at = %(started_at)s,
    impression_id = %(impression_id)s, metadata = %(metadata)s
WHERE tenant_id = %(tenant_id)s AND execution_id = %(execution_id)s;

-- name: widen_placeholder
-- An execution still without its run span: it spans its tool calls and succeeded if they
-- all did.
UPDATE executions
SET success = success AND %(success)s,
    started_at = least(started_at, %(start)s),
    duration_ms = 1000 * extract(epoch FROM
        greatest(started_at + duration_ms * interval '1 millisecond', %(end)s)
        - least(started_at, %(start)s))
WHERE tenant_id = %(tenant_id)s AND execution_id = %(execution_id)s;

-- name: last_seq
SELECT coalesce(max(seq), 0) AS seq FROM tool_calls
WHERE tenant_id = %(tenant_id)s AND execution_id = %(execution_id)s;

-- name: touch_execution
-- A later span changed the execution: created_at becomes its arrival, so the analytics'
-- incremental rollups (which take the executions created since their last run) count it.
UPDATE executions SET created_at = now()
WHERE tenant_id = %(tenant_id)s AND execution_id = %(execution_id)s;

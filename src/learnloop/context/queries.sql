-- name: session_account
-- The account a session last asked about, from its impressions.
SELECT account_id FROM impressions
WHERE tenant_id = %(tenant_id)s AND session_id = %(session_id)s AND account_id IS NOT NULL
ORDER BY created_at DESC
LIMIT 1;

-- name: insert_response
INSERT INTO responses (tenant_id, response_id, query, account_id, session_id, user_id,
                       impression_id, context_text, context_tokens, citations, answer, provider,
                       model, input_tokens, output_tokens, duration_ms)
VALUES (%(tenant_id)s, %(response_id)s, %(query)s, %(account_id)s, %(session_id)s, %(user_id)s,
        %(impression_id)s, %(context_text)s, %(context_tokens)s, %(citations)s, %(answer)s,
        %(provider)s, %(model)s, %(input_tokens)s, %(output_tokens)s, %(duration_ms)s)
RETURNING response_id, query, account_id, session_id, impression_id, answer, provider, model,
          citations, context_tokens, input_tokens, output_tokens, duration_ms, created_at;

-- name: get_response
SELECT response_id, query, account_id, session_id, impression_id, answer, provider, model,
       citations, context_tokens, input_tokens, output_tokens, duration_ms, created_at
FROM responses
WHERE tenant_id = %(tenant_id)s AND response_id = %(response_id)s;

-- name: latest_kpis
-- Every account's latest value of every KPI (KPI values without an account are left out).
SELECT DISTINCT ON (account_id, kpi) account_id, kpi, value
FROM kpi_values
WHERE tenant_id = %(tenant_id)s AND account_id IS NOT NULL
ORDER BY account_id, kpi, recorded_at DESC, value_id DESC;

-- name: account_exists
SELECT account_id FROM accounts
WHERE tenant_id = %(tenant_id)s AND account_id = %(account_id)s;

-- name: reports_of_accounts
-- Reports that have an outcome (done one way or another), newest first.
SELECT report_id, account, playbook, playbook_item_id, status, outcomes, executive_summary
FROM reports
WHERE tenant_id = %(tenant_id)s AND account = ANY(%(accounts)s::text[])
  AND status IN ('completed', 'failed', 'abandoned')
ORDER BY created_at DESC, report_id DESC
LIMIT %(limit)s;

-- name: has_corrections
-- Whether the tenant has any active correction, before paying for a search of them.
SELECT EXISTS (
    SELECT 1 FROM items
    WHERE tenant_id = %(tenant_id)s AND kind = 'correction' AND status = 'active'
) AS found;

-- Imports, saved column mappings, accounts and KPI history.

-- name: insert_import
INSERT INTO imports (tenant_id, file_name, format, kind, confidence, status, counts, errors,
                     details, duration_ms)
VALUES (%(tenant_id)s, %(file_name)s, %(format)s, %(kind)s, %(confidence)s, %(status)s,
        %(counts)s, %(errors)s, %(details)s, %(duration_ms)s)
RETURNING import_id, created_at;

-- name: finish_import
UPDATE imports
SET status = %(status)s, counts = %(counts)s, errors = %(errors)s, details = %(details)s,
    duration_ms = %(duration_ms)s
WHERE tenant_id = %(tenant_id)s AND import_id = %(import_id)s;

-- name: list_imports
SELECT import_id, file_name, format, kind, confidence, status, counts, errors, details,
       duration_ms, created_at
FROM imports
WHERE tenant_id = %(tenant_id)s AND (%(cursor)s::bigint IS NULL OR import_id < %(cursor)s)
ORDER BY import_id DESC
LIMIT %(limit)s;

-- name: get_import
SELECT import_id, file_name, format, kind, confidence, status, counts, errors, details,
       duration_ms, created_at
FROM imports
WHERE tenant_id = %(tenant_id)s AND import_id = %(import_id)s;

-- name: save_mapping
INSERT INTO import_mappings (tenant_id, signature, columns, mapping)
VALUES (%(tenant_id)s, %(signature)s, %(columns)s, %(mapping)s)
ON CONFLICT (tenant_id, signature)
DO UPDATE SET columns = EXCLUDED.columns, mapping = EXCLUDED.mapping, updated_at = now();

-- name: get_mappings
SELECT signature, columns, mapping, updated_at
FROM import_mappings
WHERE tenant_id = %(tenant_id)s AND signature = ANY(%(signatures)s::text[]);

-- name: list_mappings
SELECT signature, columns, mapping, updated_at
FROM import_mappings
WHERE tenant_id = %(tenant_id)s
ORDER BY updated_at DESC;

-- name: upsert_account
-- An accounts table sets everything; a KPI row naming an account only makes sure it exists.
INSERT INTO accounts (tenant_id, account_id, name, segment, attrs)
VALUES (%(tenant_id)s, %(account_id)s, %(name)s, %(segment)s, %(attrs)s)
ON CONFLICT (tenant_id, account_id) DO UPDATE
SET name = EXCLUDED.name, segment = EXCLUDED.segment, attrs = EXCLUDED.attrs, updated_at = now()
WHERE %(full)s
  AND (accounts.name, accounts.segment, accounts.attrs)
      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.segment, EXCLUDED.attrs);

-- name: find_accounts_by_name
SELECT account_id, name
FROM accounts
WHERE tenant_id = %(tenant_id)s AND lower(name) = ANY(%(names)s::text[]);

-- name: append_kpi_values
-- Appends the rows not already stored: a dated row is skipped when the same row (same
-- fingerprint) is stored; an undated row when the account's latest value of that KPI is
-- the same row. So importing a file again appends nothing, and a new value is history.
WITH incoming AS (
    SELECT * FROM unnest(
        %(account_ids)s::text[], %(kpis)s::text[], %(categories)s::text[],
        %(values)s::float8[], %(units)s::text[], %(targets)s::float8[], %(weights)s::float8[],
        %(impacts)s::text[], %(components)s::text[], %(recorded)s::timestamptz[],
        %(fingerprints)s::text[]
    ) WITH ORDINALITY AS r (account_id, kpi, category, value, unit, target, weight,
                            impact_level, health_component, recorded_at, fingerprint, n)
),
fresh AS (
    SELECT DISTINCT ON (fingerprint) *
    FROM incoming i
    WHERE NOT EXISTS (
        SELECT 1 FROM kpi_values k
        WHERE k.tenant_id = %(tenant_id)s AND k.fingerprint = i.fingerprint
          AND (i.recorded_at IS NOT NULL OR k.value_id = (
                SELECT l.value_id FROM kpi_values l
                WHERE l.tenant_id = %(tenant_id)s
                  AND l.account_id IS NOT DISTINCT FROM i.account_id AND l.kpi = i.kpi
                ORDER BY l.recorded_at DESC, l.value_id DESC
                LIMIT 1))
    )
    ORDER BY fingerprint, n
)
INSERT INTO kpi_values (tenant_id, account_id, kpi, category, value, unit, target, weight,
                        impact_level, health_component, recorded_at, dated, fingerprint,
                        import_id)
SELECT %(tenant_id)s, account_id, kpi, category, value, unit, target, weight, impact_level,
       health_component, coalesce(recorded_at, now()), recorded_at IS NOT NULL, fingerprint,
       %(import_id)s
FROM fresh
ORDER BY n
RETURNING account_id;

-- name: latest_kpis
-- The latest value of each KPI of these accounts.
SELECT DISTINCT ON (account_id, kpi)
       account_id, kpi, value, unit, target, weight, impact_level, health_component
FROM kpi_values
WHERE tenant_id = %(tenant_id)s AND account_id = ANY(%(account_ids)s::text[])
ORDER BY account_id, kpi, recorded_at DESC, value_id DESC;

-- name: set_health
UPDATE accounts
SET health_score = %(health_score)s, health_updated_at = now()
WHERE tenant_id = %(tenant_id)s AND account_id = %(account_id)s;

-- name: get_account
SELECT account_id, name, segment, attrs, health_score, health_updated_at, created_at,
       updated_at
FROM accounts
WHERE tenant_id = %(tenant_id)s AND account_id = %(account_id)s;

-- name: list_accounts
SELECT account_id, name, segment, attrs, health_score, health_updated_at, created_at,
       updated_at
FROM accounts
WHERE tenant_id = %(tenant_id)s
ORDER BY name, account_id
LIMIT %(limit)s;

-- name: kpi_history
SELECT value_id, account_id, kpi, category, value, unit, target, weight, impact_level,
       health_component, recorded_at, import_id
FROM kpi_values
WHERE tenant_id = %(tenant_id)s AND account_id = %(account_id)s
ORDER BY kpi, recorded_at, value_id;

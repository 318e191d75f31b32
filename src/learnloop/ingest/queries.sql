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
RETURNING account_id, kpi, recorded_at;

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

-- name: upsert_kpi_points
-- Dated values: one per (account, KPI, time). A new point is inserted; a point stored with
-- other figures is updated, what it held kept as a revision; the same figures again change
-- nothing. Within one write the last row for a point wins.
WITH incoming AS (
    SELECT * FROM unnest(
        %(account_ids)s::text[], %(kpis)s::text[], %(categories)s::text[],
        %(values)s::float8[], %(units)s::text[], %(targets)s::float8[], %(weights)s::float8[],
        %(impacts)s::text[], %(components)s::text[], %(recorded)s::timestamptz[],
        %(fingerprints)s::text[]
    ) WITH ORDINALITY AS r (account_id, kpi, category, value, unit, target, weight,
                            impact_level, health_component, recorded_at, fingerprint, n)
),
last AS (
    SELECT DISTINCT ON (coalesce(account_id, ''), kpi, recorded_at) *
    FROM incoming
    ORDER BY coalesce(account_id, ''), kpi, recorded_at, n DESC
),
replaced AS (
    INSERT INTO kpi_value_revisions (tenant_id, value_id, account_id, kpi, category, value,
                                     unit, target, weight, impact_level, health_component,
                                     recorded_at, import_id, replaced_by)
    SELECT k.tenant_id, k.value_id, k.account_id, k.kpi, k.category, k.value, k.unit,
           k.target, k.weight, k.impact_level, k.health_component, k.recorded_at,
           k.import_id, %(import_id)s
    FROM kpi_values k JOIN last l
      ON coalesce(k.account_id, '') = coalesce(l.account_id, '') AND k.kpi = l.kpi
     AND k.recorded_at = l.recorded_at
    WHERE k.tenant_id = %(tenant_id)s AND k.dated AND k.fingerprint <> l.fingerprint
)
INSERT INTO kpi_values (tenant_id, account_id, kpi, category, value, unit, target, weight,
                        impact_level, health_component, recorded_at, dated, fingerprint,
                        import_id)
SELECT %(tenant_id)s, account_id, kpi, category, value, unit, target, weight, impact_level,
       health_component, recorded_at, true, fingerprint, %(import_id)s
FROM last
ORDER BY n
ON CONFLICT (tenant_id, (coalesce(account_id, '')), kpi, recorded_at) WHERE dated
DO UPDATE SET category = EXCLUDED.category, value = EXCLUDED.value, unit = EXCLUDED.unit,
              target = EXCLUDED.target, weight = EXCLUDED.weight,
              impact_level = EXCLUDED.impact_level,
              health_component = EXCLUDED.health_component,
              fingerprint = EXCLUDED.fingerprint, import_id = EXCLUDED.import_id
WHERE kpi_values.fingerprint <> EXCLUDED.fingerprint
RETURNING account_id, kpi, recorded_at, (xmax = 0) AS inserted;

-- name: account_series_rows
-- Every KPI value of these accounts, oldest first: what their health history is made of.
SELECT account_id, kpi, value, unit, target, weight, impact_level, health_component,
       recorded_at
FROM kpi_values
WHERE tenant_id = %(tenant_id)s AND account_id = ANY(%(account_ids)s::text[])
ORDER BY account_id, recorded_at, value_id;

-- name: clear_health_history
DELETE FROM health_history
WHERE tenant_id = %(tenant_id)s AND account_id = ANY(%(account_ids)s::text[]);

-- name: insert_health_history
INSERT INTO health_history (tenant_id, account_id, as_of, score, kpis)
SELECT %(tenant_id)s, * FROM unnest(%(account_ids)s::text[], %(as_of)s::timestamptz[],
                                    %(scores)s::float8[], %(kpis)s::int[]);

-- name: health_scores_of
SELECT account_id, health_score FROM accounts
WHERE tenant_id = %(tenant_id)s AND account_id = ANY(%(account_ids)s::text[]);

-- name: insert_data_event
INSERT INTO data_events (tenant_id, type, account_id, import_id, payload)
VALUES (%(tenant_id)s, %(type)s, %(account_id)s, %(import_id)s, %(payload)s);

-- name: list_data_events
SELECT event_id, type, account_id, import_id, payload, created_at
FROM data_events
WHERE tenant_id = %(tenant_id)s
  AND (%(type)s::text IS NULL OR type = %(type)s)
  AND (%(account_id)s::text IS NULL OR account_id = %(account_id)s)
  AND (%(cursor)s::bigint IS NULL OR event_id < %(cursor)s)
ORDER BY event_id DESC
LIMIT %(limit)s;

-- name: kpi_series
SELECT kpi, recorded_at, value, unit, target
FROM kpi_values
WHERE tenant_id = %(tenant_id)s AND account_id = %(account_id)s
  AND (%(kpi)s::text IS NULL OR kpi = %(kpi)s)
  AND recorded_at >= %(since)s AND recorded_at <= %(until)s
ORDER BY kpi, recorded_at, value_id;

-- name: health_history
SELECT as_of, score, kpis FROM health_history
WHERE tenant_id = %(tenant_id)s AND account_id = %(account_id)s
  AND as_of >= %(since)s AND as_of <= %(until)s
ORDER BY as_of;

-- name: kpi_revisions
SELECT revision_id, value_id, kpi, value, unit, target, recorded_at, import_id, replaced_by,
       replaced_at
FROM kpi_value_revisions
WHERE tenant_id = %(tenant_id)s AND account_id = %(account_id)s
ORDER BY replaced_at, revision_id;

-- name: account_by_id_or_name
-- The account a context names (its id, else its name), and the time of its newest value.
SELECT a.account_id,
       (SELECT max(k.recorded_at) FROM kpi_values k
        WHERE k.tenant_id = a.tenant_id AND k.account_id = a.account_id) AS newest
FROM accounts a
WHERE a.tenant_id = %(tenant_id)s
  AND (a.account_id = %(account)s OR lower(a.name) = lower(%(account)s))
ORDER BY a.account_id = %(account)s DESC
LIMIT 1;

-- name: latest_impressions
-- The most recent impression of each session named.
SELECT DISTINCT ON (session_id) session_id, impression_id
FROM impressions
WHERE tenant_id = %(tenant_id)s AND session_id = ANY(%(sessions)s::text[])
ORDER BY session_id, created_at DESC, impression_id DESC;

-- name: check_impressions
-- Each impression id named (as text), with its tenant (to refuse another tenant's
-- impression); when it is this tenant's, one row per item it showed, with its rank.
SELECT i.impression_id::text, i.tenant_id, s.item_id, s.rank
FROM impressions AS i
LEFT JOIN impression_items AS s
       ON i.tenant_id = %(tenant_id)s AND s.tenant_id = i.tenant_id
      AND s.impression_id = i.impression_id AND s.shown
WHERE i.impression_id = ANY(%(impression_ids)s::uuid[]);

-- name: ensure_partition
SELECT learnloop_event_partition(%(month)s::timestamptz) AS name;

-- name: store_events
-- The checked events of a call, one array per column, stored in one statement: the keys not
-- seen before are claimed (in sorted order in every call, so overlapping calls cannot
-- deadlock) and every event without a key or with a newly claimed one is inserted; of one
-- key repeated in a call, the first event. All of it commits, or none. Returns the places
-- (n, from 1) of the events whose key was claimed, and the ids of the inserted events,
-- which grow in the order of their places.
WITH e AS (
    SELECT *
    FROM unnest(%(types)s::text[], %(impression_ids)s::uuid[], %(item_ids)s::bigint[],
                %(ranks)s::integer[], %(occurred_at)s::timestamptz[], %(seen)s::boolean[],
                %(metadata)s::jsonb[], %(keys)s::text[], %(page_contexts)s::jsonb[],
                %(referrers)s::text[])
         WITH ORDINALITY AS e (type, impression_id, item_id, rank, occurred_at, seen, metadata,
                               key, page_context, referrer, n)
), claimed AS (
    INSERT INTO event_keys (tenant_id, idempotency_key)
    SELECT %(tenant_id)s, k.key
    FROM (SELECT DISTINCT e.key FROM e WHERE e.key IS NOT NULL) AS k
    ORDER BY k.key
    ON CONFLICT DO NOTHING
    RETURNING idempotency_key
), fresh AS (
    SELECT min(e.n) AS n FROM e JOIN claimed ON claimed.idempotency_key = e.key GROUP BY e.key
), stored AS (
    INSERT INTO events (tenant_id, type, impression_id, item_id, rank, occurred_at,
                        impression_seen, metadata, page_context, referrer)
    SELECT %(tenant_id)s, e.type, e.impression_id, e.item_id, e.rank,
           coalesce(e.occurred_at, %(now)s), e.seen, coalesce(e.metadata, '{}'::jsonb),
           e.page_context, e.referrer
    FROM e
    WHERE e.key IS NULL OR e.n IN (SELECT fresh.n FROM fresh)
    ORDER BY e.n
    RETURNING event_id
)
SELECT ARRAY(SELECT fresh.n FROM fresh) AS fresh,
       ARRAY(SELECT stored.event_id FROM stored ORDER BY stored.event_id) AS event_ids;

-- name: impression_events
SELECT event_id, type, impression_id, item_id, rank, occurred_at, received_at,
       impression_seen, metadata, page_context, referrer
FROM events
WHERE tenant_id = %(tenant_id)s AND impression_id = %(impression_id)s
ORDER BY occurred_at, event_id;

-- name: event_partitions
SELECT c.relname AS name FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_[0-9]{4}_[0-9]{2}$'
ORDER BY c.relname;

-- name: drop_partition
DROP TABLE IF EXISTS {partition};

-- name: impression_tenant
SELECT 1 AS found FROM impressions
WHERE tenant_id = %(tenant_id)s AND impression_id = %(impression_id)s;

-- name: insert_feedback
INSERT INTO feedback (tenant_id, impression_id, response_id, item_id, kind, value, score,
                      negative, reason, idempotency_key)
VALUES (%(tenant_id)s, %(impression_id)s, %(response_id)s, %(item_id)s, %(kind)s, %(value)s,
        %(score)s, %(negative)s, %(reason)s, %(idempotency_key)s)
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING feedback_id, impression_id, response_id, item_id, kind, value, score, negative,
          reason, created_at;

-- name: feedback_by_key
SELECT feedback_id, impression_id, response_id, item_id, kind, value, score, negative, reason,
       created_at
FROM feedback WHERE tenant_id = %(tenant_id)s AND idempotency_key = %(idempotency_key)s;

-- name: insert_correction
INSERT INTO corrections (tenant_id, impression_id, response_id, item_id, query,
                         original_response, corrected_answer, priority, author, idempotency_key)
VALUES (%(tenant_id)s, %(impression_id)s, %(response_id)s, %(item_id)s, %(query)s,
        %(original_response)s, %(corrected_answer)s, %(priority)s, %(author)s,
        %(idempotency_key)s)
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING correction_id, impression_id, response_id, item_id, query, original_response,
          corrected_answer, priority, author, created_at;

-- name: correction_by_key
SELECT correction_id, impression_id, response_id, item_id, query, original_response,
       corrected_answer, priority, author, created_at
FROM corrections WHERE tenant_id = %(tenant_id)s AND idempotency_key = %(idempotency_key)s;

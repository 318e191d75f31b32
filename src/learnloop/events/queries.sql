-- name: latest_impressions
-- The most recent impression of each session named.
SELECT DISTINCT ON (session_id) session_id, impression_id
FROM impressions
WHERE tenant_id = %(tenant_id)s AND session_id = ANY(%(sessions)s::text[])
ORDER BY session_id, created_at DESC, impression_id DESC;

-- name: impression_owners
-- Which tenant each impression id belongs to (across tenants, only to refuse a stranger's).
SELECT impression_id, tenant_id FROM impressions
WHERE impression_id = ANY(%(impression_ids)s::uuid[]);

-- name: shown_items
SELECT impression_id, item_id, rank FROM impression_items
WHERE tenant_id = %(tenant_id)s AND impression_id = ANY(%(impression_ids)s::uuid[]) AND shown;

-- name: ensure_partition
SELECT learnloop_event_partition(%(month)s::timestamptz) AS name;

-- name: claim_keys
-- The keys not seen before, now claimed; a retried event's key is not returned.
INSERT INTO event_keys (tenant_id, idempotency_key)
SELECT %(tenant_id)s, key FROM unnest(%(keys)s::text[]) AS key
ON CONFLICT DO NOTHING
RETURNING idempotency_key;

-- name: insert_events
-- Many events in one statement; event ids come back in the order given.
INSERT INTO events (tenant_id, type, impression_id, item_id, rank, occurred_at,
                    impression_seen, metadata)
SELECT %(tenant_id)s, e.type, e.impression_id, e.item_id, e.rank, e.occurred_at, e.seen,
       e.metadata
FROM unnest(%(types)s::text[], %(impression_ids)s::uuid[], %(item_ids)s::bigint[],
            %(ranks)s::integer[], %(occurred_at)s::timestamptz[], %(seen)s::boolean[],
            %(metadata)s::jsonb[])
     WITH ORDINALITY AS e (type, impression_id, item_id, rank, occurred_at, seen, metadata, n)
ORDER BY e.n
RETURNING event_id;

-- name: impression_events
SELECT event_id, type, impression_id, item_id, rank, occurred_at, received_at,
       impression_seen, metadata
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

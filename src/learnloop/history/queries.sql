-- name: items_by_external_id
SELECT i.item_id, i.kind, i.external_id, i.version
FROM items AS i
JOIN unnest(%(kinds)s::text[], %(external_ids)s::text[]) AS wanted (kind, external_id)
  ON i.kind = wanted.kind AND i.external_id = wanted.external_id
WHERE i.tenant_id = %(tenant_id)s;

-- name: items_by_id
SELECT item_id, kind, external_id, version FROM items
WHERE tenant_id = %(tenant_id)s AND item_id = ANY(%(item_ids)s::bigint[]);

-- name: insert_impressions
-- The entries as impressions; an entry whose key (source and log id) was imported before is
-- left as it is. Returns the new ones.
INSERT INTO impressions (tenant_id, impression_id, idempotency_key, query, context, user_id,
                         session_id, account_id, k, policy, policy_version, strategy,
                         threshold, created_at)
SELECT %(tenant_id)s, e.*
FROM unnest(%(impression_ids)s::uuid[], %(keys)s::text[], %(queries)s::text[],
            %(contexts)s::jsonb[], %(user_ids)s::text[], %(session_ids)s::text[],
            %(account_ids)s::text[], %(ks)s::integer[], %(policies)s::text[],
            %(versions)s::text[], %(strategies)s::text[], %(thresholds)s::real[],
            %(created_at)s::timestamptz[]) AS e
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING impression_id, idempotency_key;

-- name: insert_candidates
-- The solutions presented, all shown, in the order the log gave them. first_propensity
-- stays empty: a log keeps the propensity of what it displayed, not the probability of
-- every other choice it could have made first.
INSERT INTO impression_items (tenant_id, impression_id, rank, item_id, item_version, score,
                              confidence, propensity, shown, search_position)
SELECT %(tenant_id)s, c.impression_id, c.rank, c.item_id, c.item_version, c.score,
       c.confidence, c.propensity, true, c.rank
FROM unnest(%(impression_ids)s::uuid[], %(ranks)s::integer[], %(item_ids)s::bigint[],
            %(item_versions)s::integer[], %(scores)s::float8[], %(confidences)s::float8[],
            %(propensities)s::float8[])
     AS c (impression_id, rank, item_id, item_version, score, confidence, propensity);

-- name: settle_candidates
-- A log is final: what the person did is in it, so the wait for an outcome of each
-- solution is over as soon as its events are counted (the statistics update takes these
-- rows after the items shown and their events, as it takes the waits that end).
INSERT INTO learn_pending (tenant_id, kind, impression_id, item_id, rank)
SELECT %(tenant_id)s, 'expire', c.impression_id, c.item_id, c.rank
FROM unnest(%(impression_ids)s::uuid[], %(item_ids)s::bigint[], %(ranks)s::integer[])
     AS c (impression_id, item_id, rank);

-- name: ensure_partition
SELECT learnloop_event_partition(%(month)s::timestamptz) AS name;

-- name: insert_events
INSERT INTO events (tenant_id, type, impression_id, item_id, rank, occurred_at,
                    impression_seen, metadata)
SELECT %(tenant_id)s, e.type, e.impression_id, e.item_id, e.rank, e.occurred_at, true,
       e.metadata
FROM unnest(%(types)s::text[], %(impression_ids)s::uuid[], %(item_ids)s::bigint[],
            %(ranks)s::integer[], %(occurred_at)s::timestamptz[], %(metadata)s::jsonb[])
     AS e (type, impression_id, item_id, rank, occurred_at, metadata);

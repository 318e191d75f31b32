-- name: tenant_threshold
SELECT coalesce((settings ->> 'confidence_threshold')::real, 0.5) AS threshold
FROM tenants WHERE tenant_id = %(tenant_id)s;

-- name: insert_impression
-- Nothing is written when the idempotency key was seen: the caller reads the first answer.
INSERT INTO impressions (tenant_id, impression_id, idempotency_key, query, context, user_id,
                         session_id, account_id, kinds, k, policy, policy_version, strategy,
                         threshold, experiment, variant)
VALUES (%(tenant_id)s, %(impression_id)s, %(idempotency_key)s, %(query)s, %(context)s,
        %(user_id)s, %(session_id)s, %(account_id)s, %(kinds)s, %(k)s, %(policy)s,
        %(policy_version)s, %(strategy)s, %(threshold)s, %(experiment)s, %(variant)s)
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING impression_id, created_at;

-- name: insert_candidates
-- Every candidate of one impression in one statement (one firing of the trigger that
-- queues the items shown for the learning statistics).
INSERT INTO impression_items (tenant_id, impression_id, rank, item_id, item_version, score,
                              similarity, confidence, propensity, shown, relevance,
                              first_propensity, baseline_confidence,
                              search_position)
SELECT %(tenant_id)s, %(impression_id)s, c.*
FROM unnest(%(ranks)s::integer[], %(item_ids)s::bigint[], %(item_versions)s::integer[],
            %(scores)s::float8[], %(similarities)s::float8[], %(confidences)s::float8[],
            %(propensities)s::float8[], %(shown)s::boolean[], %(relevances)s::float8[],
            %(firsts)s::float8[], %(baselines)s::float8[], %(positions)s::integer[]) AS c;

-- name: insert_query_vector
-- The question's vector, for the memory policy's nearest past questions.
INSERT INTO impression_vectors (tenant_id, impression_id, embedder, query_vector)
VALUES (%(tenant_id)s, %(impression_id)s, %(embedder)s, %(query_vector)s);

-- name: candidates_by_id
-- Items the policy asks to rank beside the search's candidates, with their similarity.
SELECT i.item_id, i.kind, i.external_id, i.title, i.body, i.tags, i.attrs, i.status, i.version,
       i.content_hash, i.created_at, i.updated_at,
       1 - (i.embedding <=> %(query_vector)s) AS similarity
FROM items AS i
WHERE i.tenant_id = %(tenant_id)s AND i.item_id = ANY(%(item_ids)s::bigint[])
  AND i.status = ANY(%(statuses)s::text[]) AND i.embedding IS NOT NULL
  AND (%(kinds)s::text[] IS NULL OR i.kind = ANY(%(kinds)s::text[]));

-- name: impression_by_key
SELECT impression_id FROM impressions
WHERE tenant_id = %(tenant_id)s AND idempotency_key = %(idempotency_key)s;

-- name: get_impression
SELECT impression_id, query, context, kinds, k, policy, policy_version, strategy, threshold,
       experiment, variant, created_at
FROM impressions WHERE tenant_id = %(tenant_id)s AND impression_id = %(impression_id)s;

-- name: impression_candidates
SELECT rank, item_id, item_version, score, similarity, confidence, propensity, shown
FROM impression_items
WHERE tenant_id = %(tenant_id)s AND impression_id = %(impression_id)s
ORDER BY rank;

-- name: set_threshold
UPDATE tenants
SET settings = settings || jsonb_build_object('confidence_threshold', %(threshold)s::real)
WHERE tenant_id = %(tenant_id)s
RETURNING tenant_id;

-- name: impression_tenants
-- The tenant of each impression id (across tenants: the widget's beacon has no API key).
SELECT impression_id, tenant_id FROM impressions
WHERE impression_id = ANY(%(impression_ids)s::uuid[]);

-- name: tenant_learning
-- What a request needs of its tenant: the threshold, the learning settings, the running
-- experiment (at most one).
SELECT coalesce((t.settings ->> 'confidence_threshold')::real, 0.5) AS threshold,
       coalesce(t.settings -> 'learning', '{}'::jsonb) AS learning,
       (SELECT to_jsonb(e) FROM experiments AS e
        WHERE e.tenant_id = t.tenant_id AND e.status = 'running'
        ORDER BY e.created_at DESC LIMIT 1) AS experiment,
       (SELECT state FROM learn_models AS m
        WHERE m.tenant_id = t.tenant_id AND m.name = 'calibration') AS calibration
FROM tenants AS t WHERE t.tenant_id = %(tenant_id)s;

-- name: insert_shadow
INSERT INTO learn_shadow (tenant_id, impression_id, policy, item_ids, propensities)
VALUES (%(tenant_id)s, %(impression_id)s, %(policy)s, %(item_ids)s, %(propensities)s)
ON CONFLICT DO NOTHING;

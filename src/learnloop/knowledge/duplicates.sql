-- name: duplicate_threshold
-- The tenant's cosine similarity at or above which two texts are duplicates.
SELECT coalesce((settings ->> 'duplicate_threshold')::float8, %(default)s::float8) AS threshold
FROM tenants WHERE tenant_id = %(tenant_id)s;

-- name: search_breadth
-- For the rest of the transaction: a near-duplicate lies close to its query, so a narrower
-- HNSW search (pgvector's default breadth) finds it, at a fraction of the cost.
SET LOCAL hnsw.ef_search = 40;

-- name: exact_scan
-- For the rest of the transaction: no index scans, so vectors are compared one by one (a
-- small tenant's items: faster than an HNSW scan that filters out every other tenant's).
SET LOCAL enable_indexscan = off;

-- name: scan_settings
-- The settings the check changes, to put back after it.
SELECT current_setting('enable_indexscan') AS scan, current_setting('hnsw.ef_search') AS ef;

-- name: restore_scan_settings
SELECT set_config('enable_indexscan', %(scan)s, true), set_config('hnsw.ef_search', %(ef)s, true);

-- name: count_of_kinds
-- How many vectors of the tenant the check would compare with.
SELECT count(*) AS n FROM items
WHERE tenant_id = %(tenant_id)s AND kind = ANY(%(kinds)s::text[]) AND embedding IS NOT NULL
  AND status <> 'archived';

-- name: nearest_of_kind
-- For each incoming vector (row n), the tenant's most similar item of the same kind that is
-- not archived and has a vector of the same dimension.
SELECT q.n, m.item_id, m.external_id, m.title, m.similarity
FROM unnest(%(vectors)s::vector[], %(kinds)s::text[]) WITH ORDINALITY AS q (vector, kind, n)
CROSS JOIN LATERAL (
    SELECT i.item_id, i.external_id, i.title, 1 - (i.embedding <=> q.vector) AS similarity
    FROM items AS i
    WHERE i.tenant_id = %(tenant_id)s AND i.kind = q.kind AND i.embedding IS NOT NULL
      AND i.status <> 'archived' AND vector_dims(i.embedding) = vector_dims(q.vector)
    ORDER BY i.embedding <=> q.vector
    LIMIT 1
) AS m;

-- name: merge_target
-- The stored item a duplicate is merged into.
SELECT item_id, kind, external_id, title, body, tags, attrs, status
FROM items WHERE tenant_id = %(tenant_id)s AND item_id = %(item_id)s;

-- name: name_item
-- An item merged into through the upsert needs an external_id; it gets a stable one
-- (item-<id>). Not a content change: the version and the content hash stay as they are.
UPDATE items SET external_id = 'item-' || item_id
WHERE tenant_id = %(tenant_id)s AND item_id = %(item_id)s AND external_id IS NULL
RETURNING external_id;

-- name: vector_rows
-- The named items that have a vector, as an external index stores them.
SELECT item_id, kind, status, tags, embedding, embedder FROM items
WHERE tenant_id = %(tenant_id)s AND item_id = ANY(%(item_ids)s::bigint[])
  AND embedding IS NOT NULL;

-- name: item_ids_after
-- A page of a tenant's item ids, for a re-sync.
SELECT item_id FROM items
WHERE tenant_id = %(tenant_id)s AND item_id > %(after)s
ORDER BY item_id
LIMIT %(limit)s;

-- name: vector_statuses
-- Every item of a tenant that has a vector, with its status.
SELECT item_id, status FROM items WHERE tenant_id = %(tenant_id)s AND embedding IS NOT NULL;

-- name: item_vectors
SELECT item_id, embedding FROM items
WHERE tenant_id = %(tenant_id)s AND item_id = ANY(%(item_ids)s::bigint[])
  AND embedding IS NOT NULL;

-- name: nearest
-- pgvector's nearest vectors under the search filters (the HNSW index, iterative scan).
SELECT item_id, 1 - (embedding <=> %(query_vector)s) AS similarity
FROM items
WHERE tenant_id = %(tenant_id)s AND embedding IS NOT NULL
  AND (%(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s::text[]))
  AND status = ANY(%(statuses)s::text[])
  AND tags @> %(tags)s::text[]
ORDER BY embedding <=> %(query_vector)s
LIMIT %(limit)s;

-- name: all_tenants
SELECT tenant_id FROM tenants ORDER BY tenant_id;

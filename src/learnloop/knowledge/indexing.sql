-- name: claim_changes
-- A batch of a tenant's change log, locked until the batch commits; another worker skips it.
SELECT change_id, item_id FROM item_changes
WHERE tenant_id = %(tenant_id)s
ORDER BY change_id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: stale_items
-- Of the named items, those whose vector is missing or older than their content.
SELECT item_id, title, body, content_hash FROM items
WHERE tenant_id = %(tenant_id)s AND item_id = ANY(%(item_ids)s::bigint[])
  AND embedded_hash IS DISTINCT FROM content_hash
ORDER BY item_id;

-- name: claim_unembedded
-- For a re-embed: the next items of every tenant without a current vector, locked.
SELECT tenant_id, item_id, title, body, content_hash FROM items
WHERE embedded_hash IS DISTINCT FROM content_hash
ORDER BY tenant_id, item_id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: count_unembedded
SELECT count(*) AS n FROM items WHERE embedded_hash IS DISTINCT FROM content_hash;

-- name: write_vectors
-- Only where the content is still the one embedded: a newer change waits for its own turn.
UPDATE items AS i
SET embedding = v.embedding, embedder = %(embedder)s, embedded_hash = v.content_hash
FROM unnest(%(item_ids)s::bigint[], %(hashes)s::text[], %(embeddings)s::vector[])
     AS v (item_id, content_hash, embedding)
WHERE i.tenant_id = %(tenant_id)s AND i.item_id = v.item_id AND i.content_hash = v.content_hash
RETURNING i.item_id;

-- name: forget_changes
DELETE FROM item_changes
WHERE tenant_id = %(tenant_id)s AND change_id = ANY(%(change_ids)s::bigint[]);

-- name: record_embedded
INSERT INTO index_status AS s (tenant_id, embedded_total, last_embedded_at)
SELECT tenant_id, %(embedded)s::bigint, CASE WHEN %(embedded)s::bigint > 0 THEN now() END
FROM tenants WHERE tenant_id = %(tenant_id)s
ON CONFLICT (tenant_id) DO UPDATE SET
    embedded_total = s.embedded_total + excluded.embedded_total,
    last_embedded_at = coalesce(excluded.last_embedded_at, s.last_embedded_at),
    error = NULL, error_at = NULL, updated_at = now();

-- name: record_error
INSERT INTO index_status AS s (tenant_id, error, error_at)
SELECT tenant_id, %(error)s, now() FROM tenants WHERE tenant_id = %(tenant_id)s
ON CONFLICT (tenant_id) DO UPDATE SET
    error = excluded.error, error_at = excluded.error_at, updated_at = now();

-- name: index_status
SELECT t.tenant_id,
       coalesce(s.embedded_total, 0) AS embedded_total, s.last_embedded_at, s.error, s.error_at,
       (SELECT count(*) FROM items AS i WHERE i.tenant_id = t.tenant_id) AS items,
       (SELECT count(*) FROM items AS i
        WHERE i.tenant_id = t.tenant_id AND i.embedded_hash IS DISTINCT FROM i.content_hash)
           AS pending,
       (SELECT count(*) FROM item_changes AS c WHERE c.tenant_id = t.tenant_id) AS queued_changes
FROM tenants AS t
LEFT JOIN index_status AS s ON s.tenant_id = t.tenant_id
WHERE t.tenant_id = %(tenant_id)s;

-- name: tenants_with_changes
-- Tenants with a change log to work through: one index probe per tenant.
SELECT t.tenant_id FROM tenants AS t
WHERE EXISTS (SELECT 1 FROM item_changes AS c WHERE c.tenant_id = t.tenant_id);

-- name: queue_embedding
SELECT learnloop_queue_embedding(%(tenants)s::text[]);

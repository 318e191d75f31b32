-- name: get_space
SELECT embedder, dimension FROM embedding_space;

-- name: claim_space
INSERT INTO embedding_space (embedder, dimension) VALUES (%(embedder)s, %(dimension)s)
ON CONFLICT (singleton) DO NOTHING;

-- name: column_dimension
SELECT atttypmod AS dimension FROM pg_attribute
WHERE attrelid = 'items'::regclass AND attname = 'embedding';

-- name: count_vectors
SELECT count(*) AS n FROM items WHERE embedding IS NOT NULL;

-- name: drop_vector_index
DROP INDEX IF EXISTS items_embedding;

-- name: create_vector_index
CREATE INDEX IF NOT EXISTS items_embedding ON items USING hnsw (embedding vector_cosine_ops)
    WITH (m = 24, ef_construction = 400);

-- name: set_dimension
ALTER TABLE items ALTER COLUMN embedding TYPE vector({dimension});

-- name: forget_space
DELETE FROM embedding_space;

-- name: drop_vectors
-- Every vector of the old embedder; the content stays, and keyword search with it.
UPDATE items SET embedding = NULL, embedder = NULL, embedded_hash = NULL
WHERE embedding IS NOT NULL OR embedded_hash IS NOT NULL;

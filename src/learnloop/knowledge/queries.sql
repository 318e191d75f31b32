-- name: find_by_external_ids
SELECT i.item_id, i.kind, i.external_id, i.title, i.body, i.tags, i.attrs, i.status, i.version,
       i.content_hash, i.created_at, i.updated_at
FROM items AS i
JOIN unnest(%(kinds)s::text[], %(external_ids)s::text[]) AS wanted (kind, external_id)
  ON i.kind = wanted.kind AND i.external_id = wanted.external_id
WHERE i.tenant_id = %(tenant_id)s;

-- name: reserve_item_ids
-- Ids for the rows of a batch, so the batch's answer maps back to its rows.
SELECT nextval(pg_get_serial_sequence('items', 'item_id')) AS item_id
FROM generate_series(1, %(n)s::int);

-- name: upsert_items
-- A batch of items in one statement: each is new, a new version of the one with the same
-- kind and external_id, or nothing (content and status unchanged, no row returned). The
-- new versions are copied into item_versions by the same statement.
-- embedded_hash is the content_hash the vector was computed from (NULL: not embedded yet);
-- stored without a vector (embedded later by the worker), the old vector serves until then.
WITH incoming AS (
    -- The batch arrives as one JSON array (parsed here, in C), the vectors as vector[]:
    -- row n of the one is element n of the other.
    SELECT r.n, r.item_id, r.kind, r.external_id, r.title, r.body, r.tags, r.attrs, r.status,
           r.content_hash, e.embedding
    FROM jsonb_to_recordset(%(rows)s::jsonb)
         AS r (n bigint, item_id bigint, kind text, external_id text, title text, body text,
               tags jsonb, attrs jsonb, status text, content_hash text)
    LEFT JOIN unnest(%(embeddings)s::vector[]) WITH ORDINALITY AS e (embedding, n)
         ON e.n = r.n
), stored AS (
    INSERT INTO items AS i (tenant_id, item_id, kind, external_id, title, body, tags, attrs,
                            status, content_hash, embedding, embedder, embedded_hash)
    OVERRIDING SYSTEM VALUE
    SELECT %(tenant_id)s, item_id, kind, external_id, title, body,
           ARRAY(SELECT jsonb_array_elements_text(tags)), attrs, status, content_hash,
           embedding, CASE WHEN embedding IS NOT NULL THEN %(embedder)s::text END,
           CASE WHEN embedding IS NOT NULL THEN content_hash END
    FROM incoming
    ON CONFLICT (tenant_id, kind, external_id) DO UPDATE SET
        title = excluded.title, body = excluded.body, tags = excluded.tags,
        attrs = excluded.attrs, status = excluded.status, content_hash = excluded.content_hash,
        embedding = coalesce(excluded.embedding, i.embedding),
        embedder = coalesce(excluded.embedder, i.embedder),
        embedded_hash = CASE WHEN excluded.embedding IS NULL THEN i.embedded_hash
                             ELSE excluded.embedded_hash END,
        updated_at = now(),
        version = i.version + (i.content_hash <> excluded.content_hash)::int
    WHERE i.content_hash <> excluded.content_hash OR i.status <> excluded.status
    RETURNING i.tenant_id, i.item_id, i.kind, i.external_id, i.title, i.body, i.tags, i.attrs,
              i.status, i.version, i.content_hash, i.created_at, i.updated_at,
              (i.xmax = 0) AS inserted
), versions AS (
    INSERT INTO item_versions (tenant_id, item_id, version, kind, external_id, title, body,
                               tags, attrs, status, content_hash)
    SELECT tenant_id, item_id, version, kind, external_id, title, body, tags, attrs, status,
           content_hash
    FROM stored
    ON CONFLICT DO NOTHING
)
SELECT item_id, kind, external_id, title, body, tags, attrs, status, version, content_hash,
       created_at, updated_at, inserted
FROM stored;

-- name: update_item
-- Optimistic: only if the item still has the content the change was computed from.
UPDATE items SET
    title = %(title)s, body = %(body)s, tags = %(tags)s, attrs = %(attrs)s, status = %(status)s,
    content_hash = %(content_hash)s, embedding = %(embedding)s, embedder = %(embedder)s,
    embedded_hash = %(content_hash)s, updated_at = now(),
    version = version + (content_hash <> %(content_hash)s)::int
WHERE tenant_id = %(tenant_id)s AND item_id = %(item_id)s AND content_hash = %(old_hash)s
RETURNING item_id, kind, external_id, title, body, tags, attrs, status, version, content_hash,
          created_at, updated_at;

-- name: set_status
UPDATE items SET status = %(status)s, updated_at = now()
WHERE tenant_id = %(tenant_id)s AND item_id = %(item_id)s
RETURNING item_id, kind, external_id, title, body, tags, attrs, status, version, content_hash,
          created_at, updated_at;

-- name: record_version
INSERT INTO item_versions (tenant_id, item_id, version, kind, external_id, title, body, tags,
                           attrs, status, content_hash)
SELECT tenant_id, item_id, version, kind, external_id, title, body, tags, attrs, status,
       content_hash
FROM items WHERE tenant_id = %(tenant_id)s AND item_id = %(item_id)s
ON CONFLICT DO NOTHING;

-- name: get_item
SELECT item_id, kind, external_id, title, body, tags, attrs, status, version, content_hash,
       created_at, updated_at
FROM items WHERE tenant_id = %(tenant_id)s AND item_id = %(item_id)s;

-- name: list_items
-- Newest first; the cursor is the last item_id of the previous page.
SELECT item_id, kind, external_id, title, body, tags, attrs, status, version, content_hash,
       created_at, updated_at
FROM items
WHERE tenant_id = %(tenant_id)s
  AND (%(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s::text[]))
  AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
  AND tags @> %(tags)s::text[]
  AND (%(external_id)s::text IS NULL OR external_id = %(external_id)s::text)
  AND (%(cursor)s::bigint IS NULL OR item_id < %(cursor)s::bigint)
ORDER BY item_id DESC
LIMIT %(limit)s;

-- name: delete_item
DELETE FROM items WHERE tenant_id = %(tenant_id)s AND item_id = %(item_id)s RETURNING item_id;

-- name: list_versions
SELECT item_id, version, kind, external_id, title, body, tags, attrs, status, content_hash,
       created_at
FROM item_versions WHERE tenant_id = %(tenant_id)s AND item_id = %(item_id)s
ORDER BY version;

-- name: get_version
SELECT item_id, version, kind, external_id, title, body, tags, attrs, status, content_hash,
       created_at
FROM item_versions
WHERE tenant_id = %(tenant_id)s AND item_id = %(item_id)s AND version = %(version)s;

-- name: count_searchable
SELECT count(*) AS n FROM items WHERE tenant_id = %(tenant_id)s AND embedding IS NOT NULL;

-- name: keyword_query
-- Any of the words of a text, less the common ones named: 'word' | 'other' (NULL for none).
-- Sent back as a parameter, so the planner sees the words and can pick the tenant's rows or
-- the full-text index.
SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery::text AS query
FROM unnest(to_tsvector('english', %(query_text)s)) AS words (lexeme, positions, weights)
WHERE lexeme <> ALL(%(common_lexemes)s::text[]);

-- name: search_hybrid
-- Semantic candidates from the HNSW index (iterative scan keeps going under filters), keyword
-- candidates from full text (ts_rank divided by 1 + log(length), so long documents do not win
-- on word count alone), fused by reciprocal rank.
-- Run after exact_scan for an exact vector scan.
WITH semantic AS MATERIALIZED (
    SELECT item_id, embedding <=> %(query_vector)s AS distance
    FROM items
    WHERE tenant_id = %(tenant_id)s AND embedding IS NOT NULL
      AND (%(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s::text[]))
      AND status = ANY(%(statuses)s::text[])
      AND tags @> %(tags)s::text[]
    ORDER BY embedding <=> %(query_vector)s
    LIMIT %(pool)s
), semantic_ranked AS (
    SELECT item_id, distance, row_number() OVER (ORDER BY distance) AS rank FROM semantic
), keyword AS (
    SELECT item_id, ts_rank(search_text, %(keyword_query)s::tsquery, 1) AS keyword_score,
           row_number() OVER (
               ORDER BY ts_rank(search_text, %(keyword_query)s::tsquery, 1) DESC, item_id
           ) AS rank
    FROM items
    WHERE tenant_id = %(tenant_id)s AND search_text @@ %(keyword_query)s::tsquery
      AND (%(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s::text[]))
      AND status = ANY(%(statuses)s::text[])
      AND tags @> %(tags)s::text[]
    ORDER BY keyword_score DESC, item_id
    LIMIT %(pool)s
)
SELECT i.item_id, i.kind, i.external_id, i.title, i.body, i.tags, i.attrs, i.status, i.version,
       i.content_hash, i.created_at, i.updated_at,
       1 - (i.embedding <=> %(query_vector)s) AS similarity, k.keyword_score,
       s.rank AS semantic_rank, k.rank AS keyword_rank,
       coalesce(1.0 / (%(rrf_k)s + s.rank), 0) + coalesce(1.0 / (%(rrf_k)s + k.rank), 0) AS score,
       (SELECT count(*) FROM semantic) AS semantic_found
FROM semantic_ranked s
FULL OUTER JOIN keyword k USING (item_id)
JOIN items i ON i.tenant_id = %(tenant_id)s AND i.item_id = coalesce(s.item_id, k.item_id)
ORDER BY score DESC, similarity DESC NULLS LAST, i.item_id
LIMIT %(limit)s;

-- name: count_matching
SELECT count(*) AS n FROM items
WHERE tenant_id = %(tenant_id)s AND embedding IS NOT NULL
  AND (%(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s::text[]))
  AND status = ANY(%(statuses)s::text[])
  AND tags @> %(tags)s::text[];

-- name: exact_scan
-- For the rest of the transaction: no index scans, so vectors are compared one by one.
SET LOCAL enable_indexscan = off;

-- name: common_lexemes
-- Words in more than %(share)s of all item texts, from the planner's statistics (ANALYZE).
SELECT coalesce(array_agg(lexeme), '{}') AS lexemes
FROM pg_stats,
     unnest(most_common_elems::text::text[], most_common_elem_freqs) AS common (lexeme, share)
WHERE schemaname = current_schema() AND tablename = 'items' AND attname = 'search_text'
  AND common.lexeme IS NOT NULL AND common.share > %(share)s;

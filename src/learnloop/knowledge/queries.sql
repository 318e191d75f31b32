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

-- name: keyword_terms
-- The distinct words of a question with the tenant's BM25 statistics: each word's document
-- frequency (0 for a word no item holds), the number of items and their total length.
SELECT q.lexeme, coalesce(t.df, 0) AS df,
       coalesce(c.documents, 0) AS documents, coalesce(c.total_length, 0) AS total_length
FROM (SELECT DISTINCT lexeme FROM unnest(to_tsvector('english', %(query_text)s))) AS q
LEFT JOIN bm25_terms AS t ON t.tenant_id = %(tenant_id)s AND t.lexeme = q.lexeme
LEFT JOIN bm25_corpus AS c ON c.tenant_id = %(tenant_id)s
ORDER BY q.lexeme;

-- name: _keyword_and_fusion
-- The keyword side (the postings, BM25, the filters) and the fusion with the semantic side,
-- shared by search_hybrid and search_hybrid_given: each includes it after its semantic and
-- semantic_ranked CTEs.
keyword_matched AS MATERIALIZED (
    -- The items holding a matching word, from its postings alone, with those words' part.
    SELECT p.item_id, sum(w.idf * w.tf * (%(k1)s + 1)
                          / (w.tf + %(k1)s * (1 - %(b)s + %(b)s * p.length / %(avgdl)s)))
                      AS score
    FROM bm25_postings AS p
    CROSS JOIN LATERAL (
        SELECT p.tf + (%(title_weight)s - 1) * p.title_tf AS tf,
               (%(idfs)s::float8[])[array_position(%(lexemes)s::text[], p.lexeme)] AS idf
    ) AS w
    WHERE p.tenant_id = %(tenant_id)s AND p.lexeme = ANY(%(matching)s::text[])
    GROUP BY p.item_id
), keyword_summed AS (
    -- Their scores, with the question's other words (a large tenant's common ones) added:
    -- those words' postings are read for these items only.
    SELECT item_id, sum(score) AS keyword_score
    FROM (
        SELECT item_id, score FROM keyword_matched
        UNION ALL
        SELECT p.item_id, w.idf * w.tf * (%(k1)s + 1)
                          / (w.tf + %(k1)s * (1 - %(b)s + %(b)s * p.length / %(avgdl)s))
        FROM bm25_postings AS p
        CROSS JOIN LATERAL (
        SELECT p.tf + (%(title_weight)s - 1) * p.title_tf AS tf,
               (%(idfs)s::float8[])[array_position(%(lexemes)s::text[], p.lexeme)] AS idf
    ) AS w
        WHERE p.tenant_id = %(tenant_id)s AND p.lexeme = ANY(%(common)s::text[])
          AND p.item_id = ANY(ARRAY(SELECT item_id FROM keyword_matched ORDER BY item_id))
    ) AS parts
    GROUP BY item_id
), keyword_scored AS (
    -- Best first; each checked against the filters on its row until the pool is full (the
    -- LIMIT 1 keeps that a lookup per candidate, in order, not a join of every candidate).
    SELECT s.item_id, s.keyword_score
    FROM (
        SELECT item_id, keyword_score FROM keyword_summed
        ORDER BY keyword_score DESC, item_id
        OFFSET 0
    ) AS s
    CROSS JOIN LATERAL (
        SELECT 1 FROM items AS i
        WHERE i.tenant_id = %(tenant_id)s AND i.item_id = s.item_id
          AND (%(kinds)s::text[] IS NULL OR i.kind = ANY(%(kinds)s::text[]))
          AND i.status = ANY(%(statuses)s::text[])
          AND i.tags @> %(tags)s::text[]
        LIMIT 1
    ) AS f
    ORDER BY s.keyword_score DESC, s.item_id
    LIMIT %(pool)s
), keyword AS (
    SELECT item_id, keyword_score, max(keyword_score) OVER () AS best,
           row_number() OVER (ORDER BY keyword_score DESC, item_id) AS rank
    FROM keyword_scored
)
SELECT i.item_id, i.kind, i.external_id, i.title, i.body, i.tags, i.attrs, i.status, i.version,
       i.content_hash, i.created_at, i.updated_at,
       v.similarity, k.keyword_score, s.rank AS semantic_rank, k.rank AS keyword_rank,
       %(semantic_weight)s * coalesce(v.similarity, 0)
       + %(keyword_weight)s * coalesce(k.keyword_score / nullif(k.best, 0), 0) AS score,
       (SELECT count(*) FROM semantic) AS semantic_found
FROM semantic_ranked s
FULL OUTER JOIN keyword k USING (item_id)
JOIN items i ON i.tenant_id = %(tenant_id)s AND i.item_id = coalesce(s.item_id, k.item_id)
CROSS JOIN LATERAL (SELECT 1 - (i.embedding <=> %(query_vector)s) AS similarity) AS v
ORDER BY score DESC, similarity DESC NULLS LAST, i.item_id
LIMIT %(limit)s;

-- name: search_hybrid
-- Semantic candidates from the HNSW index (iterative scan keeps going under filters), keyword
-- candidates from the postings (bm25_postings) ranked by Okapi BM25, fused by score: semantic_weight * cosine
-- similarity + keyword_weight * the BM25 score over the best BM25 score of the question (so
-- the keyword side weighs 0..keyword_weight whatever the scale of its scores).
-- BM25 of an item: the sum over the question's words w of
--     idf(w) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgdl))
-- with tf the word's positions in the item (a title position counts title_weight), length
-- its positions in all, idf and avgdl from the tenant's statistics (passed in, see
-- keyword_terms). The keyword candidates are the items holding one of the words in matching;
-- the words in common (a large tenant's common ones) add to their scores but find no items.
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
),
-- include: _keyword_and_fusion

-- name: count_matching
SELECT count(*) AS n FROM items
WHERE tenant_id = %(tenant_id)s AND embedding IS NOT NULL
  AND (%(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s::text[]))
  AND status = ANY(%(statuses)s::text[])
  AND tags @> %(tags)s::text[];

-- name: exact_scan
-- For the rest of the transaction: no index scans, so vectors are compared one by one.
SET LOCAL enable_indexscan = off;

-- name: search_hybrid_given
-- search_hybrid with the semantic candidates given (an external vector index found them, in
-- its order): each is checked again against the filters here, so a stale index can miss an
-- item but never show one it should not. The keyword side and the fusion are search_hybrid's;
-- the similarity is computed from the items' own vectors, as there.
WITH semantic AS MATERIALIZED (
    SELECT c.item_id, c.position
    FROM unnest(%(semantic_ids)s::bigint[]) WITH ORDINALITY AS c (item_id, position)
    JOIN items AS i ON i.tenant_id = %(tenant_id)s AND i.item_id = c.item_id
    WHERE i.embedding IS NOT NULL
      AND (%(kinds)s::text[] IS NULL OR i.kind = ANY(%(kinds)s::text[]))
      AND i.status = ANY(%(statuses)s::text[])
      AND i.tags @> %(tags)s::text[]
), semantic_ranked AS (
    SELECT item_id, row_number() OVER (ORDER BY position) AS rank FROM semantic
),
-- include: _keyword_and_fusion

-- Okapi BM25 statistics of every tenant's items, kept in the same transaction as the items.
--
-- The keyword side ranks with BM25 (knowledge/search.py): it needs, per tenant, how many
-- items hold each word (document frequency), how many items there are and their mean length.
-- The corpus is every item that is not archived; a document is its search_text (title and
-- body, stemmed, stop words out), its length the number of word positions in it.
--
-- Kept by statement-level triggers with transition tables: one statement of 10,000 rows
-- aggregates its words once and touches each (tenant, word) row once, in word order (so two
-- writers of one tenant lock the same rows in the same order and wait, never deadlock).
-- Writers of one tenant serialise on that tenant's counters until they commit.
-- No foreign key to tenants: a tenant's items are deleted (and counted out) by cascade
-- while the tenant goes, and a counter that reaches zero is removed.

CREATE TABLE bm25_terms (
    tenant_id text NOT NULL,
    lexeme    text NOT NULL,
    df        integer NOT NULL,  -- items holding the word
    PRIMARY KEY (tenant_id, lexeme)
);

CREATE TABLE bm25_corpus (
    tenant_id    text PRIMARY KEY,
    documents    bigint NOT NULL,  -- items counted
    total_length bigint NOT NULL   -- sum of their lengths, for the mean length
);

-- Number of word positions in a tsvector (each lexeme's positions, counted).
CREATE FUNCTION bm25_length(doc tsvector) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(sum(cardinality(w.positions)), 0)::integer FROM unnest(doc) AS w
$$;

-- Adds (sign 1) or removes (sign -1) documents from their tenants' statistics.
CREATE FUNCTION bm25_apply(tenants text[], docs tsvector[], signs integer[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    gone_tenants text[];
    gone_lexemes text[];
BEGIN
    IF cardinality(tenants) IS NULL THEN
        RETURN;
    END IF;
    WITH changes AS MATERIALIZED (
        SELECT c.tenant_id, c.doc, c.sign
        FROM unnest(tenants, docs, signs) AS c (tenant_id, doc, sign)
    ), corpus AS (
        INSERT INTO bm25_corpus AS t (tenant_id, documents, total_length)
        SELECT tenant_id, sum(sign), sum(sign * bm25_length(doc))
        FROM changes GROUP BY tenant_id ORDER BY tenant_id
        ON CONFLICT (tenant_id) DO UPDATE SET
            documents = t.documents + excluded.documents,
            total_length = t.total_length + excluded.total_length
    ), delta AS (
        SELECT c.tenant_id, w.lexeme, sum(c.sign)::integer AS df
        FROM changes AS c, unnest(c.doc) AS w
        GROUP BY c.tenant_id, w.lexeme
        HAVING sum(c.sign) <> 0
    ), terms AS (
        INSERT INTO bm25_terms AS t (tenant_id, lexeme, df)
        SELECT tenant_id, lexeme, df FROM delta ORDER BY tenant_id, lexeme
        ON CONFLICT (tenant_id, lexeme) DO UPDATE SET df = t.df + excluded.df
        RETURNING t.tenant_id, t.lexeme, t.df
    )
    SELECT array_agg(tenant_id), array_agg(lexeme) INTO gone_tenants, gone_lexemes
    FROM terms WHERE df <= 0;
    IF gone_tenants IS NOT NULL THEN
        DELETE FROM bm25_terms AS t
        USING unnest(gone_tenants, gone_lexemes) AS g (tenant_id, lexeme)
        WHERE t.tenant_id = g.tenant_id AND t.lexeme = g.lexeme AND t.df <= 0;
    END IF;
    DELETE FROM bm25_corpus
    WHERE tenant_id IN (SELECT DISTINCT unnest(tenants)) AND documents <= 0;
END $$;

-- One function for the three triggers; each names only the transition tables it has.
-- An update counts out the old text and in the new one only where the text or the
-- archived state changed (the worker's vector updates cost a join, nothing more).
CREATE FUNCTION bm25_track() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenants text[];
    docs tsvector[];
    signs integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(tenant_id), array_agg(search_text), array_agg(1)
        INTO tenants, docs, signs
        FROM new_items WHERE status <> 'archived';
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(tenant_id), array_agg(search_text), array_agg(-1)
        INTO tenants, docs, signs
        FROM old_items WHERE status <> 'archived';
    ELSE
        WITH changed AS (
            SELECT o.tenant_id, o.search_text AS old_text, n.search_text AS new_text,
                   o.status <> 'archived' AS old_counted, n.status <> 'archived' AS new_counted
            FROM old_items AS o JOIN new_items AS n USING (tenant_id, item_id)
            WHERE o.search_text <> n.search_text
               OR (o.status = 'archived') <> (n.status = 'archived')
        ), moves AS (
            SELECT tenant_id, old_text AS doc, -1 AS sign FROM changed WHERE old_counted
            UNION ALL
            SELECT tenant_id, new_text, 1 FROM changed WHERE new_counted
        )
        SELECT array_agg(tenant_id), array_agg(doc), array_agg(sign)
        INTO tenants, docs, signs
        FROM moves;
    END IF;
    PERFORM bm25_apply(tenants, docs, signs);
    RETURN NULL;
END $$;

CREATE TRIGGER items_bm25_insert AFTER INSERT ON items
    REFERENCING NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION bm25_track();
CREATE TRIGGER items_bm25_update AFTER UPDATE ON items
    REFERENCING OLD TABLE AS old_items NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION bm25_track();
CREATE TRIGGER items_bm25_delete AFTER DELETE ON items
    REFERENCING OLD TABLE AS old_items
    FOR EACH STATEMENT EXECUTE FUNCTION bm25_track();

-- The items already stored.
INSERT INTO bm25_corpus (tenant_id, documents, total_length)
SELECT tenant_id, count(*), sum(bm25_length(search_text))
FROM items WHERE status <> 'archived' GROUP BY tenant_id;

INSERT INTO bm25_terms (tenant_id, lexeme, df)
SELECT i.tenant_id, w.lexeme, count(*)
FROM items AS i, unnest(i.search_text) AS w
WHERE i.status <> 'archived'
GROUP BY i.tenant_id, w.lexeme;

-- Postings of the keyword side: one row per (tenant, word, item) with the word's counts in the
-- item, kept in the same transaction as the items.
--
-- The keyword side (knowledge/queries.sql, search_hybrid) used to find its matches through the
-- items' full-text index and read each match's whole search_text (an unnest of every matching
-- row of the wide items table). With postings it reads the question's words only: the index
-- below is covering, so a word's postings are one range of one index, read without the table.
-- Every item is here, archived ones too (a search may ask for archived items); the BM25
-- statistics of 0012_bm25.sql stay as they were, over the items not archived.
--
-- tf and title_tf are the word's positions in the item's search_text and those of them in the
-- title (weight A); length is the item's positions in all (bm25_length), the same on every row
-- of one item, so a posting is scored without reading anything else.
--
-- Kept by statement-level triggers with transition tables, like 0012's counters: one
-- statement of 10,000 rows writes its postings in one INSERT; an update rewrites an item's
-- postings only when its search_text changed. A tenant's deletion cascades to its items,
-- whose delete trigger takes their postings with them.

CREATE TABLE bm25_postings (
    tenant_id text NOT NULL,
    lexeme    text NOT NULL,
    item_id   bigint NOT NULL,
    tf        smallint NOT NULL,
    title_tf  smallint NOT NULL,
    length    integer NOT NULL,
    PRIMARY KEY (tenant_id, lexeme, item_id) INCLUDE (tf, title_tf, length)
);

-- The postings of one search_text: (word, tf, title_tf, length) for each of its words.
CREATE FUNCTION bm25_postings_of(doc tsvector)
RETURNS TABLE (lexeme text, tf smallint, title_tf smallint, length integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT w.lexeme, cardinality(w.positions)::smallint,
           coalesce(cardinality(array_positions(w.weights, 'A')), 0)::smallint,
           (sum(cardinality(w.positions)) OVER ())::integer
    FROM unnest(doc) AS w
$$;

-- An update rewrites the postings of the items whose search_text changed, and only those
-- (a status change or the worker's vector write leaves them alone).
CREATE FUNCTION bm25_postings_track() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM bm25_postings AS p
        USING old_items AS o, bm25_postings_of(o.search_text) AS g
        WHERE p.tenant_id = o.tenant_id AND p.lexeme = g.lexeme AND p.item_id = o.item_id;
    ELSIF TG_OP = 'UPDATE' THEN
        DELETE FROM bm25_postings AS p
        USING old_items AS o, new_items AS n, bm25_postings_of(o.search_text) AS g
        WHERE n.tenant_id = o.tenant_id AND n.item_id = o.item_id
          AND o.search_text <> n.search_text
          AND p.tenant_id = o.tenant_id AND p.lexeme = g.lexeme AND p.item_id = o.item_id;
        INSERT INTO bm25_postings (tenant_id, lexeme, item_id, tf, title_tf, length)
        SELECT n.tenant_id, g.lexeme, n.item_id, g.tf, g.title_tf, g.length
        FROM old_items AS o JOIN new_items AS n USING (tenant_id, item_id),
             bm25_postings_of(n.search_text) AS g
        WHERE o.search_text <> n.search_text;
    ELSE
        INSERT INTO bm25_postings (tenant_id, lexeme, item_id, tf, title_tf, length)
        SELECT n.tenant_id, g.lexeme, n.item_id, g.tf, g.title_tf, g.length
        FROM new_items AS n, bm25_postings_of(n.search_text) AS g;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER items_bm25_postings_insert AFTER INSERT ON items
    REFERENCING NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION bm25_postings_track();
CREATE TRIGGER items_bm25_postings_update AFTER UPDATE ON items
    REFERENCING OLD TABLE AS old_items NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION bm25_postings_track();
CREATE TRIGGER items_bm25_postings_delete AFTER DELETE ON items
    REFERENCING OLD TABLE AS old_items
    FOR EACH STATEMENT EXECUTE FUNCTION bm25_postings_track();

-- The items already stored.
INSERT INTO bm25_postings (tenant_id, lexeme, item_id, tf, title_tf, length)
SELECT i.tenant_id, g.lexeme, i.item_id, g.tf, g.title_tf, g.length
FROM items AS i, bm25_postings_of(i.search_text) AS g;

-- The change log of items (an outbox written in the same transaction as the change) and the
-- index status per tenant. The worker (`learnloop worker`, on procrastinate) embeds what the
-- log names and deletes the entries it handled, in the same transaction as the vectors.

CREATE TABLE item_changes (
    tenant_id    text NOT NULL,
    change_id    bigint GENERATED ALWAYS AS IDENTITY,
    item_id      bigint NOT NULL,
    op           text NOT NULL CHECK (op IN ('insert', 'update', 'status', 'delete')),
    content_hash text,
    changed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, change_id)
);

-- What the worker last did for a tenant; the pending count is read from items itself.
CREATE TABLE index_status (
    tenant_id        text PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    error            text,
    error_at         timestamptz,
    embedded_total   bigint NOT NULL DEFAULT 0,
    last_embedded_at timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Items whose vector is missing or older than their content: what the worker still owes.
CREATE INDEX items_unembedded ON items (tenant_id, item_id)
    WHERE embedded_hash IS DISTINCT FROM content_hash;

-- One embedding job per tenant waits in the queue at most (procrastinate's queueing lock);
-- the job lock makes a tenant's jobs run one at a time. Written here, in the transaction of
-- the change, so a committed change always has a job to handle it.
CREATE FUNCTION learnloop_queue_embedding(tenants text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO procrastinate_jobs (queue_name, task_name, priority, lock, queueing_lock, args)
    SELECT 'learnloop', 'learnloop.embed_changes', 0, 'embed:' || t, 'embed:' || t,
           jsonb_build_object('tenant_id', t)
    FROM unnest(tenants) AS t
    ON CONFLICT (queueing_lock) WHERE status = 'todo' DO NOTHING;
END;
$$;

CREATE FUNCTION learnloop_items_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenants text[];
BEGIN
    WITH logged AS (
        INSERT INTO item_changes (tenant_id, item_id, op, content_hash)
        SELECT tenant_id, item_id, 'insert', content_hash FROM new_rows
        RETURNING tenant_id
    )
    SELECT array_agg(DISTINCT tenant_id) INTO tenants FROM logged;
    IF tenants IS NOT NULL THEN
        PERFORM learnloop_queue_embedding(tenants);
    END IF;
    RETURN NULL;
END;
$$;

-- Only content and status changes are logged: the worker writing a vector is not a change.
CREATE FUNCTION learnloop_items_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenants text[];
BEGIN
    WITH logged AS (
        INSERT INTO item_changes (tenant_id, item_id, op, content_hash)
        SELECT n.tenant_id, n.item_id,
               CASE WHEN o.content_hash IS DISTINCT FROM n.content_hash THEN 'update'
                    ELSE 'status' END,
               n.content_hash
        FROM new_rows AS n
        JOIN old_rows AS o USING (tenant_id, item_id)
        WHERE o.content_hash IS DISTINCT FROM n.content_hash OR o.status IS DISTINCT FROM n.status
        RETURNING tenant_id, op
    )
    SELECT array_agg(DISTINCT tenant_id) FILTER (WHERE op = 'update') INTO tenants FROM logged;
    IF tenants IS NOT NULL THEN
        PERFORM learnloop_queue_embedding(tenants);
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION learnloop_items_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO item_changes (tenant_id, item_id, op)
    SELECT tenant_id, item_id, 'delete' FROM old_rows;
    RETURN NULL;
END;
$$;

CREATE TRIGGER items_inserted AFTER INSERT ON items
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION learnloop_items_inserted();
CREATE TRIGGER items_updated AFTER UPDATE ON items
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION learnloop_items_updated();
CREATE TRIGGER items_deleted AFTER DELETE ON items
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION learnloop_items_deleted();

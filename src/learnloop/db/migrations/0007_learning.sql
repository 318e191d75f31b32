-- Learning: what the statistics have not seen yet, the outcome of every item shown, the
-- statistics per item and context segment, learned models, experiments and shadow logs.

-- Filled by triggers on impression_items (items shown) and events; emptied, in claimed
-- batches, by learnloop.learn.stats.update.
CREATE TABLE learn_pending (
    tenant_id     text NOT NULL,
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    kind          text NOT NULL,  -- 'shown' or the event's type
    impression_id uuid NOT NULL,
    item_id       bigint,
    rank          integer,
    received_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX learn_pending_seq ON learn_pending (seq);

CREATE FUNCTION learnloop_pending_shown() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO learn_pending (tenant_id, kind, impression_id, item_id, rank)
    SELECT tenant_id, 'shown', impression_id, item_id, rank FROM new_rows WHERE shown;
    RETURN NULL;
END $$;

CREATE TRIGGER learn_pending_shown AFTER INSERT ON impression_items
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION learnloop_pending_shown();

CREATE FUNCTION learnloop_pending_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO learn_pending (tenant_id, kind, impression_id, item_id, rank)
    SELECT tenant_id, type, impression_id, item_id, rank FROM new_rows
    WHERE item_id IS NOT NULL OR rank IS NOT NULL;
    RETURN NULL;
END $$;

CREATE TRIGGER learn_pending_events AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION learnloop_pending_events();

-- One row per item shown: the strongest outcome seen so far and the reward it counts.
-- priority: 0 while no outcome came, -1 once the wait ended with none (see
-- learnloop.learn.config.PRIORITY); settled: a final outcome came or the wait ended.
CREATE TABLE learn_outcomes (
    tenant_id     text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    impression_id uuid NOT NULL,
    item_id       bigint NOT NULL,
    rank          integer,
    priority      smallint NOT NULL DEFAULT 0,
    reward        double precision NOT NULL DEFAULT 0,
    shown         boolean NOT NULL DEFAULT false,
    settled       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, impression_id, item_id)
);
CREATE INDEX learn_outcomes_waiting ON learn_outcomes (created_at) WHERE shown AND NOT settled;

-- Statistics per item, overall (dimension '' and value '') and per context segment.
-- exposure: the shows weighted by the chance their rank is looked at (position bias);
-- positive: the rewards clipped to 0..1, for Beta posteriors.
CREATE TABLE learn_stats (
    tenant_id  text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    dimension  text NOT NULL,
    value      text NOT NULL,
    item_id    bigint NOT NULL,
    trials     bigint NOT NULL DEFAULT 0,
    exposure   double precision NOT NULL DEFAULT 0,
    reward     double precision NOT NULL DEFAULT 0,
    positive   double precision NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, dimension, value, item_id)
);

-- Learned model state per tenant and policy (the contextual policy's bytes, calibration).
CREATE TABLE learn_models (
    tenant_id  text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    name       text NOT NULL,
    state      bytea NOT NULL,
    examples   bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

-- What a shadow policy would have shown beside the live one.
CREATE TABLE learn_shadow (
    tenant_id     text NOT NULL,
    impression_id uuid NOT NULL,
    policy        text NOT NULL,
    item_ids      bigint[] NOT NULL,
    propensities  double precision[] NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, impression_id, policy),
    FOREIGN KEY (tenant_id, impression_id) REFERENCES impressions ON DELETE CASCADE
);

CREATE TABLE experiments (
    tenant_id  text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    name       text NOT NULL,
    unit       text NOT NULL CHECK (unit IN ('user', 'session')),
    variants   jsonb NOT NULL,
    status     text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'stopped')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);
CREATE INDEX impressions_experiment ON impressions (tenant_id, experiment, variant)
    WHERE experiment IS NOT NULL;

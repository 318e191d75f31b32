-- The interaction log: impressions (what was shown), events (what happened next),
-- feedback and corrections. Append-only; every key starts with tenant_id.

CREATE TABLE impressions (
    tenant_id       text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    impression_id   uuid NOT NULL,
    idempotency_key text,
    query           text NOT NULL,
    context         jsonb NOT NULL DEFAULT '{}'::jsonb,
    user_id         text,
    session_id      text,
    account_id      text,
    kinds           text[],
    k               integer NOT NULL,
    policy          text NOT NULL,
    policy_version  text NOT NULL,
    strategy        text NOT NULL
                    CHECK (strategy IN ('single_solution', 'multiple_options', 'no_confident_match')),
    threshold       real NOT NULL,
    experiment      text,
    variant         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, impression_id),
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX impressions_session ON impressions (tenant_id, session_id, created_at DESC)
    WHERE session_id IS NOT NULL;
CREATE INDEX impressions_created ON impressions (tenant_id, created_at DESC);
-- Only to refuse events that name another tenant's impression.
CREATE INDEX impressions_id ON impressions (impression_id);

-- Every candidate the policy ranked: shown (at or above the threshold) or not.
CREATE TABLE impression_items (
    tenant_id     text NOT NULL,
    impression_id uuid NOT NULL,
    rank          integer NOT NULL CHECK (rank >= 1),
    item_id       bigint NOT NULL,
    item_version  integer NOT NULL,
    score         double precision NOT NULL,
    similarity    double precision,
    confidence    double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    propensity    double precision NOT NULL CHECK (propensity BETWEEN 0 AND 1),
    shown         boolean NOT NULL,
    PRIMARY KEY (tenant_id, impression_id, rank),
    FOREIGN KEY (tenant_id, impression_id) REFERENCES impressions ON DELETE CASCADE
);

-- Events, partitioned by month of occurred_at. No foreign key to impressions: an event may
-- arrive before its impression is visible, and is kept.
CREATE TABLE events (
    tenant_id       text NOT NULL,
    event_id        bigint GENERATED ALWAYS AS IDENTITY,
    type            text NOT NULL
                    CHECK (type IN ('viewed', 'clicked', 'executed', 'succeeded', 'failed',
                                    'dismissed')),
    impression_id   uuid NOT NULL,
    item_id         bigint,
    rank            integer,
    occurred_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    impression_seen boolean NOT NULL,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (tenant_id, event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE INDEX events_impression ON events (tenant_id, impression_id, occurred_at);

-- Idempotency keys of events: a retried event is stored once.
CREATE TABLE event_keys (
    tenant_id       text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    idempotency_key text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idempotency_key)
);

-- The month partition for a timestamp, created when missing.
CREATE FUNCTION learnloop_event_partition(ts timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    month_start date := date_trunc('month', ts AT TIME ZONE 'UTC')::date;
    name text := format('events_%s', to_char(month_start, 'YYYY_MM'));
BEGIN
    IF to_regclass(name) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext(name));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                name, month_start::timestamp AT TIME ZONE 'UTC',
                (month_start + interval '1 month')::timestamp AT TIME ZONE 'UTC');
        END IF;
    END IF;
    RETURN name;
END $$;

CREATE TABLE feedback (
    tenant_id       text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    feedback_id     bigint GENERATED ALWAYS AS IDENTITY,
    impression_id   uuid,
    response_id     text,
    item_id         bigint,
    kind            text NOT NULL CHECK (kind IN ('thumbs', 'stars', 'emoji', 'helpfulness')),
    value           text NOT NULL,
    score           real NOT NULL CHECK (score BETWEEN -1 AND 1),
    negative        boolean NOT NULL,
    reason          text,
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, feedback_id),
    UNIQUE (tenant_id, idempotency_key),
    CHECK (impression_id IS NOT NULL OR response_id IS NOT NULL)
);
CREATE INDEX feedback_impression ON feedback (tenant_id, impression_id);

CREATE TABLE corrections (
    tenant_id         text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    correction_id     bigint GENERATED ALWAYS AS IDENTITY,
    impression_id     uuid,
    response_id       text,
    item_id           bigint,
    query             text,
    original_response text NOT NULL,
    corrected_answer  text NOT NULL CHECK (length(btrim(corrected_answer)) > 0),
    priority          text NOT NULL DEFAULT 'normal'
                      CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    author            text,
    idempotency_key   text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, correction_id),
    UNIQUE (tenant_id, idempotency_key)
);

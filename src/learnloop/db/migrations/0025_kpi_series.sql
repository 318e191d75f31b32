-- KPI time series: one value per (account, KPI, time) for dated values, upserted; what an
-- upsert replaced kept in kpi_value_revisions; each account's health score at every point
-- of its series; and the data events (kpi_updated, temporal_data_added,
-- health_scores_updated) each write makes.

CREATE TABLE kpi_value_revisions (
    tenant_id         text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    revision_id       bigint GENERATED ALWAYS AS IDENTITY,
    value_id          bigint NOT NULL,
    account_id        text,
    kpi               text NOT NULL,
    category          text,
    value             double precision NOT NULL,
    unit              text,
    target            double precision,
    weight            double precision NOT NULL,
    impact_level      text,
    health_component  text,
    recorded_at       timestamptz NOT NULL,
    import_id         bigint,
    replaced_by       bigint,
    replaced_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, revision_id)
);
CREATE INDEX kpi_value_revisions_value ON kpi_value_revisions (tenant_id, value_id);

-- Dated values stored twice for one point before this migration: the newest stays, the
-- others become revisions of it (nothing is lost).
WITH ranked AS (
    SELECT tenant_id, value_id,
           first_value(value_id) OVER w AS newest, row_number() OVER w AS n
    FROM kpi_values
    WHERE dated
    WINDOW w AS (PARTITION BY tenant_id, coalesce(account_id, ''), kpi, recorded_at
                 ORDER BY value_id DESC)
),
moved AS (
    DELETE FROM kpi_values k USING ranked r
    WHERE r.n > 1 AND k.tenant_id = r.tenant_id AND k.value_id = r.value_id
    RETURNING k.*, r.newest
)
INSERT INTO kpi_value_revisions (tenant_id, value_id, account_id, kpi, category, value, unit,
                                 target, weight, impact_level, health_component, recorded_at,
                                 import_id, replaced_by)
SELECT tenant_id, newest, account_id, kpi, category, value, unit, target, weight,
       impact_level, health_component, recorded_at, import_id, NULL
FROM moved;

CREATE UNIQUE INDEX kpi_values_point ON kpi_values
    (tenant_id, (coalesce(account_id, '')), kpi, recorded_at) WHERE dated;

CREATE TABLE health_history (
    tenant_id   text NOT NULL,
    account_id  text NOT NULL,
    as_of       timestamptz NOT NULL,
    score       double precision CHECK (score BETWEEN 0 AND 100),
    kpis        integer NOT NULL CHECK (kpis >= 0),
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, account_id, as_of),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts ON DELETE CASCADE
);

CREATE TABLE data_events (
    tenant_id   text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    event_id    bigint GENERATED ALWAYS AS IDENTITY,
    type        text NOT NULL
                CHECK (type IN ('kpi_updated', 'temporal_data_added', 'health_scores_updated')),
    account_id  text,
    import_id   bigint,
    payload     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX data_events_recent ON data_events (tenant_id, created_at DESC, event_id DESC);
CREATE INDEX data_events_account ON data_events (tenant_id, account_id, event_id DESC);

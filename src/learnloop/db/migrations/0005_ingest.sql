-- Ingest: import records, saved column mappings, accounts and their KPI history.

CREATE TABLE imports (
    tenant_id     text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    import_id     bigint GENERATED ALWAYS AS IDENTITY,
    file_name     text NOT NULL,
    format        text NOT NULL,
    kind          text NOT NULL,
    confidence    double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    status        text NOT NULL CHECK (status IN ('succeeded', 'partial', 'failed')),
    counts        jsonb NOT NULL DEFAULT '{}'::jsonb,
    errors        jsonb NOT NULL DEFAULT '[]'::jsonb,
    details       jsonb NOT NULL DEFAULT '{}'::jsonb,
    duration_ms   double precision NOT NULL CHECK (duration_ms >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, import_id)
);
CREATE INDEX imports_created ON imports (tenant_id, created_at DESC, import_id DESC);

-- A column mapping given once, reused for the next file with the same columns.
CREATE TABLE import_mappings (
    tenant_id   text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    signature   text NOT NULL,
    columns     text[] NOT NULL,
    mapping     jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, signature)
);

CREATE TABLE accounts (
    tenant_id          text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    account_id         text NOT NULL CHECK (length(btrim(account_id)) > 0),
    name               text NOT NULL,
    segment            text,
    attrs              jsonb NOT NULL DEFAULT '{}'::jsonb,
    health_score       double precision CHECK (health_score BETWEEN 0 AND 100),
    health_updated_at  timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, account_id)
);
CREATE INDEX accounts_name ON accounts (tenant_id, lower(name));

-- KPI values are history: each import appends, nothing is overwritten.
CREATE TABLE kpi_values (
    tenant_id         text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    value_id          bigint GENERATED ALWAYS AS IDENTITY,
    account_id        text,
    kpi               text NOT NULL CHECK (length(btrim(kpi)) > 0),
    category          text,
    value             double precision NOT NULL,
    unit              text,
    target            double precision,
    weight            double precision NOT NULL DEFAULT 1 CHECK (weight >= 0),
    impact_level      text,
    health_component  text,
    recorded_at       timestamptz NOT NULL,
    dated             boolean NOT NULL DEFAULT false,
    fingerprint       text NOT NULL,
    import_id         bigint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, value_id),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts ON DELETE CASCADE
);
CREATE INDEX kpi_values_latest ON kpi_values (tenant_id, account_id, kpi, recorded_at DESC, value_id DESC);
CREATE INDEX kpi_values_fingerprint ON kpi_values (tenant_id, fingerprint);

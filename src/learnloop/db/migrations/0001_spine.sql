-- The spine: tenants, API keys, knowledge items with their versions and vectors.
-- Every tenant-owned table starts its keys with tenant_id, so it can be distributed by tenant.

CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE tenants (
    tenant_id   text PRIMARY KEY CHECK (tenant_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name        text NOT NULL,
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    tenant_id    text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    key_id       text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE,
    name         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (tenant_id, key_id)
);

-- One row: which embedder made the vectors in items.embedding, and their dimension.
CREATE TABLE embedding_space (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    embedder    text NOT NULL,
    dimension   integer NOT NULL CHECK (dimension > 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE items (
    tenant_id     text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    item_id       bigint GENERATED ALWAYS AS IDENTITY,
    kind          text NOT NULL CHECK (kind IN ('runbook', 'playbook', 'faq', 'kpi', 'account',
                                                'report', 'tool', 'document', 'correction')),
    external_id   text,
    title         text NOT NULL CHECK (length(btrim(title)) > 0),
    body          text NOT NULL DEFAULT '',
    tags          text[] NOT NULL DEFAULT '{}',
    attrs         jsonb NOT NULL DEFAULT '{}'::jsonb,
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'draft', 'deprecated', 'archived')),
    version       integer NOT NULL DEFAULT 1,
    content_hash  text NOT NULL,
    embedding     vector(384),
    embedder      text,
    embedded_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    search_text   tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') ||
        setweight(to_tsvector('english', left(body, 100000)), 'B')
    ) STORED,
    PRIMARY KEY (tenant_id, item_id),
    UNIQUE (tenant_id, kind, external_id)
);

CREATE INDEX items_tenant_updated ON items (tenant_id, updated_at DESC, item_id DESC);
CREATE INDEX items_search_text ON items USING gin (search_text);
CREATE INDEX items_tags ON items USING gin (tags);
-- m and ef_construction: recall@10 >= 0.95 at 100k items needs a denser graph than pgvector's
-- defaults (16, 64) gave (0.87 with hnsw.ef_search 100); see bench/search_bench.py.
CREATE INDEX items_embedding ON items USING hnsw (embedding vector_cosine_ops)
    WITH (m = 24, ef_construction = 400);

-- Every content version of every item, the current one included.
CREATE TABLE item_versions (
    tenant_id    text NOT NULL,
    item_id      bigint NOT NULL,
    version      integer NOT NULL,
    kind         text NOT NULL,
    external_id  text,
    title        text NOT NULL,
    body         text NOT NULL,
    tags         text[] NOT NULL,
    attrs        jsonb NOT NULL,
    status       text NOT NULL,
    content_hash text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, item_id, version),
    FOREIGN KEY (tenant_id, item_id) REFERENCES items ON DELETE CASCADE
);

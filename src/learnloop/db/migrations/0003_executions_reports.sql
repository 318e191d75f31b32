-- Agent executions with their tool calls, tool-creation events, and playbook reports.

CREATE TABLE executions (
    tenant_id       text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    execution_id    uuid NOT NULL,
    idempotency_key text,
    goal            text NOT NULL,
    intent          text,
    success         boolean NOT NULL,
    error           text,
    duration_ms     double precision NOT NULL CHECK (duration_ms >= 0),
    started_at      timestamptz NOT NULL,
    impression_id   uuid,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, execution_id),
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX executions_started ON executions (tenant_id, started_at DESC);

CREATE TABLE tool_calls (
    tenant_id    text NOT NULL,
    execution_id uuid NOT NULL,
    seq          integer NOT NULL CHECK (seq >= 1),
    tool         text NOT NULL,
    item_id      bigint,
    parameters   jsonb NOT NULL DEFAULT '{}'::jsonb,
    result       jsonb,
    success      boolean NOT NULL,
    error        text,
    duration_ms  double precision NOT NULL CHECK (duration_ms >= 0),
    PRIMARY KEY (tenant_id, execution_id, seq),
    FOREIGN KEY (tenant_id, execution_id) REFERENCES executions ON DELETE CASCADE
);
CREATE INDEX tool_calls_tool ON tool_calls (tenant_id, tool);

CREATE TABLE tool_creations (
    tenant_id         text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    creation_id       bigint GENERATED ALWAYS AS IDENTITY,
    execution_id      uuid,
    tool              text NOT NULL,
    code              text NOT NULL,
    validation_passed boolean NOT NULL,
    validation_errors text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, creation_id)
);

CREATE TABLE reports (
    tenant_id         text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    report_id         bigint GENERATED ALWAYS AS IDENTITY,
    external_id       text,
    account           text NOT NULL,
    playbook          text NOT NULL,
    playbook_item_id  bigint,
    status            text NOT NULL
                      CHECK (status IN ('planned', 'in_progress', 'completed', 'failed',
                                        'abandoned')),
    steps_completed   integer NOT NULL DEFAULT 0 CHECK (steps_completed >= 0),
    steps_total       integer NOT NULL CHECK (steps_total >= 0),
    started_at        timestamptz,
    ended_at          timestamptz,
    executive_summary text NOT NULL DEFAULT '',
    outcomes          jsonb NOT NULL DEFAULT '[]'::jsonb,
    next_steps        jsonb NOT NULL DEFAULT '[]'::jsonb,
    raci              jsonb NOT NULL DEFAULT '{}'::jsonb,
    exit_criteria     jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, report_id),
    UNIQUE (tenant_id, external_id),
    CHECK (steps_completed <= steps_total),
    CHECK (ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX reports_account ON reports (tenant_id, account, created_at DESC);

-- The OpenTelemetry spans taken in through POST /v1/traces, one row per (trace id, span
-- id): a span sent again (an exporter's retry, a replayed batch) finds its row and adds
-- nothing. Each row says what the span became: the run of its trace's execution, a tool
-- call of it, feedback, or nothing stored (a span understood but carrying no record).
CREATE TABLE trace_spans (
    tenant_id    text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    trace_id     text NOT NULL CHECK (trace_id ~ '^[0-9a-f]{32}$'),
    span_id      text NOT NULL CHECK (span_id ~ '^[0-9a-f]{16}$'),
    became       text NOT NULL CHECK (became IN ('run', 'tool_call', 'feedback', 'nothing')),
    execution_id uuid,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, trace_id, span_id)
);

-- Context for an assistant's LLM: the answers generated from it (responses), and the tool
-- selections made for a goal with every stage's candidates.

-- One generated answer: what it was made from (the context's citations and impression) and
-- what the model said. Feedback and corrections name it by response_id (as text).
CREATE TABLE responses (
    tenant_id      text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    response_id    uuid NOT NULL,
    query          text NOT NULL,
    account_id     text,
    session_id     text,
    user_id        text,
    impression_id  uuid,
    context_text   text NOT NULL,
    context_tokens integer NOT NULL CHECK (context_tokens >= 0),
    citations      jsonb NOT NULL DEFAULT '[]'::jsonb,
    answer         text NOT NULL,
    provider       text NOT NULL,
    model          text NOT NULL,
    input_tokens   integer,
    output_tokens  integer,
    duration_ms    double precision NOT NULL CHECK (duration_ms >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, response_id)
);
CREATE INDEX responses_created ON responses (tenant_id, created_at DESC);
CREATE INDEX responses_session ON responses (tenant_id, session_id, created_at DESC)
    WHERE session_id IS NOT NULL;

-- One tool selection: the goal, the tool chosen and by which stage.
CREATE TABLE tool_selections (
    tenant_id       text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    selection_id    uuid NOT NULL,
    query           text NOT NULL,
    context         jsonb NOT NULL DEFAULT '{}'::jsonb,
    chosen_item_id  bigint,
    chosen_tool     text,
    decided_by      text NOT NULL CHECK (decided_by IN ('none', 'statistics', 'llm')),
    llm_model       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, selection_id)
);
CREATE INDEX tool_selections_created ON tool_selections (tenant_id, created_at DESC);

-- Every candidate of every stage: 'search' (semantic narrowing), 'statistics' (ranked by
-- execution outcomes), 'llm' (the one the model picked).
CREATE TABLE tool_selection_candidates (
    tenant_id     text NOT NULL,
    selection_id  uuid NOT NULL,
    stage         text NOT NULL CHECK (stage IN ('search', 'statistics', 'llm')),
    rank          integer NOT NULL CHECK (rank >= 1),
    item_id       bigint NOT NULL,
    item_version  integer NOT NULL,
    tool          text NOT NULL,
    score         double precision NOT NULL,
    similarity    double precision,
    calls         integer NOT NULL DEFAULT 0,
    successes     integer NOT NULL DEFAULT 0,
    median_ms     double precision,
    PRIMARY KEY (tenant_id, selection_id, stage, rank),
    FOREIGN KEY (tenant_id, selection_id) REFERENCES tool_selections ON DELETE CASCADE
);
-- Tool statistics read the calls of one tool, by its item id or its name.
CREATE INDEX tool_calls_item ON tool_calls (tenant_id, item_id) WHERE item_id IS NOT NULL;

-- Analytics rollups: daily aggregates that the metrics, the dashboard and the lifecycle rules
-- read, so that no question scans the raw events. A refresh recomputes only the days that
-- changed since the tenant's watermark (learnloop.analytics.rollups).

-- Per tenant: the watermark of the last refresh and the windows the rollups were built with.
CREATE TABLE analytics_state (
    tenant_id          text PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    refreshed_at       timestamptz,
    last_event_id      bigint NOT NULL DEFAULT 0,
    abandon_seconds    integer NOT NULL DEFAULT 1800 CHECK (abandon_seconds > 0),
    conversion_seconds integer NOT NULL DEFAULT 604800 CHECK (conversion_seconds > 0)
);

-- Impressions by the UTC day they were made, and what followed them within the windows.
-- experiment, variant and segment are '' when the impression had none.
CREATE TABLE metrics_daily (
    tenant_id           text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    day                 date NOT NULL,
    policy              text NOT NULL,
    strategy            text NOT NULL,
    experiment          text NOT NULL,
    variant             text NOT NULL,
    segment             text NOT NULL,
    impressions         integer NOT NULL,
    recommended         integer NOT NULL,  -- something was shown
    viewed              integer NOT NULL,
    clicked             integer NOT NULL,  -- impressions with a click
    clicks              integer NOT NULL,  -- click events
    first_choice        integer NOT NULL,  -- the first click was on rank 1
    rr_sum              double precision NOT NULL,  -- sum of 1 / rank of the first click
    decision_ms_sum     double precision NOT NULL,  -- impression to first click
    abandoned           integer NOT NULL,  -- shown, nothing clicked within the abandon window
    open                integer NOT NULL,  -- shown, no click yet, window not over
    executed            integer NOT NULL,
    succeeded           integer NOT NULL,
    failed              integer NOT NULL,
    dismissed           integer NOT NULL,
    view_click_ms_sum   double precision NOT NULL,
    view_click_n        integer NOT NULL,
    click_exec_ms_sum   double precision NOT NULL,
    click_exec_n        integer NOT NULL,
    exec_success_ms_sum double precision NOT NULL,
    exec_success_n      integer NOT NULL,
    PRIMARY KEY (tenant_id, day, policy, strategy, experiment, variant, segment)
);

-- Each item by the day of the impressions that showed it.
CREATE TABLE item_daily (
    tenant_id    text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    day          date NOT NULL,
    item_id      bigint NOT NULL,
    shown        integer NOT NULL,
    shown_first  integer NOT NULL,
    clicked      integer NOT NULL,
    executed     integer NOT NULL,
    succeeded    integer NOT NULL,
    failed       integer NOT NULL,
    dismissed    integer NOT NULL,
    last_used_at timestamptz,
    PRIMARY KEY (tenant_id, day, item_id)
);
CREATE INDEX item_daily_item ON item_daily (tenant_id, item_id);

CREATE TABLE feedback_daily (
    tenant_id text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    day       date NOT NULL,
    kind      text NOT NULL,
    n         integer NOT NULL,
    positive  integer NOT NULL,
    negative  integer NOT NULL,
    score_sum double precision NOT NULL,
    PRIMARY KEY (tenant_id, day, kind)
);

-- Tool calls by the day their execution started; duration_hist counts calls per bucket
-- floor(4 * log2(1 + duration_ms)) (each bucket about 19% wide), for percentiles.
CREATE TABLE tool_daily (
    tenant_id       text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    day             date NOT NULL,
    tool            text NOT NULL,
    item_id         bigint,
    calls           integer NOT NULL,
    successes       integer NOT NULL,
    duration_ms_sum double precision NOT NULL,
    duration_hist   jsonb NOT NULL,
    first_used_at   timestamptz NOT NULL,
    last_used_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, day, tool)
);

-- For the refresh: what arrived since the watermark (new events are found by event_id).
CREATE INDEX executions_created ON executions (tenant_id, created_at);
CREATE INDEX feedback_created ON feedback (tenant_id, created_at);

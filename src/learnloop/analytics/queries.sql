-- name: metrics_series
SELECT date_trunc(%(period)s::text, day)::date AS period,
       sum(impressions)::bigint AS impressions, sum(recommended)::bigint AS recommended,
       sum(viewed)::bigint AS viewed, sum(clicked)::bigint AS clicked,
       sum(clicks)::bigint AS clicks, sum(first_choice)::bigint AS first_choice,
       sum(rr_sum) AS rr_sum, sum(decision_ms_sum) AS decision_ms_sum,
       sum(abandoned)::bigint AS abandoned, sum(open)::bigint AS open,
       sum(executed)::bigint AS executed, sum(succeeded)::bigint AS succeeded,
       sum(failed)::bigint AS failed, sum(dismissed)::bigint AS dismissed,
       sum(view_click_ms_sum) AS view_click_ms_sum, sum(view_click_n)::bigint AS view_click_n,
       sum(click_exec_ms_sum) AS click_exec_ms_sum, sum(click_exec_n)::bigint AS click_exec_n,
       sum(exec_success_ms_sum) AS exec_success_ms_sum,
       sum(exec_success_n)::bigint AS exec_success_n
FROM metrics_daily
WHERE tenant_id = %(tenant_id)s::text AND day BETWEEN %(since)s::date AND %(until)s::date
  AND (%(policy)s::text IS NULL OR policy = %(policy)s::text)
  AND (%(strategy)s::text IS NULL OR strategy = %(strategy)s::text)
  AND (%(experiment)s::text IS NULL OR experiment = %(experiment)s::text)
  AND (%(variant)s::text IS NULL OR variant = %(variant)s::text)
  AND (%(segment)s::text IS NULL OR segment = %(segment)s::text)
GROUP BY 1
ORDER BY 1;

-- name: metrics_by_strategy
SELECT strategy, sum(impressions)::bigint AS impressions,
       sum(recommended)::bigint AS recommended, sum(clicked)::bigint AS clicked,
       sum(succeeded)::bigint AS succeeded
FROM metrics_daily
WHERE tenant_id = %(tenant_id)s::text AND day BETWEEN %(since)s::date AND %(until)s::date
  AND (%(policy)s::text IS NULL OR policy = %(policy)s::text)
  AND (%(experiment)s::text IS NULL OR experiment = %(experiment)s::text)
  AND (%(variant)s::text IS NULL OR variant = %(variant)s::text)
  AND (%(segment)s::text IS NULL OR segment = %(segment)s::text)
GROUP BY strategy
ORDER BY strategy;

-- name: metrics_by_variant
SELECT experiment, variant, sum(impressions)::bigint AS impressions,
       sum(recommended)::bigint AS recommended, sum(clicked)::bigint AS clicked,
       sum(first_choice)::bigint AS first_choice, sum(succeeded)::bigint AS succeeded
FROM metrics_daily
WHERE tenant_id = %(tenant_id)s::text AND day BETWEEN %(since)s::date AND %(until)s::date
  AND experiment <> ''
  AND (%(experiment)s::text IS NULL OR experiment = %(experiment)s::text)
GROUP BY experiment, variant
ORDER BY experiment, variant;

-- name: feedback_totals
SELECT coalesce(sum(n), 0)::bigint AS n, coalesce(sum(positive), 0)::bigint AS positive
FROM feedback_daily
WHERE tenant_id = %(tenant_id)s::text AND day BETWEEN %(since)s::date AND %(until)s::date;

-- name: items_top
-- Items by click-through rate (smoothed: (clicks + 1) / (shown + 2)), best first.
SELECT d.item_id, i.kind, i.title, i.status, sum(d.shown)::bigint AS shown,
       sum(d.shown_first)::bigint AS shown_first, sum(d.clicked)::bigint AS clicked,
       sum(d.executed)::bigint AS executed, sum(d.succeeded)::bigint AS succeeded,
       sum(d.failed)::bigint AS failed, sum(d.dismissed)::bigint AS dismissed,
       max(d.last_used_at) AS last_used_at
FROM item_daily d
JOIN items i ON i.tenant_id = d.tenant_id AND i.item_id = d.item_id
WHERE d.tenant_id = %(tenant_id)s::text AND d.day BETWEEN %(since)s::date AND %(until)s::date
  AND (%(kinds)s::text[] IS NULL OR i.kind = ANY(%(kinds)s::text[]))
GROUP BY d.item_id, i.kind, i.title, i.status
HAVING sum(d.shown) >= %(min_shown)s::integer
ORDER BY (sum(d.clicked) + 1.0) / (sum(d.shown) + 2.0) DESC, sum(d.shown) DESC, d.item_id
LIMIT %(limit)s::integer;

-- name: items_bottom
-- Items by click-through rate, worst first.
SELECT d.item_id, i.kind, i.title, i.status, sum(d.shown)::bigint AS shown,
       sum(d.shown_first)::bigint AS shown_first, sum(d.clicked)::bigint AS clicked,
       sum(d.executed)::bigint AS executed, sum(d.succeeded)::bigint AS succeeded,
       sum(d.failed)::bigint AS failed, sum(d.dismissed)::bigint AS dismissed,
       max(d.last_used_at) AS last_used_at
FROM item_daily d
JOIN items i ON i.tenant_id = d.tenant_id AND i.item_id = d.item_id
WHERE d.tenant_id = %(tenant_id)s::text AND d.day BETWEEN %(since)s::date AND %(until)s::date
  AND (%(kinds)s::text[] IS NULL OR i.kind = ANY(%(kinds)s::text[]))
GROUP BY d.item_id, i.kind, i.title, i.status
HAVING sum(d.shown) >= %(min_shown)s::integer
ORDER BY (sum(d.clicked) + 1.0) / (sum(d.shown) + 2.0), sum(d.shown) DESC, d.item_id
LIMIT %(limit)s::integer;

-- name: tool_totals
-- A day's duration sum counts as at most a year per call (learnloop.validation.MAX_DURATION_MS),
-- so a rollup row written before the bound cannot overflow the total.
SELECT t.tool, max(t.item_id) AS item_id, sum(t.calls)::bigint AS calls,
       sum(t.successes)::bigint AS successes,
       sum(least(t.duration_ms_sum, t.calls * 31622400000.0)) AS duration_ms_sum,
       jsonb_agg(t.duration_hist) AS hists,
       (SELECT min(a.first_used_at) FROM tool_daily a
        WHERE a.tenant_id = %(tenant_id)s::text AND a.tool = t.tool) AS first_used_at,
       (SELECT max(a.last_used_at) FROM tool_daily a
        WHERE a.tenant_id = %(tenant_id)s::text AND a.tool = t.tool) AS last_used_at
FROM tool_daily t
WHERE t.tenant_id = %(tenant_id)s::text AND t.day BETWEEN %(since)s::date AND %(until)s::date
GROUP BY t.tool
ORDER BY t.tool;

-- name: playbook_reports
SELECT playbook, playbook_item_id, account, status, started_at, ended_at, outcomes
FROM reports
WHERE tenant_id = %(tenant_id)s::text
  AND created_at >= (%(since)s::date)::timestamp AT TIME ZONE 'UTC'
  AND created_at < (%(until)s::date + 1)::timestamp AT TIME ZONE 'UTC'
ORDER BY report_id;

-- name: account_segments
-- Account items (their external id and title) and imported accounts (their id and name),
-- each with its segment; imported accounts come last, so they win where both name one.
SELECT external_id, title, attrs ->> 'segment' AS segment
FROM items
WHERE tenant_id = %(tenant_id)s::text AND kind = 'account' AND attrs ? 'segment'
UNION ALL
SELECT account_id, name, segment
FROM accounts
WHERE tenant_id = %(tenant_id)s::text AND segment IS NOT NULL;

-- name: lifecycle_stats
-- Tools, runbooks and playbooks with their runs, successes and last use from the rollups
-- (item_daily: executed / succeeded / failed; tool_daily: calls by item id, tool_name,
-- external id or title; reports: by playbook item id, external id or title).
WITH it AS (
    SELECT item_id, kind, external_id, title, status, created_at, attrs ->> 'tool_name' AS name
    FROM items
    WHERE tenant_id = %(tenant_id)s::text AND kind = ANY(%(kinds)s::text[])
      AND status <> 'archived'
), ev AS (
    SELECT item_id, sum(succeeded)::bigint AS successes,
           sum(greatest(succeeded + failed, executed))::bigint AS runs,
           max(last_used_at) AS last_used_at
    FROM item_daily WHERE tenant_id = %(tenant_id)s::text GROUP BY item_id
), tl AS (
    SELECT tool, max(item_id) AS item_id, sum(successes)::bigint AS successes,
           sum(calls)::bigint AS runs, max(last_used_at) AS last_used_at
    FROM tool_daily WHERE tenant_id = %(tenant_id)s::text GROUP BY tool
), rp AS (
    SELECT playbook, playbook_item_id,
           count(*) FILTER (WHERE status = 'completed') AS successes,
           count(*) FILTER (WHERE status IN ('completed', 'failed', 'abandoned')) AS runs,
           max(coalesce(ended_at, started_at, created_at)) AS last_used_at
    FROM reports WHERE tenant_id = %(tenant_id)s::text GROUP BY playbook, playbook_item_id
)
SELECT it.item_id, it.kind, it.title, it.status, it.created_at,
       coalesce(ev.successes, 0) + coalesce(t.successes, 0) + coalesce(r.successes, 0)
           AS successes,
       coalesce(ev.runs, 0) + coalesce(t.runs, 0) + coalesce(r.runs, 0) AS runs,
       greatest(ev.last_used_at, t.last_used_at, r.last_used_at) AS last_used_at
FROM it
LEFT JOIN ev ON ev.item_id = it.item_id
LEFT JOIN LATERAL (
    SELECT sum(tl.successes)::bigint AS successes, sum(tl.runs)::bigint AS runs,
           max(tl.last_used_at) AS last_used_at
    FROM tl
    WHERE it.kind = 'tool'
      AND (tl.item_id = it.item_id OR tl.tool IN (it.name, it.external_id, it.title))
) t ON true
LEFT JOIN LATERAL (
    SELECT sum(rp.successes)::bigint AS successes, sum(rp.runs)::bigint AS runs,
           max(rp.last_used_at) AS last_used_at
    FROM rp
    WHERE it.kind = 'playbook'
      AND (rp.playbook_item_id = it.item_id OR rp.playbook IN (it.external_id, it.title))
) r ON true
ORDER BY it.item_id;

-- name: metrics_by_policy
SELECT policy, sum(impressions)::bigint AS impressions,
       sum(recommended)::bigint AS recommended, sum(clicked)::bigint AS clicked,
       sum(first_choice)::bigint AS first_choice, sum(rr_sum) AS rr_sum,
       sum(succeeded)::bigint AS succeeded
FROM metrics_daily
WHERE tenant_id = %(tenant_id)s::text AND day BETWEEN %(since)s::date AND %(until)s::date
  AND (%(strategy)s::text IS NULL OR strategy = %(strategy)s::text)
  AND (%(experiment)s::text IS NULL OR experiment = %(experiment)s::text)
  AND (%(variant)s::text IS NULL OR variant = %(variant)s::text)
  AND (%(segment)s::text IS NULL OR segment = %(segment)s::text)
GROUP BY policy
ORDER BY policy;

-- name: funnel_by_referrer
-- The funnel of each referrer, read from the events themselves (the rollups do not keep
-- referrers): an impression of the window counts for the referrer of its first event that
-- names one ('' when none of its events does), with viewed, clicked, executed and succeeded
-- within the conversion window, and the events' page paths most seen.
WITH imp AS (
    SELECT i.impression_id, i.created_at
    FROM impressions AS i
    WHERE i.tenant_id = %(tenant_id)s
      AND i.created_at >= %(since)s::date AND i.created_at < %(until)s::date + 1
      AND (%(policy)s::text IS NULL OR i.policy = %(policy)s)
      AND (%(strategy)s::text IS NULL OR i.strategy = %(strategy)s)
      AND (%(experiment)s::text IS NULL OR i.experiment = %(experiment)s)
      AND (%(variant)s::text IS NULL OR i.variant = %(variant)s)
      AND (%(segment)s::text IS NULL OR coalesce(i.context ->> 'segment', '') = %(segment)s)
), ev AS (
    SELECT e.impression_id,
           (array_agg(e.referrer ORDER BY e.occurred_at, e.event_id)
                FILTER (WHERE e.referrer IS NOT NULL))[1] AS referrer,
           bool_or(e.type = 'viewed') AS viewed, bool_or(e.type = 'clicked') AS clicked,
           bool_or(e.type = 'executed') AS executed, bool_or(e.type = 'succeeded') AS succeeded
    FROM events AS e
    JOIN imp ON imp.impression_id = e.impression_id
    WHERE e.tenant_id = %(tenant_id)s
      AND e.occurred_at >= %(since)s::date - 1
      AND e.occurred_at <= imp.created_at + make_interval(secs => %(conversion_seconds)s::integer)
    GROUP BY e.impression_id
)
SELECT coalesce(referrer, '') AS referrer, count(*) AS impressions,
       count(*) FILTER (WHERE viewed) AS viewed, count(*) FILTER (WHERE clicked) AS clicked,
       count(*) FILTER (WHERE executed) AS executed,
       count(*) FILTER (WHERE succeeded) AS succeeded
FROM ev
GROUP BY 1
ORDER BY impressions DESC, referrer
LIMIT %(limit)s;

-- name: playbook_kpi_windows
-- Each report's account's KPI values from window days before the playbook started to
-- window days after it ended (a report names its account by id or by name).
SELECT r.report_id, r.playbook, a.account_id,
       coalesce(r.started_at, r.created_at) AS started,
       coalesce(r.ended_at, r.started_at, r.created_at) AS ended,
       k.kpi, k.value, k.recorded_at
FROM reports r
JOIN accounts a
  ON a.tenant_id = r.tenant_id AND (a.account_id = r.account OR lower(a.name) = lower(r.account))
JOIN kpi_values k
  ON k.tenant_id = r.tenant_id AND k.account_id = a.account_id
 AND k.recorded_at >= coalesce(r.started_at, r.created_at) - make_interval(days => %(days)s)
 AND k.recorded_at <= coalesce(r.ended_at, r.started_at, r.created_at)
                      + make_interval(days => %(days)s)
WHERE r.tenant_id = %(tenant_id)s AND r.status <> 'planned'
  AND (%(playbook)s::text IS NULL OR r.playbook = %(playbook)s)
ORDER BY r.report_id, k.kpi, k.recorded_at;

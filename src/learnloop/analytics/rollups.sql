-- name: try_lock
-- One refresh of a tenant at a time; another worker that finds it running skips it.
SELECT pg_try_advisory_xact_lock(hashtext('learnloop.analytics'), hashtext(%(tenant_id)s::text))
       AS locked;

-- name: lock
-- The same lock, waited for: a read that finds a refresh running is served by it.
SELECT pg_advisory_xact_lock(hashtext('learnloop.analytics'), hashtext(%(tenant_id)s::text));

-- name: ensure_state
INSERT INTO analytics_state (tenant_id)
SELECT tenant_id FROM tenants WHERE tenant_id = %(tenant_id)s::text
ON CONFLICT (tenant_id) DO NOTHING;

-- name: get_state
SELECT refreshed_at, last_event_id, abandon_seconds, conversion_seconds, now() AS now
FROM analytics_state WHERE tenant_id = %(tenant_id)s::text;

-- name: set_windows
-- New windows make the next refresh a full rebuild.
INSERT INTO analytics_state (tenant_id, abandon_seconds, conversion_seconds)
SELECT tenant_id, %(abandon_seconds)s::integer, %(conversion_seconds)s::integer
FROM tenants WHERE tenant_id = %(tenant_id)s::text
ON CONFLICT (tenant_id) DO UPDATE SET
    abandon_seconds = excluded.abandon_seconds,
    conversion_seconds = excluded.conversion_seconds,
    refreshed_at = NULL, last_event_id = 0
RETURNING abandon_seconds, conversion_seconds;

-- name: reset_state
UPDATE analytics_state SET refreshed_at = NULL, last_event_id = 0
WHERE tenant_id = %(tenant_id)s::text;

-- name: save_state
UPDATE analytics_state
SET refreshed_at = %(refreshed_at)s::timestamptz, last_event_id = %(last_event_id)s::bigint
WHERE tenant_id = %(tenant_id)s::text;

-- name: new_events
-- Events past the watermark (found through the primary key): the earliest impression they
-- belong to, and the newest event id old enough to have committed.
SELECT min(i.created_at) AS earliest,
       max(e.event_id) FILTER (WHERE e.received_at < now() - interval '30 seconds') AS settled
FROM events e
LEFT JOIN impressions i ON i.tenant_id = e.tenant_id AND i.impression_id = e.impression_id
WHERE e.tenant_id = %(tenant_id)s::text AND e.event_id > %(last_event_id)s::bigint;

-- name: new_executions
SELECT min(started_at) AS earliest FROM executions
WHERE tenant_id = %(tenant_id)s::text AND created_at >= %(since)s::timestamptz;

-- name: tenants_with_activity
-- Tenants with impressions, executions or feedback since their last refresh.
SELECT t.tenant_id FROM tenants t
LEFT JOIN analytics_state s ON s.tenant_id = t.tenant_id
WHERE EXISTS (SELECT 1 FROM impressions i WHERE i.tenant_id = t.tenant_id
              AND i.created_at >= coalesce(s.refreshed_at, '-infinity'::timestamptz))
   OR EXISTS (SELECT 1 FROM executions x WHERE x.tenant_id = t.tenant_id
              AND x.created_at >= coalesce(s.refreshed_at, '-infinity'::timestamptz))
   OR EXISTS (SELECT 1 FROM feedback f WHERE f.tenant_id = t.tenant_id
              AND f.created_at >= coalesce(s.refreshed_at, '-infinity'::timestamptz))
ORDER BY t.tenant_id;

-- name: delete_metrics
DELETE FROM metrics_daily WHERE tenant_id = %(tenant_id)s::text AND day >= %(since)s::date;

-- name: delete_items
DELETE FROM item_daily WHERE tenant_id = %(tenant_id)s::text AND day >= %(since)s::date;

-- name: delete_feedback
DELETE FROM feedback_daily WHERE tenant_id = %(tenant_id)s::text AND day >= %(since)s::date;

-- name: delete_tools
DELETE FROM tool_daily WHERE tenant_id = %(tenant_id)s::text AND day >= %(since)s::date;

-- name: rollup_metrics
-- The impressions made since %(since)s, each with the first time of each step within the
-- conversion window, aggregated by day and dimensions.
WITH imp AS MATERIALIZED (
    SELECT impression_id, created_at, (created_at AT TIME ZONE 'UTC')::date AS day, policy,
           strategy, coalesce(experiment, '') AS experiment, coalesce(variant, '') AS variant,
           coalesce(context ->> 'segment', '') AS segment
    FROM impressions
    WHERE tenant_id = %(tenant_id)s::text
      AND created_at >= (%(since)s::date)::timestamp AT TIME ZONE 'UTC'
), ev AS (
    SELECT e.impression_id,
           min(e.occurred_at) FILTER (WHERE e.type = 'viewed') AS viewed_at,
           min(e.occurred_at) FILTER (WHERE e.type = 'clicked') AS clicked_at,
           min(e.occurred_at) FILTER (WHERE e.type = 'executed') AS executed_at,
           min(e.occurred_at) FILTER (WHERE e.type = 'succeeded') AS succeeded_at,
           bool_or(e.type = 'failed') AS failed,
           bool_or(e.type = 'dismissed') AS dismissed,
           count(*) FILTER (WHERE e.type = 'clicked') AS clicks,
           (array_agg(e.rank ORDER BY e.occurred_at, e.event_id)
                FILTER (WHERE e.type = 'clicked' AND e.rank IS NOT NULL))[1] AS first_rank
    FROM events e
    JOIN imp ON imp.impression_id = e.impression_id
    WHERE e.tenant_id = %(tenant_id)s::text
      AND e.occurred_at >= (%(since)s::date)::timestamp AT TIME ZONE 'UTC' - interval '1 hour'
      AND e.occurred_at <= imp.created_at + make_interval(secs => %(conversion_seconds)s::integer)
    GROUP BY e.impression_id
), one AS (
    SELECT imp.day, imp.policy, imp.strategy, imp.experiment, imp.variant, imp.segment,
           imp.created_at, imp.strategy <> 'no_confident_match' AS shown,
           imp.created_at + make_interval(secs => %(abandon_seconds)s::integer) AS abandon_at,
           ev.viewed_at, ev.clicked_at, ev.executed_at, ev.succeeded_at,
           coalesce(ev.failed, false) AS failed, coalesce(ev.dismissed, false) AS dismissed,
           coalesce(ev.clicks, 0) AS clicks, ev.first_rank
    FROM imp LEFT JOIN ev ON ev.impression_id = imp.impression_id
)
INSERT INTO metrics_daily (tenant_id, day, policy, strategy, experiment, variant, segment,
                           impressions, recommended, viewed, clicked, clicks, first_choice,
                           rr_sum, decision_ms_sum, abandoned, open, executed, succeeded, failed,
                           dismissed, view_click_ms_sum, view_click_n, click_exec_ms_sum,
                           click_exec_n, exec_success_ms_sum, exec_success_n)
SELECT %(tenant_id)s::text, day, policy, strategy, experiment, variant, segment,
       count(*), count(*) FILTER (WHERE shown), count(viewed_at), count(clicked_at), sum(clicks),
       count(*) FILTER (WHERE first_rank = 1),
       coalesce(sum(1.0 / first_rank), 0),
       coalesce(sum(greatest(0, extract(epoch FROM clicked_at - created_at) * 1000)), 0),
       count(*) FILTER (WHERE shown AND abandon_at <= now()
                        AND (clicked_at IS NULL OR clicked_at > abandon_at)),
       count(*) FILTER (WHERE shown AND abandon_at > now() AND clicked_at IS NULL),
       count(executed_at), count(succeeded_at), count(*) FILTER (WHERE failed),
       count(*) FILTER (WHERE dismissed),
       coalesce(sum(extract(epoch FROM clicked_at - viewed_at) * 1000)
                FILTER (WHERE clicked_at >= viewed_at), 0),
       count(*) FILTER (WHERE clicked_at >= viewed_at),
       coalesce(sum(extract(epoch FROM executed_at - clicked_at) * 1000)
                FILTER (WHERE executed_at >= clicked_at), 0),
       count(*) FILTER (WHERE executed_at >= clicked_at),
       coalesce(sum(extract(epoch FROM succeeded_at - executed_at) * 1000)
                FILTER (WHERE succeeded_at >= executed_at), 0),
       count(*) FILTER (WHERE succeeded_at >= executed_at)
FROM one
GROUP BY day, policy, strategy, experiment, variant, segment;

-- name: rollup_items
-- Each item shown by the impressions made since %(since)s, and what people did with it.
WITH imp AS MATERIALIZED (
    SELECT impression_id, created_at, (created_at AT TIME ZONE 'UTC')::date AS day
    FROM impressions
    WHERE tenant_id = %(tenant_id)s::text
      AND created_at >= (%(since)s::date)::timestamp AT TIME ZONE 'UTC'
), shown AS (
    SELECT imp.day, ii.item_id, count(*) AS shown, count(*) FILTER (WHERE ii.rank = 1) AS first
    FROM impression_items ii
    JOIN imp ON imp.impression_id = ii.impression_id
    WHERE ii.tenant_id = %(tenant_id)s::text AND ii.shown
    GROUP BY imp.day, ii.item_id
), acted AS (
    SELECT imp.day, e.item_id,
           count(DISTINCT e.impression_id) FILTER (WHERE e.type = 'clicked') AS clicked,
           count(DISTINCT e.impression_id) FILTER (WHERE e.type = 'executed') AS executed,
           count(DISTINCT e.impression_id) FILTER (WHERE e.type = 'succeeded') AS succeeded,
           count(DISTINCT e.impression_id) FILTER (WHERE e.type = 'failed') AS failed,
           count(DISTINCT e.impression_id) FILTER (WHERE e.type = 'dismissed') AS dismissed,
           max(e.occurred_at) FILTER (WHERE e.type <> 'viewed' AND e.type <> 'dismissed')
               AS last_used_at
    FROM events e
    JOIN imp ON imp.impression_id = e.impression_id
    WHERE e.tenant_id = %(tenant_id)s::text AND e.item_id IS NOT NULL
      AND e.occurred_at >= (%(since)s::date)::timestamp AT TIME ZONE 'UTC' - interval '1 hour'
      AND e.occurred_at <= imp.created_at + make_interval(secs => %(conversion_seconds)s::integer)
    GROUP BY imp.day, e.item_id
)
INSERT INTO item_daily (tenant_id, day, item_id, shown, shown_first, clicked, executed,
                        succeeded, failed, dismissed, last_used_at)
SELECT %(tenant_id)s::text, coalesce(s.day, a.day), coalesce(s.item_id, a.item_id),
       coalesce(s.shown, 0), coalesce(s.first, 0), coalesce(a.clicked, 0),
       coalesce(a.executed, 0), coalesce(a.succeeded, 0), coalesce(a.failed, 0),
       coalesce(a.dismissed, 0), a.last_used_at
FROM shown s
FULL JOIN acted a ON a.day = s.day AND a.item_id = s.item_id;

-- name: rollup_feedback
INSERT INTO feedback_daily (tenant_id, day, kind, n, positive, negative, score_sum)
SELECT %(tenant_id)s::text, (created_at AT TIME ZONE 'UTC')::date, kind, count(*),
       count(*) FILTER (WHERE score > 0), count(*) FILTER (WHERE negative), sum(score)
FROM feedback
WHERE tenant_id = %(tenant_id)s::text
  AND created_at >= (%(since)s::date)::timestamp AT TIME ZONE 'UTC'
GROUP BY 2, 3;

-- name: rollup_tools
-- Tool calls of the executions started since %(since)s, with a duration histogram.
-- Durations count as at most a year (learnloop.validation.MAX_DURATION_MS, what the API
-- accepts): a value stored by other means can neither overflow the sum nor the histogram.
WITH calls AS MATERIALIZED (
    SELECT (x.started_at AT TIME ZONE 'UTC')::date AS day, c.tool, c.item_id, c.success,
           least(c.duration_ms, 31622400000) AS duration_ms, x.started_at,
           floor(4 * ln(1 + least(c.duration_ms, 31622400000)) / ln(2))::integer AS bucket
    FROM executions x
    JOIN tool_calls c ON c.tenant_id = x.tenant_id AND c.execution_id = x.execution_id
    WHERE x.tenant_id = %(tenant_id)s::text
      AND x.started_at >= (%(since)s::date)::timestamp AT TIME ZONE 'UTC'
), hist AS (
    SELECT day, tool, jsonb_object_agg(bucket, n) AS h
    FROM (SELECT day, tool, bucket, count(*) AS n FROM calls GROUP BY day, tool, bucket) b
    GROUP BY day, tool
)
INSERT INTO tool_daily (tenant_id, day, tool, item_id, calls, successes, duration_ms_sum,
                        duration_hist, first_used_at, last_used_at)
SELECT %(tenant_id)s::text, c.day, c.tool, max(c.item_id), count(*),
       count(*) FILTER (WHERE c.success), sum(c.duration_ms), h.h, min(c.started_at),
       max(c.started_at)
FROM calls c
JOIN hist h ON h.day = c.day AND h.tool = c.tool
GROUP BY c.day, c.tool, h.h;

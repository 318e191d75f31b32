"""Analytics benchmark: metrics from the daily rollups against the same figures computed from
the raw impressions and events, for one large tenant.

    .venv/bin/python bench/analytics_bench.py [--impressions 200000] [--days 60] [--repeats 5]
                                              [--data-dir DIR]

Builds a tenant with ``--impressions`` impressions spread over ``--days`` days (generated in
SQL: three items shown each, about 45% viewed, 30% clicked, 12% succeeded, with timestamps
after the impression), in a data dir of its own (default /tmp/learnloop-analytics-bench,
reused; the tenant is rebuilt each run). Then, medians of ``--repeats`` runs:

* raw: the 30-day totals (impressions, clicked, first-choice, succeeded) computed from
  impressions and events directly: what every dashboard load would cost without rollups;
* rollups: ``Analytics.metrics`` for the same 30 days, by day (reads metrics_daily);
* the full refresh (every day rebuilt) and an incremental refresh after 500 new events on
  today's impressions (recomputes today only).

Prints one line: the medians and the ratio raw / rollups.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from learnloop.analytics import Analytics
from learnloop.db import Database
from learnloop.settings import Settings

TENANT = "bench-analytics"

BUILD = [
    "DELETE FROM events WHERE tenant_id = %(t)s",
    "DELETE FROM tenants WHERE tenant_id = %(t)s",
    "INSERT INTO tenants (tenant_id, name) VALUES (%(t)s, 'analytics bench')",
    """INSERT INTO impressions (tenant_id, impression_id, query, k, policy, policy_version,
                                strategy, threshold, created_at, context)
       SELECT %(t)s, gen_random_uuid(), 'q' || n, 3, 'similarity', '1',
              CASE WHEN n %% 10 = 0 THEN 'no_confident_match' ELSE 'multiple_options' END,
              0.5, now() - (random() * %(days)s) * interval '1 day',
              jsonb_build_object('segment', (ARRAY['smb', 'enterprise', 'internal'])[1 + n %% 3])
       FROM generate_series(1, %(n)s) AS n""",
    """INSERT INTO impression_items (tenant_id, impression_id, rank, item_id, item_version,
                                     score, confidence, propensity, shown)
       SELECT i.tenant_id, i.impression_id, r, 1 + (hashtext(i.query) & 1023) %% 500 + r, 1,
              1.0 / r, 0.9 / r, 1, i.strategy <> 'no_confident_match'
       FROM impressions i, generate_series(1, 3) AS r WHERE i.tenant_id = %(t)s""",
    """SELECT learnloop_event_partition(d)
       FROM generate_series(now() - %(days)s * interval '1 day', now(), interval '20 days') d""",
    "SELECT learnloop_event_partition(now())",
    """INSERT INTO events (tenant_id, type, impression_id, item_id, rank, occurred_at,
                           impression_seen)
       SELECT i.tenant_id, e.type, i.impression_id, ii.item_id, ii.rank,
              least(now(), i.created_at + e.after * interval '1 second'), true
       FROM impressions i
       JOIN impression_items ii ON ii.tenant_id = i.tenant_id
                               AND ii.impression_id = i.impression_id AND ii.rank = 1
       CROSS JOIN LATERAL (VALUES ('viewed', 2, 0.45), ('clicked', 9, 0.30),
                                  ('succeeded', 120, 0.12)) AS e (type, after, share)
       WHERE i.tenant_id = %(t)s AND i.strategy <> 'no_confident_match'
         AND (hashtext(i.impression_id::text || e.type) & 1023) < e.share * 1024""",
    "ANALYZE impressions",
    "ANALYZE impression_items",
    "ANALYZE events",
]

RAW_TOTALS = """
WITH imp AS (
    SELECT impression_id, created_at FROM impressions
    WHERE tenant_id = %(t)s AND created_at >= (%(since)s::date)::timestamp AT TIME ZONE 'UTC'
), ev AS (
    SELECT e.impression_id,
           bool_or(e.type = 'clicked') AS clicked, bool_or(e.type = 'succeeded') AS succeeded,
           (array_agg(e.rank ORDER BY e.occurred_at)
                FILTER (WHERE e.type = 'clicked'))[1] AS first_rank
    FROM events e JOIN imp ON imp.impression_id = e.impression_id
    WHERE e.tenant_id = %(t)s
      AND e.occurred_at >= (%(since)s::date)::timestamp AT TIME ZONE 'UTC' - interval '1 hour'
    GROUP BY e.impression_id
)
SELECT count(*) AS impressions, count(*) FILTER (WHERE clicked) AS clicked,
       count(*) FILTER (WHERE first_rank = 1) AS first_choice,
       count(*) FILTER (WHERE succeeded) AS succeeded
FROM imp LEFT JOIN ev USING (impression_id)
"""

NEW_EVENTS = """
INSERT INTO events (tenant_id, type, impression_id, occurred_at, impression_seen)
SELECT tenant_id, 'viewed', impression_id, now(), true FROM impressions
WHERE tenant_id = %(t)s AND created_at >= now() - interval '12 hours' LIMIT 500
"""


def median_ms(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impressions", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/learnloop-analytics-bench"))
    args = parser.parse_args()
    db = Database.from_settings(Settings(data_dir=args.data_dir, database_url=None))
    params = {"t": TENANT, "n": args.impressions, "days": args.days}
    started = time.perf_counter()
    with db.transaction() as conn:
        for statement in BUILD:
            conn.execute(statement, params)  # type: ignore[arg-type]
    built = time.perf_counter() - started
    time.sleep(31)  # events count as settled (the refresh's watermark) 30 s after they arrive
    analytics = Analytics(db, None, max_staleness=None)  # type: ignore[arg-type]
    full = median_ms(lambda: analytics.refresh(TENANT, full=True), max(1, args.repeats // 2))

    def incremental() -> None:
        with db.connection() as conn:
            conn.execute(NEW_EVENTS, params)  # type: ignore[arg-type]
        analytics.refresh(TENANT)

    since = (datetime.now(UTC) - timedelta(days=29)).date()
    params |= {"since": since}
    with db.connection() as conn:
        raw = conn.execute(RAW_TOTALS, params).fetchone()  # type: ignore[arg-type]
    rolled = analytics.metrics(TENANT, {"since": since}).totals.counts
    step = median_ms(incremental, args.repeats)

    def raw_totals() -> None:
        with db.connection() as conn:
            conn.execute(RAW_TOTALS, params).fetchone()  # type: ignore[arg-type]

    raw_ms = median_ms(raw_totals, args.repeats)
    rollup_ms = median_ms(lambda: analytics.metrics(TENANT, {"since": since}), args.repeats)
    db.close()
    assert raw is not None
    print(
        f"analytics: {args.impressions:,} impressions over {args.days} days (built in "
        f"{built:.0f} s); 30-day totals raw {raw_ms:.1f} ms vs rollups {rollup_ms:.1f} ms "
        f"(ratio {raw_ms / rollup_ms:.0f}x); full refresh {full:.0f} ms; incremental refresh "
        f"{step:.0f} ms; check: raw impressions {raw['impressions']:,} clicked "
        f"{raw['clicked']:,}, rollups {rolled.impressions:,} / {rolled.clicked:,}"
    )


if __name__ == "__main__":
    main()

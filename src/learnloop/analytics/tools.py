"""Tool effectiveness from the tool_daily rollup: success rate, mean and p95 duration,
executions, first and last use; the top and low performers."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from learnloop._sql import load_queries
from learnloop.analytics.metrics import params
from learnloop.analytics.models import MetricsFilter, ToolReport, ToolStat
from learnloop.ports import Store
from learnloop.validation import MAX_DURATION_MS

Q = load_queries("learnloop.analytics")
BUCKETS_PER_DOUBLING = 4  # as the rollup_tools query buckets durations


def bucket_of(duration_ms: float) -> int:
    """The histogram bucket of a duration, as rollup_tools computes it in SQL.

    >>> bucket_of(0), bucket_of(1), bucket_of(1000)
    (0, 4, 39)
    """
    return math.floor(BUCKETS_PER_DOUBLING * math.log2(1 + duration_ms))


# The last bucket: durations count as at most a year, as the rollup and the input have them.
MAX_BUCKET = bucket_of(MAX_DURATION_MS)


def percentile(hist: Mapping[int, int], q: float) -> float:
    """The q-quantile (0..1) of a bucketed histogram: the middle of the bucket it falls in.

    >>> round(percentile({bucket_of(100): 95, bucket_of(2000): 5}, 0.95))  # 100 ms, within 10%
    98
    """
    total = sum(hist.values())
    if not total:
        return 0.0
    rank, seen = q * total, 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return _middle(bucket)
    return _middle(max(hist))


def _middle(bucket: int) -> float:
    low = 2 ** (bucket / BUCKETS_PER_DOUBLING) - 1
    high = 2 ** ((bucket + 1) / BUCKETS_PER_DOUBLING) - 1
    return (low + high) / 2


def merge(hists: Iterable[Mapping[str, int]]) -> Counter[int]:
    """The histograms added up; a bucket beyond the last (stored before the bound) counts as
    the last."""
    merged: Counter[int] = Counter()
    for hist in hists:
        for bucket, n in hist.items():
            merged[min(int(bucket), MAX_BUCKET)] += n
    return merged


def tools(
    db: Store, tenant_id: str, f: MetricsFilter, *, min_runs: int = 5, n: int = 3
) -> ToolReport:
    """Every tool used in the period; the top and low ``n`` among those with ``min_runs``."""
    with db.connection() as conn:
        rows = conn.execute(Q["tool_totals"], params(tenant_id, f)).fetchall()
    stats = [_tool(row) for row in rows]
    judged = sorted(
        (s for s in stats if s.executions >= min_runs), key=lambda s: (-s.success_rate, s.tool)
    )
    split = min(n, len(judged) // 2)  # a tool is never both top and low
    top = [s.tool for s in judged[: max(split, min(1, len(judged)))]]
    low = [s.tool for s in reversed(judged[len(judged) - split :])]
    return ToolReport(tools=stats, top=top, low=low)


def _tool(row: dict[str, Any]) -> ToolStat:
    hist = merge(row["hists"])
    return ToolStat(
        tool=row["tool"],
        item_id=row["item_id"],
        executions=row["calls"],
        successes=row["successes"],
        success_rate=row["successes"] / row["calls"],
        mean_duration_ms=min(row["duration_ms_sum"] / row["calls"], MAX_DURATION_MS),
        p95_duration_ms=percentile(hist, 0.95),
        first_used_at=row["first_used_at"],
        last_used_at=row["last_used_at"],
    )

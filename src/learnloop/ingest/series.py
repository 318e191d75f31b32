"""KPI time series (pure, no I/O): the health score at every point of an account's series,
the trend of a KPI over a window, and a playbook's effect as the mean after it ran against
the mean before.

Trend: the least-squares slope of value on time (per day), and the change from the first
to the last point; ``direction`` is flat when that change is under FLAT of the first
value's size, else up or down; ``better`` says whether the move is good for the KPI (down
is good where the name says lower is better: churn, cost, tickets, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from learnloop.context.effects import lower_is_better
from learnloop.ingest.health import health_score

FLAT = 0.02
DAY = 86_400.0
Direction = Literal["up", "down", "flat"]


class Trend(BaseModel):
    kpi: str
    points: int
    since: datetime
    until: datetime
    first: float
    last: float
    change: float = Field(description="last - first")
    relative_change: float | None = Field(description="change / |first|; null when first is 0")
    slope_per_day: float | None = Field(description="least-squares slope; null for one point")
    direction: Direction
    better: bool | None = Field(description="whether the move is good for this KPI; null when flat")


def health_over_time(rows: Iterable[Mapping[str, Any]]) -> list[tuple[datetime, float | None, int]]:
    """(as_of, score, KPIs counted) at each time of one account's KPI values, each score
    made from the latest value of every KPI at that time (rows oldest first)."""
    latest: dict[str, Mapping[str, Any]] = {}
    points: list[tuple[datetime, float | None, int]] = []
    for row in rows:
        when = row["recorded_at"]
        if points and points[-1][0] == when:
            points.pop()
        latest[row["kpi"]] = row
        points.append((when, health_score(latest.values()), len(latest)))
    return points


def trend(kpi: str, points: Sequence[tuple[datetime, float]]) -> Trend | None:
    """The trend of a KPI's points (oldest first); None without points.

    >>> from datetime import datetime as d
    >>> t = trend("Churn rate", [(d(2026, 1, 1), 5.0), (d(2026, 1, 11), 4.0)])
    >>> t.direction, t.better, round(t.slope_per_day, 3), t.relative_change
    ('down', True, -0.1, -0.2)
    """
    if not points:
        return None
    (since, first), (until, last) = points[0], points[-1]
    change = last - first
    relative = change / abs(first) if first else None
    size = abs(first) or max(abs(v) for _, v in points) or 1.0
    direction: Direction = "flat" if abs(change) < FLAT * size else ("up" if change > 0 else "down")
    better = None if direction == "flat" else (direction == "down") == lower_is_better(kpi)
    return Trend(
        kpi=kpi,
        points=len(points),
        since=since,
        until=until,
        first=first,
        last=last,
        change=change,
        relative_change=relative,
        slope_per_day=_slope(points),
        direction=direction,
        better=better,
    )


def _slope(points: Sequence[tuple[datetime, float]]) -> float | None:
    if len(points) < 2:
        return None
    t0 = points[0][0]
    xs = [(t - t0).total_seconds() / DAY for t, _ in points]
    ys = [v for _, v in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def describe(t: Trend) -> str:
    """One line of a context block.

    >>> from datetime import datetime as d
    >>> describe(trend("NPS", [(d(2026, 1, 1), 40.0), (d(2026, 3, 1), 30.0)]))
    'NPS: 40 -> 30 (-25.0%) from 2026-01-01 to 2026-03-01, down (worse), 2 points'
    """
    pct = "" if t.relative_change is None else f" ({100 * t.relative_change:+.1f}%)"
    verdict = "" if t.better is None else (" (better)" if t.better else " (worse)")
    return (
        f"{t.kpi}: {t.first:g} -> {t.last:g}{pct} from {t.since.date()} to "
        f"{t.until.date()}, {t.direction}{verdict}, {t.points} points"
    )


def window_effect(
    metric: str, before: Sequence[float], after: Sequence[float]
) -> tuple[float, float, float, bool] | None:
    """(mean before, mean after, change, improved) for one run of a playbook; None when a
    window holds no value.

    >>> window_effect("Churn rate", [6.0, 5.0], [4.0])
    (5.5, 4.0, -1.5, True)
    """
    if not before or not after:
        return None
    mb, ma = sum(before) / len(before), sum(after) / len(after)
    change = ma - mb
    return mb, ma, change, (change < 0) if lower_is_better(metric) else (change > 0)

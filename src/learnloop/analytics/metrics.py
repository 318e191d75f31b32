"""Metrics read from the daily rollups: series by day or week, the funnel, the strategy mix,
experiment results and the top and bottom items. Rates are computed here, from counts."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

from learnloop._sql import load_queries
from learnloop.analytics.models import (
    Counts,
    ExperimentResult,
    Funnel,
    FunnelStep,
    ItemRanking,
    ItemStat,
    Metrics,
    MetricsFilter,
    MetricsPoint,
    Period,
    PolicyResult,
    Rates,
    ReferrerFunnel,
    ReferrerFunnels,
    StrategyShare,
    VariantResult,
)
from learnloop.errors import InvalidInput
from learnloop.ports import Store

Q = load_queries("learnloop.analytics")
DEFAULT_DAYS = 30
CONTROL_NAMES = ("control", "baseline", "a")


def ratio(part: float, whole: float) -> float | None:
    """part / whole, or None when there is nothing to divide by.

    >>> ratio(1, 4), ratio(3, 0)
    (0.25, None)
    """
    return part / whole if whole else None


def rates(c: Counts) -> Rates:
    return Rates(
        recommendation_rate=ratio(c.recommended, c.impressions),
        click_through_rate=ratio(c.clicked, c.recommended),
        success_rate=ratio(c.succeeded, c.recommended),
        first_choice_accuracy=ratio(c.first_choice, c.clicked),
        mean_reciprocal_rank=ratio(c.rr_sum, c.clicked),
        mean_time_to_decision_ms=ratio(c.decision_ms_sum, c.clicked),
        clicks_per_impression=ratio(c.clicks, c.recommended),
        abandon_rate=ratio(c.abandoned, c.recommended - c.open),
    )


def add(a: Counts, b: Counts) -> Counts:
    return Counts(**{name: getattr(a, name) + getattr(b, name) for name in Counts.model_fields})


def window(f: MetricsFilter, today: date | None = None) -> tuple[date, date]:
    """The filter's days, defaulting to the last 30 (today included)."""
    until = f.until or today or datetime.now(UTC).date()
    since = f.since or until - timedelta(days=DEFAULT_DAYS - 1)
    return since, until


def params(tenant_id: str, f: MetricsFilter) -> dict[str, Any]:
    since, until = window(f)
    return f.model_dump() | {"tenant_id": tenant_id, "since": since, "until": until}


def metrics(db: Store, tenant_id: str, f: MetricsFilter, period: Period = "day") -> Metrics:
    if period not in ("day", "week"):
        raise InvalidInput(f"period must be 'day' or 'week', not {period!r}")
    p = params(tenant_id, f) | {"period": period}
    with db.connection() as conn:
        rows = conn.execute(Q["metrics_series"], p).fetchall()
        feedback = conn.execute(Q["feedback_totals"], p).fetchone()
    series = []
    total = Counts()
    for row in rows:
        counts = Counts.model_validate(row)
        total = add(total, counts)
        series.append(MetricsPoint(period=row["period"], counts=counts, rates=rates(counts)))
    n, positive = (feedback["n"], feedback["positive"]) if feedback else (0, 0)
    return Metrics(
        period=period,
        since=p["since"],
        until=p["until"],
        series=series,
        totals=MetricsPoint(period=p["since"], counts=total, rates=rates(total)),
        helpfulness_rate=ratio(positive, n),
        feedback=n,
    )


def funnel(db: Store, tenant_id: str, f: MetricsFilter, conversion_seconds: int) -> Funnel:
    """viewed -> clicked -> executed -> succeeded, within the conversion window."""
    total = metrics(db, tenant_id, f).totals.counts
    steps = [
        ("viewed", total.viewed, None, None),
        ("clicked", total.clicked, total.view_click_ms_sum, total.view_click_n),
        ("executed", total.executed, total.click_exec_ms_sum, total.click_exec_n),
        ("succeeded", total.succeeded, total.exec_success_ms_sum, total.exec_success_n),
    ]
    out, previous = [], total.recommended
    for step, n, ms_sum, ms_n in steps:
        mean = ratio(ms_sum, ms_n) if ms_sum is not None and ms_n is not None else None
        out.append(
            FunnelStep(
                step=step,  # type: ignore[arg-type]
                impressions=n,
                conversion_from_previous=ratio(n, previous),
                mean_ms_from_previous=mean,
            )
        )
        previous = n
    since, until = window(f)
    return Funnel(
        since=since,
        until=until,
        conversion_window_seconds=conversion_seconds,
        shown=total.recommended,
        steps=out,
    )


def referrer_funnels(
    db: Store, tenant_id: str, f: MetricsFilter, conversion_seconds: int, limit: int = 50
) -> ReferrerFunnels:
    """viewed -> clicked -> executed -> succeeded per referrer, from the events themselves."""
    if not 1 <= limit <= 1000:
        raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
    p = params(tenant_id, f) | {"conversion_seconds": conversion_seconds, "limit": limit}
    with db.connection() as conn:
        rows = conn.execute(Q["funnel_by_referrer"], p).fetchall()
    return ReferrerFunnels(
        since=p["since"],
        until=p["until"],
        conversion_window_seconds=conversion_seconds,
        referrers=[_referrer_funnel(row) for row in rows],
    )


def _referrer_funnel(row: dict[str, Any]) -> ReferrerFunnel:
    steps, previous = [], row["impressions"]
    for step in ("viewed", "clicked", "executed", "succeeded"):
        steps.append(
            FunnelStep(
                step=step,
                impressions=row[step],
                conversion_from_previous=ratio(row[step], previous),
                mean_ms_from_previous=None,
            )
        )
        previous = row[step]
    return ReferrerFunnel(
        referrer=row["referrer"],
        impressions=row["impressions"],
        steps=steps,
        success_rate=ratio(row["succeeded"], row["impressions"]),
    )


def strategy_mix(db: Store, tenant_id: str, f: MetricsFilter) -> list[StrategyShare]:
    with db.connection() as conn:
        rows = conn.execute(Q["metrics_by_strategy"], params(tenant_id, f)).fetchall()
    everything = sum(row["impressions"] for row in rows)
    return [
        StrategyShare(
            strategy=row["strategy"],
            impressions=row["impressions"],
            share=row["impressions"] / everything,
            click_through_rate=ratio(row["clicked"], row["recommended"]),
            success_rate=ratio(row["succeeded"], row["recommended"]),
        )
        for row in rows
    ]


def policies(db: Store, tenant_id: str, f: MetricsFilter) -> list[PolicyResult]:
    """Each ranking policy's impressions and how they did: the learning policies against
    the similarity baseline."""
    with db.connection() as conn:
        rows = conn.execute(Q["metrics_by_policy"], params(tenant_id, f)).fetchall()
    return [
        PolicyResult(
            policy=row["policy"],
            impressions=row["impressions"],
            click_through_rate=ratio(row["clicked"], row["recommended"]),
            success_rate=ratio(row["succeeded"], row["recommended"]),
            first_choice_accuracy=ratio(row["first_choice"], row["clicked"]),
            mean_reciprocal_rank=ratio(row["rr_sum"], row["clicked"]),
        )
        for row in rows
    ]


def experiments(db: Store, tenant_id: str, f: MetricsFilter) -> list[ExperimentResult]:
    """Each experiment's variants, compared on success rate with the control (the variant
    named control, baseline or a; else the first by name)."""
    with db.connection() as conn:
        rows = conn.execute(Q["metrics_by_variant"], params(tenant_id, f)).fetchall()
    by_experiment: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_experiment.setdefault(row["experiment"], []).append(row)
    return [_experiment(name, variants) for name, variants in by_experiment.items()]


def _experiment(name: str, rows: list[dict[str, Any]]) -> ExperimentResult:
    named = [r for r in rows if r["variant"].lower() in CONTROL_NAMES]
    control = (named or rows)[0]
    results = []
    for row in rows:
        lift, p_value = None, None
        if row is not control:
            lift, p_value = two_proportions(
                control["succeeded"], control["recommended"], row["succeeded"], row["recommended"]
            )
        results.append(
            VariantResult(
                variant=row["variant"],
                impressions=row["impressions"],
                click_through_rate=ratio(row["clicked"], row["recommended"]),
                success_rate=ratio(row["succeeded"], row["recommended"]),
                first_choice_accuracy=ratio(row["first_choice"], row["clicked"]),
                lift_vs_control=lift,
                p_value=p_value,
            )
        )
    return ExperimentResult(experiment=name, control=control["variant"], variants=results)


def two_proportions(x1: int, n1: int, x2: int, n2: int) -> tuple[float | None, float | None]:
    """The difference p2 - p1 and its two-sided p-value (pooled z-test).

    >>> lift, p = two_proportions(50, 100, 70, 100)
    >>> round(lift, 2), round(p, 4)
    (0.2, 0.0039)
    """
    if not n1 or not n2:
        return None, None
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return p2 - p1, None
    z = (p2 - p1) / se
    return p2 - p1, math.erfc(abs(z) / math.sqrt(2))


def items(
    db: Store,
    tenant_id: str,
    f: MetricsFilter,
    *,
    limit: int = 10,
    min_shown: int = 5,
    kinds: list[str] | None = None,
) -> ItemRanking:
    """The items people click most and least (smoothed click-through rate)."""
    if not 1 <= limit <= 100:
        raise InvalidInput(f"limit must be between 1 and 100, not {limit}")
    p = params(tenant_id, f) | {"limit": limit, "min_shown": min_shown, "kinds": kinds or None}
    with db.connection() as conn:
        top = conn.execute(Q["items_top"], p).fetchall()
        bottom = conn.execute(Q["items_bottom"], p).fetchall()
    return ItemRanking(top=[_item(r) for r in top], bottom=[_item(r) for r in bottom])


def _item(row: dict[str, Any]) -> ItemStat:
    return ItemStat.model_validate(
        row
        | {
            "click_through_rate": ratio(row["clicked"], row["shown"]),
            "success_rate": ratio(row["succeeded"], row["succeeded"] + row["failed"]),
        }
    )

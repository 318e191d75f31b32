"""learnloop analytics metrics | referrers | items | tools | playbooks | kpi-effects |
experiments | lifecycle | lifecycle-apply | refresh."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from learnloop.analytics import LifecycleFlag, Metrics
from learnloop.analytics.models import Period
from learnloop.cli.context import JsonOut, console, opened, print_json, tenant_of

app = typer.Typer(
    help="Metrics, tool and playbook effectiveness, lifecycle rules.", no_args_is_help=True
)

Since = Annotated[
    datetime | None,
    typer.Option(formats=["%Y-%m-%d"], help="First UTC day (default: 30 days ago)."),
]
Until = Annotated[
    datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last UTC day (default: today).")
]
RATES = [
    ("recommendation rate", "recommendation_rate", "pct"),
    ("click-through rate", "click_through_rate", "pct"),
    ("success rate", "success_rate", "pct"),
    ("first-choice accuracy", "first_choice_accuracy", "pct"),
    ("mean reciprocal rank", "mean_reciprocal_rank", "num"),
    ("time to decision", "mean_time_to_decision_ms", "ms"),
    ("clicks per impression", "clicks_per_impression", "num"),
    ("abandon rate", "abandon_rate", "pct"),
]


def _filter(since: datetime | None, until: datetime | None, **more: Any) -> dict[str, Any]:
    given = {"since": since and since.date(), "until": until and until.date(), **more}
    return {name: value for name, value in given.items() if value is not None}


def _fmt(value: float | None, how: str = "pct") -> str:
    if value is None:
        return "-"
    return {"pct": f"{value:.1%}", "num": f"{value:.3f}", "ms": f"{value:,.0f} ms"}[how]


@app.command("metrics")
def metrics(
    ctx: typer.Context,
    since: Since = None,
    until: Until = None,
    period: Annotated[str, typer.Option(help="day or week.")] = "day",
    policy: Annotated[str | None, typer.Option(help="Only this policy.")] = None,
    experiment: Annotated[str | None, typer.Option(help="Only this experiment.")] = None,
    segment: Annotated[str | None, typer.Option(help="Only this context segment.")] = None,
    json_out: JsonOut = False,
) -> None:
    """Rates by day or week with totals, the funnel and the presentation-strategy mix."""
    f = _filter(since, until, policy=policy, experiment=experiment, segment=segment)
    with opened() as ll:
        tenant = tenant_of(ctx)
        result = ll.analytics.metrics(tenant, f, _period(period))
        funnel = ll.analytics.funnel(tenant, f)
        mix = ll.analytics.strategies(tenant, f)
        by_policy = ll.analytics.policies(tenant, f)
    if json_out:
        print_json(result)
        return
    console.print(_series(result))
    steps = ", ".join(
        f"{s.step} {s.impressions} ({_fmt(s.conversion_from_previous)})" for s in funnel.steps
    )
    console.print(f"funnel: shown {funnel.shown} -> {steps}")
    console.print("strategies: " + ", ".join(f"{s.strategy} {s.share:.0%}" for s in mix))
    for p in by_policy:
        console.print(
            f"policy {p.policy}: {p.impressions} impressions, success {_fmt(p.success_rate)}, "
            f"first choice {_fmt(p.first_choice_accuracy)}"
        )
    console.print(f"helpfulness: {_fmt(result.helpfulness_rate)} of {result.feedback} ratings")


def _period(period: str) -> Period:
    if period not in ("day", "week"):
        raise typer.BadParameter("use day or week", param_hint="--period")
    return "day" if period == "day" else "week"


def _series(result: Metrics) -> Table:
    table = Table("metric", *(str(p.period) for p in result.series[-7:]), "total")
    points = [*result.series[-7:], result.totals]
    table.add_row("impressions", *(str(p.counts.impressions) for p in points))
    for label, name, how in RATES:
        table.add_row(label, *(_fmt(getattr(p.rates, name), how) for p in points))
    return table


@app.command("referrers")
def referrers(
    ctx: typer.Context,
    since: Since = None,
    until: Until = None,
    policy: Annotated[str | None, typer.Option(help="Only this policy.")] = None,
    limit: Annotated[int, typer.Option(help="Referrers to show, most impressions first.")] = 50,
    json_out: JsonOut = False,
) -> None:
    """The funnel by referrer: where people came from (ai_chat, search, alert_page, ...)."""
    with opened() as ll:
        result = ll.analytics.referrers(
            tenant_of(ctx), _filter(since, until, policy=policy), limit=limit
        )
    if json_out:
        print_json(result)
        return
    table = Table(
        "referrer",
        "impressions",
        "viewed",
        "clicked",
        "executed",
        "succeeded",
        "success",
        title=f"funnel by referrer, {result.since} to {result.until}",
    )
    for r in result.referrers:
        steps = [f"{s.impressions} ({_fmt(s.conversion_from_previous)})" for s in r.steps]
        table.add_row(r.referrer or "(none)", str(r.impressions), *steps, _fmt(r.success_rate))
    console.print(table)


@app.command("items")
def items(
    ctx: typer.Context,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, typer.Option(help="How many of each (1-100).")] = 10,
    min_shown: Annotated[int, typer.Option(help="Only items shown this often.")] = 5,
    json_out: JsonOut = False,
) -> None:
    """The top and bottom items by click-through rate."""
    with opened() as ll:
        ranking = ll.analytics.top_items(
            tenant_of(ctx), _filter(since, until), limit=limit, min_shown=min_shown
        )
    if json_out:
        print_json(ranking)
        return
    for name, stats in (("top", ranking.top), ("bottom", ranking.bottom)):
        table = Table("id", "title", "impressions", "clicked", "CTR", "success", title=name)
        for s in stats:
            table.add_row(
                str(s.item_id),
                s.title,
                str(s.shown),
                str(s.clicked),
                _fmt(s.click_through_rate),
                _fmt(s.success_rate),
            )
        console.print(table)


@app.command("tools")
def tools(
    ctx: typer.Context,
    since: Since = None,
    until: Until = None,
    min_runs: Annotated[int, typer.Option(help="Runs a tool needs to be judged.")] = 5,
    json_out: JsonOut = False,
) -> None:
    """Per tool: executions, success rate, mean and p95 duration, first and last use."""
    with opened() as ll:
        report = ll.analytics.tools(tenant_of(ctx), _filter(since, until), min_runs=min_runs)
    if json_out:
        print_json(report)
        return
    table = Table("tool", "runs", "success", "mean", "p95", "first use", "last use")
    for t in report.tools:
        table.add_row(
            t.tool,
            str(t.executions),
            _fmt(t.success_rate),
            _fmt(t.mean_duration_ms, "ms"),
            _fmt(t.p95_duration_ms, "ms"),
            f"{t.first_used_at:%Y-%m-%d}",
            f"{t.last_used_at:%Y-%m-%d}",
        )
    console.print(table)
    console.print(f"top: {', '.join(report.top) or '-'}; low: {', '.join(report.low) or '-'}")


@app.command("kpi-effects")
def kpi_effects(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(help="The window before and after each run (1-3650).")] = 30,
    playbook: Annotated[str | None, typer.Option(help="Only this playbook.")] = None,
    json_out: JsonOut = False,
) -> None:
    """Each playbook's effect on its accounts' KPI series, window before against after."""
    with opened() as ll:
        report = ll.analytics.kpi_effects(tenant_of(ctx), window_days=days, playbook=playbook)
    if json_out:
        print_json(report)
        return
    table = Table("playbook", "kpi", "reports", "before", "after", "change", "improved")
    for e in report.effects:
        rel = "" if e.mean_relative_change is None else f" ({100 * e.mean_relative_change:+.1f}%)"
        table.add_row(
            e.playbook,
            e.kpi,
            str(e.reports),
            f"{e.mean_before:.3g}",
            f"{e.mean_after:.3g}",
            f"{e.mean_change:+.3g}{rel}",
            f"{e.improved}/{e.reports}",
        )
    console.print(table)


@app.command("playbooks")
def playbooks(
    ctx: typer.Context, since: Since = None, until: Until = None, json_out: JsonOut = False
) -> None:
    """Playbook effectiveness by account segment, from the playbook reports."""
    with opened() as ll:
        report = ll.analytics.playbooks(tenant_of(ctx), _filter(since, until))
    if json_out:
        print_json(report)
        return
    table = Table("playbook", "segment", "reports", "success", "days", "metric changes")
    for p in report.playbooks:
        changes = "; ".join(f"{m.metric} {m.mean_change:+.3g}" for m in p.metrics)
        days = "-" if p.mean_days_to_outcome is None else f"{p.mean_days_to_outcome:.1f}"
        table.add_row(
            p.playbook, p.segment or "-", str(p.reports), _fmt(p.success_rate), days, changes
        )
    console.print(table)
    for segment, playbook in report.best_by_segment.items():
        console.print(f"best for {segment or 'no segment'}: {playbook}")


@app.command("experiments")
def experiments(
    ctx: typer.Context, since: Since = None, until: Until = None, json_out: JsonOut = False
) -> None:
    """Each experiment's variants against the control: rates, lift and p-value."""
    with opened() as ll:
        results = ll.analytics.experiments(tenant_of(ctx), _filter(since, until))
    if json_out:
        print_json(results)
        return
    table = Table("experiment", "variant", "impressions", "CTR", "success", "lift", "p")
    for e in results:
        for v in e.variants:
            p_value = "-" if v.p_value is None else f"{v.p_value:.3f}"
            table.add_row(
                e.experiment,
                v.variant + (" (control)" if v.variant == e.control else ""),
                str(v.impressions),
                _fmt(v.click_through_rate),
                _fmt(v.success_rate),
                _fmt(v.lift_vs_control),
                p_value,
            )
    console.print(table)


Rule = Annotated[int, typer.Option(help="Runs needed before success is judged.")]


def _rules(unused_days: int, min_runs: int, below: float, above: float) -> dict[str, Any]:
    return {
        "unused_days": unused_days,
        "min_runs": min_runs,
        "deprecate_below": below,
        "promote_above": above,
    }


@app.command("lifecycle")
def lifecycle(
    ctx: typer.Context,
    unused_days: Annotated[int, typer.Option(help="Archive after this many days unused.")] = 90,
    min_runs: Rule = 20,
    deprecate_below: Annotated[float, typer.Option(help="Deprecate below this success.")] = 0.5,
    promote_above: Annotated[float, typer.Option(help="Promote from this success.")] = 0.8,
    json_out: JsonOut = False,
) -> None:
    """Tools, runbooks and playbooks to promote, deprecate or archive (changes nothing)."""
    rules = _rules(unused_days, min_runs, deprecate_below, promote_above)
    with opened() as ll:
        flags = ll.analytics.lifecycle(tenant_of(ctx), rules)
    if json_out:
        print_json(flags)
        return
    _print_flags(flags, "nothing to flag")


@app.command("lifecycle-apply")
def lifecycle_apply(
    ctx: typer.Context,
    unused_days: Annotated[int, typer.Option(help="Archive after this many days unused.")] = 90,
    min_runs: Rule = 20,
    deprecate_below: Annotated[float, typer.Option(help="Deprecate below this success.")] = 0.5,
    promote_above: Annotated[float, typer.Option(help="Promote from this success.")] = 0.8,
    json_out: JsonOut = False,
) -> None:
    """Apply the lifecycle rules: each flagged item gets its new status."""
    rules = _rules(unused_days, min_runs, deprecate_below, promote_above)
    with opened() as ll:
        flags = ll.analytics.apply_lifecycle(tenant_of(ctx), rules)
    if json_out:
        print_json(flags)
        return
    _print_flags(flags, "nothing to apply")


def _print_flags(flags: list[LifecycleFlag], empty: str) -> None:
    if not flags:
        console.print(empty)
        return
    table = Table("id", "kind", "title", "status", "action", "reason")
    for f in flags:
        table.add_row(
            str(f.item_id), f.kind, f.title, f"{f.status} -> {f.new_status}", f.action, f.reason
        )
    console.print(table)


@app.command("refresh")
def refresh(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option(help="Rebuild every day, not only what changed.")] = False,
) -> None:
    """Bring the analytics rollups up to date now (the worker does it on a schedule)."""
    with opened() as ll:
        result = ll.analytics.refresh(tenant_of(ctx), full=full)
    if result.refreshed:
        console.print(f"refreshed from {result.since}")
    else:
        console.print("another refresh of this tenant is running; skipped")

"""learnloop evaluate, learnloop learning ..., learnloop experiments ...: the learning
engine from the command line."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from learnloop.cli.context import JsonOut, console, opened, print_json, tenant_of
from learnloop.errors import InvalidInput

learning_app = typer.Typer(
    help="The tenant's policy, rewards and statistics.", no_args_is_help=True
)
experiments_app = typer.Typer(
    help="Experiments between policies or thresholds.", no_args_is_help=True
)


def evaluate(
    ctx: typer.Context,
    policy: Annotated[
        str | None,
        typer.Option(
            help="similarity, bayes, contextual, memory, logged: the logging policy itself, "
            "or logged:NAME: what the policy NAME did in its own (imported) log, estimated on "
            "the log of --logged-by (default: the live one)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="Evaluate on this many latest impressions.")] = 10_000,
    logged_by: Annotated[
        str | None,
        typer.Option(help="Only the impressions this policy logged (an imported log's policy)."),
    ] = None,
    per: Annotated[
        list[str] | None,
        typer.Option(
            help="With logged:NAME: its choices per value of this context key (repeat it for "
            "several), e.g. position."
        ),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """Estimate a policy's value offline on the logged impressions (IPS, SNIPS, DR)."""
    with opened() as ll:
        report = ll.learning.evaluate(
            tenant_of(ctx), policy, limit=limit, logged_by=logged_by, per=per or ()
        )
    if json_out:
        print_json(report)
        return
    table = Table("estimator", "value", "95% interval", title=f"policy {report['policy']}")
    for name, e in report["estimates"].items():
        table.add_row(name, f"{e['value']:.4f}", f"[{e['low']:.4f}, {e['high']:.4f}]")
    console.print(table)
    logged = report["logged_value"]
    console.print(
        f"{report['impressions']} impressions; logged value "
        f"{'n/a' if logged is None else f'{logged:.4f}'}; effective sample size "
        f"{report['effective_sample_size']:.0f}; MRR {_num(report['mrr'])}; "
        f"NDCG@3 {_num(report['ndcg_at_3'])}"
    )
    if "logged_by" in report:
        strata = f" per {', '.join(report['per'])}" if report["per"] else ""
        console.print(
            f"on the log of {report['logged_by']}; target from {report['target_impressions']} "
            f"impressions of its own log{strata}; support {report['support']:.0%}; clipped "
            f"{report['clipped_share']:.1%}; verdict {report['verdict']}",
            highlight=False,
        )
        for reason in report["reasons"]:
            console.print(f"  {reason}", highlight=False, markup=False)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@learning_app.command("show")
def show(ctx: typer.Context) -> None:
    """The tenant's learning settings."""
    with opened() as ll:
        print_json(ll.learning.config(tenant_of(ctx)))


@learning_app.command("set")
def set_(
    ctx: typer.Context,
    changes: Annotated[
        list[str],
        typer.Argument(help="key=value, e.g. policy=bayes shadow=contextual rewards.clicked=0.2"),
    ],
) -> None:
    """Change learning settings; the others keep their values."""
    with opened() as ll:
        print_json(ll.learning.configure(tenant_of(ctx), _changes(changes)))


def _changes(pairs: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"write each change as key=value, not {pair!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        *parents, last = key.split(".")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return result


@learning_app.command("update")
def update() -> None:
    """Bring the statistics up to date with every pending event (the worker does this)."""
    with opened() as ll:
        total = 0
        while (n := ll.learning.update()) > 0:
            total += n
    console.print(f"processed {total} pending outcomes")


@learning_app.command("stats")
def stats_(
    ctx: typer.Context,
    dimension: Annotated[str | None, typer.Option(help="Only this segment dimension.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
    json_out: JsonOut = False,
) -> None:
    """Statistics per item and segment."""
    with opened() as ll:
        rows = ll.learning.stats(tenant_of(ctx), dimension=dimension, limit=limit)
    if json_out:
        print_json(rows)
        return
    table = Table("dimension", "value", "item", "shows", "exposure", "reward")
    for r in rows:
        table.add_row(
            r["dimension"] or "(all)",
            r["value"],
            str(r["item_id"]),
            str(r["trials"]),
            f"{r['exposure']:.1f}",
            f"{r['reward']:.2f}",
        )
    console.print(table)


@learning_app.command("shadow")
def shadow(ctx: typer.Context) -> None:
    """Agreement and estimated value of the shadow policy beside the live one."""
    with opened() as ll:
        print_json(ll.learning.shadow(tenant_of(ctx)))


@learning_app.command("autoswitch")
def autoswitch(ctx: typer.Context) -> None:
    """Check now for an automatic switch or rollback of the live policy, and make it when
    the tenant turned auto_switch on (the worker checks every 5 minutes)."""
    with opened() as ll:
        print_json(ll.learning.autoswitch(tenant_of(ctx)))


@learning_app.command("switches")
def switches(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="At most this many, latest first.")] = 20,
) -> None:
    """The audit log of automatic switches and rollbacks, with their evidence."""
    if limit < 1:
        raise typer.BadParameter("use 1 or more", param_hint="--limit")
    with opened() as ll:
        print_json(ll.learning.switches(tenant_of(ctx), limit=limit))


@learning_app.command("calibrate")
def calibrate(
    ctx: typer.Context,
    method: Annotated[str, typer.Option(help="isotonic or platt.")] = "isotonic",
) -> None:
    """Fit the tenant's confidence on settled outcomes."""
    if method not in ("isotonic", "platt"):
        raise typer.BadParameter("use isotonic or platt", param_hint="--method")
    with opened() as ll:
        tenant = tenant_of(ctx)
        report = ll.learning.calibrate_report(tenant, method)  # type: ignore[arg-type]
        fitted = report["calibration"] if report["kept"] else None
    if fitted is None:
        reason = report.get("reason", "no fit")
        console.print(f"not calibrated: {reason}; confidence stays the baseline's", markup=False)
    else:
        console.print(f"{fitted.method} calibration fitted on {fitted.outcomes} outcomes")


@learning_app.command("adapter")
def adapter(
    ctx: typer.Context,
    action: Annotated[str, typer.Argument(help="train, status or drop.")] = "status",
) -> None:
    """The tenant's embedding adapter: fit it on clicked pairs (kept only when it beats the
    unadapted ranking on the newest of them), show the one in use, or drop it."""
    if action not in ("train", "status", "drop"):
        raise typer.BadParameter("use train, status or drop", param_hint="ACTION")
    with opened() as ll:
        tenant = tenant_of(ctx)
        if action == "drop":
            dropped = ll.learning.drop_adapter(tenant)
            console.print("adapter dropped" if dropped else "no adapter to drop")
            return
        if action == "status":
            print_json(ll.learning.adapter(tenant))
            return
        answer = ll.learning.train_adapter(tenant)
    verdict = "kept" if answer["kept"] else "not kept"
    console.print(f"adapter {verdict}: {answer['reason']}", markup=False)
    print_json(answer)


@learning_app.command("reliability")
def reliability(ctx: typer.Context) -> None:
    """Reliability-diagram data of the confidence in use."""
    with opened() as ll:
        print_json(ll.learning.reliability(tenant_of(ctx)))


@learning_app.command("threshold")
def threshold(
    ctx: typer.Context,
    precision: Annotated[float, typer.Option(help="The share of shown items that must help.")],
    apply: Annotated[bool, typer.Option(help="Make it the tenant's threshold.")] = False,
) -> None:
    """The lowest confidence threshold that reaches a target precision on outcomes, after
    the trade-off table (answered right / answered wrong / nothing shown) at each threshold."""
    with opened() as ll:
        table = ll.learning.thresholds(tenant_of(ctx))
        _print_tradeoffs(table)
        found = ll.learning.tune_threshold(tenant_of(ctx), precision, apply=apply)
    if found is None:
        console.print(f"no threshold reaches precision {precision}")
    else:
        console.print(f"threshold {found:.3f}" + (" applied" if apply else ""))


def _print_tradeoffs(table: dict[str, Any]) -> None:
    console.print(
        f"first items of {table['impressions']} impressions; threshold now {table['threshold']:.2f}"
    )
    console.print("threshold  right  wrong  nothing shown")
    for row in table["rows"]:
        console.print(
            f"{row['threshold']:9.2f}  {row['right']:5.1%}  {row['wrong']:5.1%}"
            f"  {row['nothing']:6.1%}",
            markup=False,
        )


@learning_app.command("simulate")
def simulate(
    interactions: Annotated[int, typer.Option(help="Simulated requests per policy.")] = 3000,
    seed: Annotated[int, typer.Option(help="The simulator's seed.")] = 1,
    window: Annotated[int, typer.Option(help="Report the mean of the last N.")] = 1000,
) -> None:
    """Each policy against the user simulator, in memory: learned vs baseline vs oracle."""
    from learnloop.learn.registry import simulated_policies
    from learnloop.learn.simulate import run
    from learnloop.learn.simulator import Simulator

    table = Table("policy", f"value (last {window})", "oracle", "share of oracle")
    for name in simulated_policies():
        trace = run(name, Simulator.synthetic(seed=seed), interactions, seed=seed)
        value, oracle = trace.mean(window), trace.oracle_mean(window)
        table.add_row(name, f"{value:.3f}", f"{oracle:.3f}", f"{value / oracle:.1%}")
    console.print(table)


@experiments_app.command("start")
def start(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The experiment's name.")],
    variant: Annotated[
        list[str],
        typer.Option(
            help="NAME[:key=value,...], e.g. control or learned:policy=bayes; "
            "the first is the control."
        ),
    ],
    unit: Annotated[str, typer.Option(help="Assign by user or session.")] = "user",
) -> None:
    """Start an experiment; the running one stops."""
    with opened() as ll:
        variants = [_variant(v) for v in variant]
        made = ll.learning.experiments.start(
            tenant_of(ctx), {"name": name, "unit": unit, "variants": variants}
        )
    print_json(made)


def _variant(text: str) -> dict[str, Any]:
    name, _, rest = text.partition(":")
    return {"name": name, **_changes([p for p in rest.split(",") if p])}


@experiments_app.command("list")
def list_(ctx: typer.Context) -> None:
    """The tenant's experiments, newest first."""
    with opened() as ll:
        print_json(ll.learning.experiments.list(tenant_of(ctx)))


@experiments_app.command("results")
def results(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Effect sizes, intervals, P(beat control) and the sample-ratio check."""
    with opened() as ll:
        print_json(ll.learning.experiments.results(tenant_of(ctx), name))


@experiments_app.command("stop")
def stop(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Stop an experiment; its results stay."""
    with opened() as ll:
        ll.learning.experiments.stop(tenant_of(ctx), name)
    console.print(f"experiment {name} stopped")

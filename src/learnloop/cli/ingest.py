"""learnloop import PATH, learnloop imports list | show | mappings, learnloop accounts ..."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, track
from rich.table import Table
from rich.text import Text

from learnloop.cli.context import JsonOut, console, err_console, opened, print_json, tenant_of
from learnloop.errors import InvalidInput
from learnloop.ingest import ImportReport
from learnloop.ingest.readers import MARKDOWN, SUPPORTED
from learnloop.service import LearnLoop

imports_app = typer.Typer(help="List past imports and saved column mappings.", no_args_is_help=True)
accounts_app = typer.Typer(
    help="Accounts, their health scores and KPI history.", no_args_is_help=True
)


def import_path(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(help="A file, a folder to import every file of, or - for standard input."),
    ],
    kind: Annotated[
        str | None,
        typer.Option(help="kpi_csv, kpi_list, faq, accounts or document; found when omitted."),
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="field=column, e.g. --map kpi=Kennzahl; saved for next time."),
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help="A JSON file of {field: column}.")] = None,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Store the good rows, report the bad ones.")
    ] = False,
    account: Annotated[
        str | None, typer.Option(help="The account of a KPI list that has no account column.")
    ] = None,
    item_kind: Annotated[
        str | None, typer.Option(help="Item kind for Markdown (runbook, playbook, ...).")
    ] = None,
    header_row: Annotated[
        int | None,
        typer.Option(help="The header's row number (from 1); 0 for a table without one."),
    ] = None,
    skip: Annotated[
        int | None, typer.Option(help="Rows to ignore at the top before finding the table.")
    ] = None,
    range_: Annotated[
        str | None,
        typer.Option(
            "--range", help="Cells to read, taken literally: A1:F200, Sheet!A1:F200, B:F, 5:200."
        ),
    ] = None,
    sheet: Annotated[
        str | None, typer.Option(help="Import only this sheet of a workbook (name or number).")
    ] = None,
    title_column: Annotated[
        str | None, typer.Option(help="The column that titles each item of a generic table.")
    ] = None,
    title_template: Annotated[
        str | None,
        typer.Option(help="Item titles from the columns, e.g. '{Name} ({Year})'."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            help="The file name for standard input (default stdin): its ending "
            "tells the format, and it keys the items."
        ),
    ] = None,
    on_duplicate: Annotated[
        str | None,
        typer.Option(
            help="A new item repeating a stored one of its kind (or an earlier row): warn "
            "(store it, report it), skip, merge (into it) or off (no check). Default: warn, "
            "or off with --no-embed (the check embeds each new row, as --embed does anyway)."
        ),
    ] = None,
    embed: Annotated[
        bool,
        typer.Option(
            "--embed/--no-embed",
            help="Embed the imported items now (default), or leave it to `learnloop worker`.",
        ),
    ] = True,
    json_out: JsonOut = False,
) -> None:
    """Import a file or a folder: delimited text, Excel, ODS, JSON, JSON Lines, Markdown,
    gzip-compressed or not; - reads standard input."""
    if str(path) != "-" and not path.exists():
        raise _fail(f"{path}: no such file or folder")
    options = {
        "kind": kind,
        "mapping": _mapping(map_ or [], mapping),
        "skip_bad_rows": skip_bad_rows,
        "account": account,
        "item_kind": item_kind,
        "header_row": header_row,
        "skip": skip,
        "range": range_,
        "sheet": sheet,
        "title_column": title_column,
        "title_template": title_template,
        "on_duplicate": on_duplicate or ("warn" if embed else "off"),
    }
    options = {k: v for k, v in options.items() if v not in (None, {})}
    with opened() as ll:
        if str(path) == "-":
            data = sys.stdin.buffer.read()
            reports = [ll.imports.import_file(tenant_of(ctx), data, name or "stdin", options)]
            failures: list[dict[str, str]] = []
        else:
            reports, failures = _run(ll, tenant_of(ctx), path, options, quiet=json_out)
        if embed:
            _embed_now(ll, tenant_of(ctx), quiet=json_out)
    if json_out:
        print_json([r.model_dump(mode="json") for r in reports] + failures)
    else:
        for report in reports:
            _print_report(report)
    if failures:
        raise typer.Exit(1)


def _run(
    ll: LearnLoop, tenant: str, path: Path, options: dict[str, Any], *, quiet: bool
) -> tuple[list[ImportReport], list[dict[str, str]]]:
    if path.is_file():
        return [ll.imports.import_file(tenant, path.read_bytes(), path.name, options)], []
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    markdown = [p for p in files if p.suffix.lower() in MARKDOWN]
    tables = [p for p in files if _inner_suffix(p) in SUPPORTED and p not in markdown]
    if not markdown and not tables:
        raise InvalidInput(
            f"{path}: no file to import; expected files ending in {', '.join(SUPPORTED)}"
        )
    reports, failures = [], []
    if markdown:
        docs = [(p.relative_to(path).as_posix(), p.read_bytes()) for p in markdown]
        name = docs[0][0] if len(docs) == 1 else f"{path.name}/ ({len(docs)} Markdown files)"
        reports.append(ll.imports.import_markdown(tenant, docs, options, name=name))
    for file in track(
        tables, description="importing", disable=quiet or len(tables) < 2, console=err_console
    ):
        try:
            reports.append(ll.imports.import_file(tenant, file.read_bytes(), file.name, options))
        except InvalidInput as exc:
            failures.append({"file_name": str(file), "error": exc.message})
            err_console.print(Text.assemble(("error:", "red"), " ", exc.message))
    return reports, failures


def _inner_suffix(path: Path) -> str:
    """'.csv' for data.csv and for data.csv.gz."""
    suffix = path.suffix.lower()
    return Path(path.stem).suffix.lower() if suffix == ".gz" else suffix


def _embed_now(ll: LearnLoop, tenant: str, *, quiet: bool) -> None:
    """Embed what the import left waiting, batch by batch, with a progress bar."""
    waiting = ll.indexer.status(tenant).pending
    if not waiting:
        return
    with Progress(console=err_console, disable=quiet) as progress:
        task = progress.add_task("embedding", total=waiting)
        while True:
            done = ll.indexer.embed_changes(tenant, max_batches=1)
            status = ll.indexer.status(tenant)
            progress.update(task, completed=waiting - status.pending)
            if not status.pending or not (done or status.queued_changes):
                break
            if not done:  # a running worker holds the next batch
                time.sleep(0.2)


def _mapping(pairs: list[str], file: Path | None) -> dict[str, str]:
    found: dict[str, str] = {}
    if file is not None:
        try:
            loaded = json.loads(file.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise _fail(f"--mapping {file}: not a readable JSON file: {exc}") from exc
        if not isinstance(loaded, dict):
            raise _fail(f"--mapping {file}: expected a JSON object of field: column")
        found |= {str(k): str(v) for k, v in loaded.items()}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise _fail(f"--map {pair!r}: write field=column, like --map kpi=Kennzahl")
        found[name.strip()] = column.strip()
    return found


def _fail(message: str) -> typer.Exit:
    err_console.print(Text.assemble(("error:", "red"), " ", message))
    return typer.Exit(1)


def _print_report(report: ImportReport) -> None:
    c = report.counts
    console.print(
        f"import {report.import_id}: {report.file_name} ({report.format}, {report.kind}, "
        f"confidence {report.confidence:.2f}) {report.status}: {c.rows} rows, "
        f"{c.created} created, {c.updated} updated, {c.unchanged} unchanged, "
        f"{c.accounts} accounts, {c.kpi_values} KPI values, {c.bad_rows} bad rows "
        f"in {report.duration_ms:.0f} ms"
    )
    if c.duplicates:
        console.print(
            f"  {c.duplicates} duplicates found: {c.duplicates_skipped} skipped, "
            f"{c.duplicates_merged} merged, "
            f"{c.duplicates - c.duplicates_skipped - c.duplicates_merged} kept"
        )
        for found in report.duplicates[:20]:
            of = f"item {found.item_id}" if found.item_id is not None else "an earlier row"
            console.print(
                f"  duplicate ({found.action}): {found.title!r} repeats {of} "
                f"{found.duplicate_title!r} (similarity {found.similarity:.3f})"
            )
    for sheet in report.sheets:
        where = f"header at row {sheet.header_row}" if sheet.header_row else "no header"
        console.print(
            f"  {sheet.name}: {sheet.kind}, {where}, {sheet.rows} rows"
            + (f" ({sheet.note})" if sheet.note else ""),
            highlight=False,
        )
        if sheet.rows:
            console.print(f"    table: {sheet.table}", highlight=False, markup=False)
        if sheet.title:
            console.print(f"    titles: {sheet.title}", highlight=False, markup=False)
    for error in report.errors[:20]:
        column = f" {error.column}" if error.column else ""
        console.print(f"  bad row {error.row}{column} ({error.sheet}): {error.message}")


@imports_app.command("list")
def list_imports(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="At most this many (1-500).")] = 50,
    json_out: JsonOut = False,
) -> None:
    """List imports, newest first: file, format, kind, status, counts, duration."""
    with opened() as ll:
        reports, _ = ll.imports.list(tenant_of(ctx), limit=limit)
    if json_out:
        print_json(reports)
        return
    table = Table("id", "file", "format", "kind", "status", "rows", "stored", "bad", "ms")
    for r in reports:
        stored = r.counts.created + r.counts.updated + r.counts.kpi_values
        table.add_row(
            str(r.import_id),
            r.file_name,
            r.format,
            r.kind,
            r.status,
            str(r.counts.rows),
            str(stored),
            str(r.counts.bad_rows),
            f"{r.duration_ms:.0f}",
        )
    console.print(table)


@imports_app.command("show")
def show_import(
    ctx: typer.Context,
    import_id: Annotated[int, typer.Argument(help="The import id.")],
    json_out: JsonOut = False,
) -> None:
    """Show one import in full, with every bad row."""
    with opened() as ll:
        report = ll.imports.get(tenant_of(ctx), import_id)
    if json_out:
        print_json(report)
    else:
        _print_report(report)


@imports_app.command("mappings")
def list_mappings(ctx: typer.Context, json_out: JsonOut = False) -> None:
    """List the column mappings saved for this tenant."""
    with opened() as ll:
        saved = ll.imports.mappings(tenant_of(ctx))
    if json_out:
        print_json(saved)
        return
    for m in saved:
        console.print(f"{', '.join(m.columns)}: {json.dumps(m.mapping, ensure_ascii=False)}")


@accounts_app.command("list")
def list_accounts(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="At most this many (1-1000).")] = 100,
    json_out: JsonOut = False,
) -> None:
    """List accounts with their health scores."""
    with opened() as ll:
        accounts = ll.accounts.list(tenant_of(ctx), limit=limit)
    if json_out:
        print_json(accounts)
        return
    table = Table("id", "name", "segment", "health")
    for a in accounts:
        health = "" if a.health_score is None else f"{a.health_score:.1f}"
        table.add_row(a.account_id, a.name, a.segment or "", health)
    console.print(table)


@accounts_app.command("kpis")
def account_kpis(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(help="The account id.")],
    json_out: JsonOut = False,
) -> None:
    """Show an account's KPI history, oldest value first per KPI."""
    with opened() as ll:
        values = ll.accounts.kpis(tenant_of(ctx), account_id)
    if json_out:
        print_json(values)
        return
    table = Table("kpi", "category", "value", "unit", "weight", "impact", "recorded")
    for v in values:
        table.add_row(
            v.kpi,
            v.category or "",
            f"{v.value:g}",
            v.unit or "",
            f"{v.weight:g}",
            v.impact_level or "",
            v.recorded_at.isoformat(timespec="seconds"),
        )
    console.print(table)


def templates(
    directory: Annotated[
        Path, typer.Argument(help="Where to write the templates (default: here).")
    ] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite templates already there.")] = False,
) -> None:
    """Write the standard KPI templates (Excel and CSV) to fill in and import."""
    from learnloop.ingest.templates import TEMPLATES

    directory.mkdir(parents=True, exist_ok=True)
    there = [name for name in TEMPLATES if (directory / name).exists()]
    if there and not force:
        raise _fail(f"{', '.join(there)} already in {directory}; --force overwrites them")
    for name, found in TEMPLATES.items():
        (directory / name).write_bytes(found.build())
        console.print(f"{directory / name}: {found.description}", highlight=False)


@accounts_app.command("series")
def account_series(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(help="The account id.")],
    kpi: Annotated[str | None, typer.Option(help="Only this KPI.")] = None,
    json_out: JsonOut = False,
) -> None:
    """Show each KPI of an account over time, with its trend."""
    with opened() as ll:
        series = ll.accounts.series(tenant_of(ctx), account_id, kpi=kpi)
    if json_out:
        print_json(series)
        return
    table = Table("kpi", "points", "first", "last", "change", "per day", "trend")
    for s in series:
        t = s.trend
        if t is None:
            continue
        change = "" if t.relative_change is None else f"{100 * t.relative_change:+.1f}%"
        slope = "" if t.slope_per_day is None else f"{t.slope_per_day:+.3g}"
        verdict = {True: " (better)", False: " (worse)", None: ""}[t.better]
        table.add_row(
            s.kpi,
            str(t.points),
            f"{t.first:g}",
            f"{t.last:g}",
            change,
            slope,
            t.direction + verdict,
        )
    console.print(table)


@accounts_app.command("health")
def account_health(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(help="The account id.")],
    json_out: JsonOut = False,
) -> None:
    """Show an account's health score at every time of its KPI series."""
    with opened() as ll:
        history = ll.accounts.health_history(tenant_of(ctx), account_id)
    if json_out:
        print_json(history)
        return
    table = Table("as of", "health", "KPIs")
    for h in history:
        score = "" if h.score is None else f"{h.score:.1f}"
        table.add_row(h.as_of.isoformat(timespec="seconds"), score, str(h.kpis))
    console.print(table)


@accounts_app.command("record")
def account_record(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(help="The account id.")],
    kpi: Annotated[str, typer.Argument(help="The KPI's name.")],
    value: Annotated[float, typer.Argument(help="Its value.")],
    at: Annotated[
        datetime | None, typer.Option(help="When it was measured (default: now, undated).")
    ] = None,
    unit: Annotated[str | None, typer.Option(help="Its unit, e.g. % or USD.")] = None,
    target: Annotated[float | None, typer.Option(help="Its target.")] = None,
) -> None:
    """Record one KPI value of an account: a point of its series when dated."""
    point = {"kpi": kpi, "value": value, "recorded_at": at, "unit": unit, "target": target}
    with opened() as ll:
        report = ll.imports.record_kpis(tenant_of(ctx), account_id, {"values": [point]})
    stored = report.counts.kpi_values
    console.print(f"import {report.import_id}: {stored} value{'s' * (stored != 1)} stored")


@accounts_app.command("events")
def account_events(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account's events.")] = None,
    type_: Annotated[
        str | None,
        typer.Option("--type", help="kpi_updated, temporal_data_added or health_scores_updated."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many (1-1000).")] = 100,
    json_out: JsonOut = False,
) -> None:
    """List the data events KPI writes made, newest first."""
    with opened() as ll:
        events = ll.accounts.events(tenant_of(ctx), type=type_, account_id=account, limit=limit)
    if json_out:
        print_json(events)
        return
    table = Table("id", "when", "type", "account", "import", "what")
    for e in events:
        what = json.dumps(e.payload, ensure_ascii=False)
        table.add_row(
            str(e.event_id),
            e.created_at.isoformat(timespec="seconds"),
            e.type,
            e.account_id or "",
            str(e.import_id or ""),
            what,
        )
    console.print(table)

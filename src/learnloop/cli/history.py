"""learnloop import-log FILE: an existing assistant's history as impressions and events."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from learnloop.cli.context import JsonOut, console, opened, print_json, tenant_of
from learnloop.errors import InvalidInput
from learnloop.history import HistoryReport


def import_log(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A log: .jsonl (JSON Lines) or .csv, or .gz.")],
    source: Annotated[
        str, typer.Option(help="The system the log comes from; its ids are unique within it.")
    ] = "log",
    policy: Annotated[
        str, typer.Option(help="The policy name of entries that name none.")
    ] = "imported",
    format: Annotated[
        str | None, typer.Option(help="jsonl or csv (default: from the file name).")
    ] = None,
    rebase: Annotated[
        bool, typer.Option(help="Move the log's times so its latest entry is now.")
    ] = False,
    skip_bad_rows: Annotated[
        bool, typer.Option(help="Store the good entries, report the bad ones.")
    ] = False,
    json_out: JsonOut = False,
) -> None:
    """Import an assistant's audit log (solutions presented, choices made) as impressions
    and events; importing it again stores nothing twice."""
    options = {"source": source, "policy": policy, "rebase": rebase,
               "skip_bad_rows": skip_bad_rows}  # fmt: skip
    with opened() as ll:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"{file}: cannot read it ({exc.strerror})") from exc
        report = ll.history.import_log(tenant_of(ctx), data, file.name, options, format=format)
    if json_out:
        print_json(report)
        return
    _print(report)


def _print(report: HistoryReport) -> None:
    moved = (f"; times moved by {report.rebased_by_seconds / 86400:.1f} days"
             if report.rebased_by_seconds else "")  # fmt: skip
    console.print(
        f"{report.file_name} ({report.format}, source {report.source}) {report.status}: "
        f"{report.entries} entries, {report.impressions} new impressions, "
        f"{report.duplicates} imported before, {report.events} events, "
        f"{report.items_created} items created, {report.bad_entries} bad entries"
        f"{moved} in {report.duration_ms:.0f} ms",
        highlight=False,
    )
    for error in report.errors[:20]:
        field = f" {error.field}" if error.field else ""
        console.print(
            f"  bad line {error.line}{field}: {error.message}", highlight=False, markup=False
        )
    if report.impressions:
        console.print(
            "next: learnloop evaluate --policy logged --logged-by POLICY, or any "
            "policy, on these impressions (another imported policy: --policy "
            "logged:OTHER --logged-by POLICY)",
            highlight=False,
        )

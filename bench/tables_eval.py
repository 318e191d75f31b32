"""Table detection against what each messy file really holds.

    .venv/bin/python bench/tables_eval.py [--data DIR] [--expected FILE]

Reads every file of ../shared/data/messy_tables/messytables_horror the way an import does
(``parse_file``: read, find the header and the end of the table, map, validate; nothing
stored) and compares, file by file, the header rows and the number of data rows found
with those in bench/data/messy_tables_expected.json (written by looking at each file),
or, where an error is expected, the error given. Prints one line per file and a total:
files right, and the header and row-count figures apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learnloop.errors import InvalidInput
from learnloop.ingest.service import parse_file

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "messy_tables" / "messytables_horror"
EXPECTED = ROOT / "bench" / "data" / "messy_tables_expected.json"


@dataclass
class Outcome:
    """What was found in one file, against what was expected."""

    name: str
    header: str | None = None
    rows: int | None = None
    columns: list[str] | None = None
    error: str | None = None
    header_ok: bool = False
    rows_ok: bool = False
    error_ok: bool = True

    @property
    def right(self) -> bool:
        return self.header_ok and self.rows_ok and self.error_ok


def expectations(path: Path = EXPECTED) -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = json.loads(path.read_text("utf-8"))["files"]
    return files


def check(path: Path, expected: dict[str, Any]) -> Outcome:
    """Read ``path`` as an import would and compare it with ``expected``."""
    found = Outcome(path.name)
    try:
        plan, report = parse_file(path.read_bytes(), path.name)
    except InvalidInput as exc:
        found.error = exc.message
        found.header_ok = found.rows_ok = "header" not in expected
        found.error_ok = expected.get("error", "\0") in exc.message
        return found
    sheets = [s for s in report.sheets if s.rows] or report.sheets
    sheet = next((s for s in sheets if s.name == expected.get("sheet")), sheets[0])
    rows = sheet.header_rows
    found.header = (
        None if not rows else str(rows[0]) if len(rows) == 1 else (f"{rows[0]}-{rows[-1]}")
    )
    found.rows, found.columns = sheet.rows, sheet.columns
    found.error = plan.errors[0].message if plan.errors else None
    found.header_ok = "header" in expected and expected["header"] == found.header
    found.rows_ok = expected.get("rows") == found.rows and _columns_ok(expected, sheet.columns)
    want_error = expected.get("error")
    found.error_ok = (
        (found.error is None)
        if want_error is None
        else (found.error is not None and want_error in found.error)
    )
    return found


def _columns_ok(expected: dict[str, Any], columns: list[str]) -> bool:
    wanted = expected.get("columns") or []
    return columns[: len(wanted)] == wanted


def _line(outcome: Outcome, expected: dict[str, Any]) -> str:
    mark = "ok  " if outcome.right else "MISS"
    want = (
        f"header {expected['header'] or 'none'}, {expected.get('rows')} rows"
        if "header" in expected
        else "no table"
    )
    got = (
        f"header {outcome.header or 'none'}, {outcome.rows} rows"
        if outcome.rows is not None
        else "no table"
    )
    error = ""
    if expected.get("error") or outcome.error:
        error = f"; error expected {expected.get('error')!r}, given {_short(outcome.error)}"
    return f"{mark} {outcome.name}: expected {want}; found {got}{error}"


def _short(text: str | None) -> str:
    if text is None:
        return "none"
    return repr(text if len(text) <= 70 else text[:67] + "...")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--expected", type=Path, default=EXPECTED)
    args = parser.parse_args(argv)
    wanted = expectations(args.expected)
    outcomes = []
    for name, expected in sorted(wanted.items()):
        outcome = check(args.data / name, expected)
        outcomes.append(outcome)
        print(_line(outcome, expected))
    unlisted = sorted(
        p.name
        for p in args.data.iterdir()
        if p.suffix not in (".md", ".txt") and p.name not in wanted
    )
    right = sum(o.right for o in outcomes)
    headers = sum(o.header_ok for o in outcomes)
    counts = sum(o.rows_ok for o in outcomes)
    errors = sum(bool(wanted[o.name].get("error")) and o.error_ok for o in outcomes)
    print(
        f"total: {right}/{len(outcomes)} files right (header {headers}/{len(outcomes)}, "
        f"row count {counts}/{len(outcomes)}, expected errors given {errors}/"
        f"{sum(bool(e.get('error')) for e in wanted.values())})"
        + (f"; not in the expectations: {', '.join(unlisted)}" if unlisted else "")
    )
    return 0 if right == len(outcomes) and not unlisted else 1


if __name__ == "__main__":
    sys.exit(main())

"""Reading a log file into entries: JSON Lines (one entry a line) or CSV (one row per
solution presented, the rows of one entry sharing its ``log_id``), each entry with the
line it starts on and the line of each of its solutions, so an error names the line."""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Literal

from learnloop.errors import InvalidInput
from learnloop.history.models import RowError

Format = Literal["jsonl", "csv"]
ENTRY_COLUMNS = ("created_at", "query", "session_id", "user_id", "account_id", "policy",
                 "strategy")  # fmt: skip
SOLUTION_COLUMNS = {"solution_id": "id", "item_id": "item_id", "solution_type": "type",
                    "title": "title", "rank": "rank", "confidence": "confidence",
                    "score": "score", "propensity": "propensity"}  # fmt: skip
CHOICE_COLUMNS = ("action", "action_at")
KNOWN = {"log_id", *ENTRY_COLUMNS, *SOLUTION_COLUMNS, *CHOICE_COLUMNS}


@dataclass
class Entry:
    """One entry as read, before validation: its data, its first line, and the line of
    each solution (CSV: one row each; JSON Lines: all on the entry's line)."""

    data: dict[str, Any]
    line: int
    solution_lines: list[int] = field(default_factory=list)

    def line_of(self, loc: tuple[int | str, ...]) -> int:
        if len(loc) >= 2 and loc[0] == "solutions_presented":
            at = loc[1]
            if isinstance(at, int) and at < len(self.solution_lines):
                return self.solution_lines[at]
        return self.line


def format_of(file_name: str, given: str | None = None) -> Format:
    name = file_name.lower().removesuffix(".gz")
    fmt = given or ("csv" if name.endswith(".csv") else "jsonl" if PurePath(name).suffix in (
        ".jsonl", ".ndjson", ".json", ".log") else None)  # fmt: skip
    if fmt not in ("jsonl", "csv"):
        raise InvalidInput(
            f"{file_name}: say which format the log is in: a name ending .jsonl (JSON Lines, "
            "one entry a line) or .csv (one row per solution presented), or format=jsonl|csv"
        )
    return fmt  # type: ignore[return-value]


def read_log(data: bytes, fmt: Format) -> tuple[list[Entry], list[RowError]]:
    """The entries of a log file, and an error for each line that is not one."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"the log is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        raise InvalidInput(message) from exc
    return _jsonl(text) if fmt == "jsonl" else _csv(text)


def _jsonl(text: str) -> tuple[list[Entry], list[RowError]]:
    entries, errors = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            errors.append(RowError(line=number, field=None, message=f"not JSON: {exc}"))
            continue
        if not isinstance(value, dict):
            errors.append(RowError(line=number, field=None, message="not a JSON object"))
            continue
        entries.append(Entry(value, number))
    return entries, errors


def _csv(text: str) -> tuple[list[Entry], list[RowError]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    if "log_id" not in header or ("solution_id" not in header and "item_id" not in header):
        raise InvalidInput(
            "a CSV log needs the columns log_id and solution_id (or item_id), one row per "
            f"solution presented; seen: {', '.join(header) or '(none)'}"
        )
    unknown = [h for h in header if h not in KNOWN and not h.startswith("context.")]
    if unknown:
        raise InvalidInput(
            f"unknown columns {', '.join(unknown)}: use {', '.join(sorted(KNOWN))}, or "
            "context.NAME for a context value"
        )
    entries: dict[str, Entry] = {}
    errors: list[RowError] = []
    for number, raw in enumerate(reader, 2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if None in raw:
            errors.append(RowError(line=number, field=None, message="more values than columns"))
            continue
        key = row["log_id"]
        if not key:
            errors.append(RowError(line=number, field="log_id", message="log_id is empty"))
            continue
        entry = entries.get(key)
        if entry is None:
            entry = entries[key] = Entry(_entry_of(key, row), number)
        _add_row(entry, row, number)
    return list(entries.values()), errors


def _entry_of(key: str, row: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {"id": key, "solutions_presented": [], "choices": []}
    data |= {c: row[c] for c in ENTRY_COLUMNS if row.get(c)}
    context = {k.removeprefix("context."): v for k, v in row.items() if k.startswith("context.")}
    data["context"] = {k: v for k, v in context.items() if v}
    return data


def _add_row(entry: Entry, row: dict[str, str], number: int) -> None:
    solution = {name: row[c] for c, name in SOLUTION_COLUMNS.items() if row.get(c)}
    solution.setdefault("rank", str(len(entry.data["solutions_presented"]) + 1))
    entry.data["solutions_presented"].append(solution)
    entry.solution_lines.append(number)
    for action in filter(None, (a.strip() for a in row.get("action", "").replace("|", ";")
                                .split(";"))):  # fmt: skip
        choice = {"action": action, "rank": solution["rank"], "at": row.get("action_at") or None}
        entry.data["choices"].append({k: v for k, v in choice.items() if v})

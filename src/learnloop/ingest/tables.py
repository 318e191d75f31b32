"""Finding the header row under titles and notes, and the cells as plain values.

The header is the first row, among the first 30, that looks like names (most of its
cells are words or years, not measurements) and is nearly as wide as the widest such
row. A table with no such row gets the names column_1, column_2, ...
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from learnloop.ingest.readers import Sheet

HEADER_SCAN = 30
_NULLS = {"", "null", "none", "nan", "n/a", "na", "-", "--", ".", "..."}
_NUMBER = re.compile(r"^[+-]?[\d.,\s']*\d[\d.,\s']*$")
_YEAR = re.compile(r"^(1[89]|20)\d\d$")


@dataclass
class Table:
    """Rows under a header: ``rows[n]`` has one value per column, from sheet row ``numbers[n]``."""

    name: str
    header: list[str]
    header_row: int | None
    rows: list[list[Any]] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)


def cell(value: Any) -> Any:
    """A cell as a JSON-friendly value: text stripped (and without NUL characters), whole
    floats as ints, dates as ISO text."""
    if isinstance(value, str):
        value = value.replace("\x00", "").strip()  # PostgreSQL text cannot hold NUL
        return value or None
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict | list):  # from JSON: kept nested, without NUL characters
        return json.loads(json.dumps(value).replace("\\u0000", ""))
    return value


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NULLS)


def to_table(sheet: Sheet) -> Table:
    """The sheet's header and data rows; blank rows dropped, short rows padded."""
    raw = [[cell(v) for v in row] for row in sheet.rows]
    at = find_header(raw)
    if at is None:
        width = max((len(_trimmed(r)) for r in raw), default=0)
        header, start = [f"column_{n}" for n in range(1, width + 1)], 0
    else:
        header, start = unique_names(_trimmed(raw[at])), at + 1
    table = Table(sheet.name, header, at)
    for number, row in enumerate(raw[start:], start + 1):
        cells = _trimmed(row)
        if not any(not is_blank(v) for v in cells):
            continue
        table.widths.append(len(cells))
        table.rows.append((cells + [None] * len(header))[: len(header)])
        table.numbers.append(number)
    return table


def find_header(rows: list[list[Any]]) -> int | None:
    """The index of the header row, or None when no row of the first 30 looks like one."""
    widths = {
        n: _filled(row) for n, row in enumerate(rows[:HEADER_SCAN]) if _names_like(row)
    }
    if not widths:
        return None
    widest = max(widths.values())
    return next(n for n, w in widths.items() if w >= 0.8 * widest)


def unique_names(cells: list[Any]) -> list[str]:
    """Column names: blanks named column_N, repeats suffixed _2, _3."""
    names: list[str] = []
    for n, value in enumerate(cells, 1):
        name = str(value).strip() if value is not None else ""
        name = name or f"column_{n}"
        base, k = name, 2
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.append(name)
    return names


def _names_like(row: list[Any]) -> bool:
    """Most cells are words or years (a header of years is still a header)."""
    values = [v for v in row if not is_blank(v)]
    words = sum(_is_word(v) for v in values)
    years = sum(bool(_YEAR.match(str(v))) for v in values)
    return bool(values) and (words + years) * 2 >= len(values) and (words >= 1 or years >= 2)


def _is_word(value: Any) -> bool:
    return isinstance(value, str) and not _NUMBER.match(value) and not _is_date(value)


def _is_date(value: str) -> bool:
    return bool(re.match(r"^\d{4}-\d\d-\d\d([T ].*)?$", value))


def _filled(row: list[Any]) -> int:
    return sum(not is_blank(v) for v in row)


def _trimmed(row: list[Any]) -> list[Any]:
    end = len(row)
    while end and row[end - 1] is None:
        end -= 1
    return row[:end]

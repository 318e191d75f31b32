"""A sheet's rows as a table: its header, its data rows, and the evidence for both.

The header is found by what the rows hold (``layout``), the end of the table by blank
rows, notes and totals (``ends``); the caller can set either: ``header_row`` (a row
number from 1; 0 for none), ``skip`` (rows ignored at the top), ``range`` ('A1:F200',
taken literally). Every choice is kept with its reason for the import report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from learnloop.errors import InvalidInput
from learnloop.ingest.cells import cell, filled, is_blank, trimmed
from learnloop.ingest.ends import Body, find_body
from learnloop.ingest.layout import Header, Profile, find_header, is_title, profile
from learnloop.ingest.ranges import CellRange
from learnloop.ingest.readers import Sheet

__all__ = ["Layout", "Table", "cell", "is_blank", "to_table", "unique_names"]


@dataclass(frozen=True)
class Layout:
    """What the caller says about where the table is; None and 0 leave it to detection."""

    header_row: int | None = None
    skip: int = 0
    range: CellRange | None = None


@dataclass
class Table:
    """Rows under a header: ``rows[n]`` has one value per column, from sheet row ``numbers[n]``
    (counting from 1); ``header_rows`` the rows merged into the header."""

    name: str
    header: list[str]
    header_rows: list[int] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)
    header_reason: str = ""
    stopped_at: int | None = None
    stop_reason: str = "the end of the sheet"
    dropped: list[str] = field(default_factory=list)

    @property
    def header_row(self) -> int | None:
        return self.header_rows[0] if self.header_rows else None


def to_table(sheet: Sheet, layout: Layout | None = None) -> Table:
    """The sheet's header and data rows; blank rows dropped, short rows padded."""
    layout = layout or Layout()
    raw = [[cell(v) for v in row] for row in sheet.rows]
    if layout.range is not None:
        raw = layout.range.apply(raw)
    start = _start(raw, layout, sheet.name)
    header, reason = _header(raw, start, layout, sheet)
    shape = profile(raw[start:])
    begin = header.body if header else _first_row(raw, start, shape, layout)
    literal = layout.range is not None or sheet.fixed_header
    last = list(trimmed(raw[header.rows[-1]])) if header else None
    body = find_body(raw, begin, shape, last, literal=literal)
    return _build(sheet.name, raw, header, reason, body)


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


def _start(raw: list[list[Any]], layout: Layout, name: str) -> int:
    start = max(layout.skip, layout.range.first_row if layout.range else 0)
    if layout.skip and layout.skip >= len(raw):
        raise InvalidInput(f"skip {layout.skip}: {name} has only {len(raw)} rows")
    return start


def _header(
    raw: list[list[Any]], start: int, layout: Layout, sheet: Sheet
) -> tuple[Header | None, str]:
    """The header (or None) and why."""
    if layout.header_row == 0:
        return None, "none, as asked (header row 0)"
    if layout.header_row is not None:
        return _asked(raw, layout.header_row, start, sheet.name), "as asked"
    if sheet.fixed_header:
        return (
            Header([0], list(raw[0]), 1, "the keys of the objects") if raw else None,
            "the keys of the objects",
        )
    if layout.range is not None:
        first = next((n for n in range(start, len(raw)) if filled(raw[n])), None)
        if first is None:
            return None, f"none: the range {layout.range.text} is empty"
        return Header([first], list(trimmed(raw[first])), first + 1, ""), (
            f"the first row of the range {layout.range.text}"
        )
    found = find_header(raw, start)
    if found is None:
        return None, "none: no row holds names over the rows below (columns column_1, ...)"
    return found, found.reason + _above(raw, start, found.rows[0])


def _asked(raw: list[list[Any]], row: int, start: int, name: str) -> Header:
    if row > len(raw):
        raise InvalidInput(f"header_row {row}: {name} has only {len(raw)} rows")
    if row <= start:
        raise InvalidInput(
            f"header_row {row}: that row is skipped (skip {start}); "
            "give a later header row or a smaller skip"
        )
    if not filled(raw[row - 1]):
        raise InvalidInput(f"header_row {row}: row {row} of {name} is empty")
    return Header([row - 1], list(trimmed(raw[row - 1])), row, "as asked")


def _above(raw: list[list[Any]], start: int, first: int) -> str:
    skipped = [n + 1 for n in range(start, first) if filled(raw[n])]
    if not skipped:
        return ""
    return f"; {_rows_text(skipped)} above it skipped (titles and notes)"


def _first_row(raw: list[list[Any]], start: int, shape: Profile, layout: Layout) -> int:
    """With no header: the first row that is not a title (when detecting)."""
    n = start
    detecting = layout.header_row is None and layout.range is None
    while n < len(raw) and (
        not filled(raw[n]) or (detecting and is_title(raw[n], shape) and n + 1 < len(raw))
    ):
        n += 1
    return n


def _build(
    name: str, raw: list[list[Any]], header: Header | None, reason: str, body: Body
) -> Table:
    lines = [trimmed(raw[n]) for n in body.rows]
    if header is not None:
        names = unique_names(header.names)
    else:
        width = max((len(line) for line in lines), default=0)
        names = [f"column_{n}" for n in range(1, width + 1)]
    table = Table(
        name,
        names,
        [n + 1 for n in header.rows] if header else [],
        header_reason=reason,
        stop_reason=body.reason,
        dropped=body.dropped,
    )
    table.stopped_at = None if body.stopped_at is None else body.stopped_at + 1
    for n, line in zip(body.rows, lines, strict=True):
        table.widths.append(len(line))
        table.rows.append((line + [None] * len(names))[: len(names)])
        table.numbers.append(n + 1)
    return table


def _rows_text(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"row {numbers[0]}"
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"rows {numbers[0]}-{numbers[-1]}"
    if len(numbers) > 6:
        return f"{len(numbers)} rows between {numbers[0]} and {numbers[-1]}"
    return "rows " + ", ".join(map(str, numbers))

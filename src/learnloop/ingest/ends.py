"""Where a table ends: blank rows followed by something else, notes, totals.

Reading down from the first data row:

- blank rows are skipped while the row after them still fits the table (as wide as half
  a data row, numbers where the numeric columns are); a blank row followed by a note,
  a title, a lone cell or a new header ends the table there;
- a note row ends it even without a blank row before it: one or two cells in a wider
  table starting 'Note', 'Source', 'Fuente', 'Quelle', '*', '(1) ', or one cell of a
  sentence's length;
- a totals row ('Total', 'Totaal', 'Summe', 'Gesamt', ...) as the last data row is not
  data: it is left out and named (a subtotal in the middle of the table stays);
- a row that repeats the header (a header printed again on every page) is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from learnloop.ingest.cells import has_value, is_blank
from learnloop.ingest.layout import LONG_CELL, Profile, is_data, is_note, is_title

_TOTAL = re.compile(
    r"^(grand\s+|sub\s?-?)?(total|totals|totaal|totale|totaux|summe|gesamt|insgesamt|sum"
    r"|gesamtsumme|total general|totalt|yhteensä|razem)\b",
    re.IGNORECASE,
)


@dataclass
class Body:
    """The data rows (indexes into the sheet's rows) and where and why reading stopped."""

    rows: list[int] = field(default_factory=list)
    stopped_at: int | None = None  # the index of the first row left out at the end
    reason: str = "the end of the sheet"
    dropped: list[str] = field(default_factory=list)


def find_body(
    rows: list[list[Any]],
    begin: int,
    shape: Profile,
    header: list[Any] | None = None,
    *,
    literal: bool = False,
) -> Body:
    """The data rows from ``begin``; with ``literal`` (a range given) every non-blank row."""
    body = Body()
    names = [v for v in header if not is_blank(v)] if header else []
    blank_from: int | None = None
    for n in range(begin, len(rows)):
        row = rows[n]
        if not has_value(row):
            blank_from = n if blank_from is None else blank_from
            continue
        stop = None if literal or not body.rows else _stop(row, shape, blank_from is not None)
        if stop is not None:
            body.stopped_at = n if blank_from is None else blank_from
            body.reason = stop
            break
        blank_from = None
        if len(names) >= 2 and _repeats(row, names):
            body.dropped.append(f"row {n + 1}: the header again")
            continue
        body.rows.append(n)
    if not literal:
        _drop_totals(rows, body)
    return body


def is_total(row: list[Any]) -> bool:
    """A totals row: its first text cell says so, and it holds numbers.

    >>> is_total(["Total", "120,522"]), is_total(["Totaal", None, 3]), is_total(["Totally", 1])
    (True, True, False)
    """
    cells = [v for v in row if not is_blank(v)]
    label = next((v for v in cells[:2] if isinstance(v, str) and not v.strip()[:1].isdigit()), None)
    return label is not None and bool(_TOTAL.match(label.strip())) and len(cells) >= 2


def _stop(row: list[Any], shape: Profile, after_blank: bool) -> str | None:
    """Why the table ends at ``row``, or None where it goes on."""
    if not after_blank and _more_than(row, max(1, shape.width // 3)):
        return None  # too full for a note: the common case, decided without a full count
    cells = [v for v in row if not is_blank(v)]
    first = str(cells[0])
    if len(cells) <= max(1, shape.width // 3) and _note_row(cells, shape):
        prefix = "a blank row, then " if after_blank else ""
        return f"{prefix}a note ({_quote(first)})"
    if not after_blank or is_data(row, shape):
        return None
    if is_title(row, shape) or len(cells) * 2 < shape.width:
        return f"a blank row, then a row that does not fit the table ({_quote(first)})"
    if shape.numeric_cells(row):
        return f"a blank row, then another header or table ({_quote(first)})"
    return None


def _more_than(row: list[Any], k: int) -> bool:
    seen = 0
    for value in row:
        if value is not None and not is_blank(value):
            seen += 1
            if seen > k:
                return True
    return False


def _note_row(cells: list[Any], shape: Profile) -> bool:
    few = len(cells) <= max(1, shape.width // 3)
    long = len(cells) == 1 and shape.width >= 3 and len(str(cells[0])) > LONG_CELL
    return (few and is_note(cells[0])) or long


def _repeats(row: list[Any], names: list[Any]) -> bool:
    first = next((v for v in row if v is not None), None)
    return first == names[0] and [v for v in row if not is_blank(v)] == names


def _drop_totals(rows: list[list[Any]], body: Body) -> None:
    while body.rows and len(body.rows) > 1 and is_total(rows[body.rows[-1]]):
        n = body.rows.pop()
        label = next(str(v) for v in rows[n] if not is_blank(v))
        body.reason = f"a totals row ({_quote(label)}), then {body.reason}"
        body.stopped_at = n


def _quote(text: str) -> str:
    line = " ".join(text.split())
    return repr(line if len(line) <= 40 else line[:37] + "...")

"""Where a table's header is: by what the rows hold, not by their width alone.

The rows are read as a profile: which columns hold numbers or dates (at least 60% of
their filled cells, ``numeric columns``) and how wide a data row is (the modal count of
filled cells, as messytables counts it). Then:

1. the body starts at the first row with numbers in the numeric columns that the next
   rows confirm (two of the next three rows with cells there are numeric too);
2. walking up from it, rows with nothing in the numeric columns (section rows such as
   'Chirurgie ...') stay in the body, and the header is the block of rows just above
   that hold text (or a row of years) over the numeric columns; up to four such rows,
   with no blank row between them, are merged column by column ('provincie' over 'A'
   over 'Groningen' is 'provincie A Groningen'); a row of parenthesised units under the
   header ('(at birth)') joins it;
3. a table of text alone has no such contrast: its header is the first row that is as
   wide as half a data row, holds distinct short names and does not repeat in the
   column below (a one-column list has none);
4. title and note rows never head a table: one cell over a wider table, a cell of a
   sentence's length, or a 'Label:' row.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from learnloop.ingest.cells import filled, is_blank, is_word, is_year, kind, trimmed

SCAN = 100  # rows searched for the header
SAMPLE = 300  # rows read for the profile
MAX_HEADER_ROWS = 4
LONG_CELL = 80  # characters: longer is a sentence, not a column name
_NOTE = re.compile(
    r"^(notes?|sources?|fuentes?|quellen?(\(n\))?|fu(ss|ß)noten?|footnotes?|nota|anmerkung(en)?"
    r"|remarques?|hinweis(e)?)\b|^(\*|†|‡|¹|²|³|\(\d+\)\s|\[\d+\]\s|\d+\)\s)",
    re.IGNORECASE,
)
_UNIT = re.compile(r"^(\(.*\)|\[.*\]|in \S{1,12})$", re.IGNORECASE)


@dataclass
class Profile:
    """What the rows of a sheet hold, column by column."""

    width: int
    numeric: set[int] = field(default_factory=set)
    label: int = 0  # the first column that holds anything

    def numeric_cells(self, row: list[Any]) -> list[Any]:
        return [row[c] for c in self.numeric if c < len(row) and not is_blank(row[c])]


@dataclass
class Header:
    """The header found: its rows (indexes into the rows), names, and why."""

    rows: list[int]
    names: list[Any]
    body: int  # the index of the first row under it
    reason: str


def profile(rows: list[list[Any]]) -> Profile:
    """The data width and the numeric columns of the first ``SAMPLE`` non-blank rows."""
    lines = [trimmed(row) for row in rows[: SAMPLE * 2]]
    sample = list({_key(r): r for r in lines if filled(r)}.values())[:SAMPLE]  # repeats once
    widths = Counter(filled(r) for r in sample if filled(r) > 1)
    width = max(widths, key=lambda w: (widths[w], w)) if widths else 1
    kinds: dict[int, Counter[str]] = {}
    for row in sample:
        for c, value in enumerate(row):
            kinds.setdefault(c, Counter())[kind(value)] += 1
    numeric = set()
    for c, counts in kinds.items():
        total = sum(n for k, n in counts.items() if k != "blank")
        share = counts["number"] + counts["date"] + counts["bool"]
        if total >= 2 and share >= 0.6 * total:
            numeric.add(c)
    label = min((c for c, counts in kinds.items() if counts["blank"] < len(sample)), default=0)
    return Profile(width, numeric, label)


def find_header(rows: list[list[Any]], start: int = 0) -> Header | None:
    """The header of the table in ``rows[start:]``, or None where it has none."""
    shape = profile(rows[start:])
    body = _body_start(rows, start, shape)
    if body is not None:
        header = _header_above(rows, start, body, shape)
        if header is not None or _nothing_above(rows, start, body, shape):
            return header
    return _text_header(rows, start, shape)


def is_title(row: list[Any], shape: Profile) -> bool:
    """A title or note: one cell over a wider table, a sentence, or a 'Label:' row."""
    cells = [v for v in row if not is_blank(v)]
    if not cells:
        return False
    if (len(cells) == 1 and shape.width >= 2 and kind(cells[0]) == "text") or is_note(cells[0]):
        return True
    if any(isinstance(v, str) and len(v) > LONG_CELL for v in cells):
        return True
    return len(cells) <= 2 < shape.width and str(cells[0]).rstrip().endswith(":")


def is_note(value: Any) -> bool:
    """A note, a source or a footnote: 'Source: ONS', 'Notes:', '* provisional', '(1) ...'.

    >>> is_note("Fuente: Presupuesto"), is_note("Notes:"), is_note("Notebook"), is_note("*****")
    (True, True, False, True)
    """
    return isinstance(value, str) and bool(_NOTE.match(value.strip()))


def is_data(row: list[Any], shape: Profile) -> bool:
    """Numbers (or dates) in most of the row's cells that lie in numeric columns."""
    cells = shape.numeric_cells(row)
    if not cells or is_year_row(row):
        return False
    return sum(kind(v) != "text" for v in cells) * 2 >= len(cells)


def is_year_row(row: list[Any]) -> bool:
    """A header of years: two or more rising years, and no other numbers."""
    values = [v for v in row if not is_blank(v)]
    years = [int(str(v).strip()) for v in values if is_year(v)]
    others = [v for v in values if not is_year(v)]
    rising = all(a < b for a, b in pairwise(years))
    return len(years) >= 2 and rising and all(is_word(v) for v in others)


def names_like(row: list[Any]) -> bool:
    """Most cells are words or years (a header of years is still a header)."""
    values = [v for v in row if not is_blank(v)]
    words = sum(is_word(v) for v in values)
    years = sum(is_year(v) for v in values)
    return bool(values) and (words + years) * 2 >= len(values) and (words >= 1 or years >= 2)


def _body_start(rows: list[list[Any]], start: int, shape: Profile) -> int | None:
    if not shape.numeric:
        return None
    for n in range(start, min(len(rows), start + SCAN)):
        if is_data(rows[n], shape) and _confirmed(rows, n, shape):
            return n
    return None


def _confirmed(rows: list[list[Any]], n: int, shape: Profile) -> bool:
    """Two of the next three rows with cells in the numeric columns are data too (a row
    repeating one above, such as a header printed again, is not counted)."""
    before = {_key(trimmed(r)) for r in rows[max(0, n - SCAN) : n] if filled(r)}
    later = (r for r in rows[n + 1 : n + 40] if _key(trimmed(r)) not in before)
    seen = [r for r in later if shape.numeric_cells(r)][:3]
    return not seen or sum(is_data(r, shape) for r in seen) * 3 >= 2 * len(seen)


def _key(row: list[Any]) -> tuple[str, ...]:
    return tuple(map(str, row))


def _header_above(rows: list[list[Any]], start: int, body: int, shape: Profile) -> Header | None:
    """The block of header rows above the body, skipping the body's section rows."""
    n = body - 1
    while n >= start and _section_row(rows[n], shape) and body - n <= 5:
        n -= 1
    block: list[int] = []
    while n >= start and len(block) < MAX_HEADER_ROWS:
        if not (_header_row(rows[n], shape) or _units(rows[n])):
            break
        block.insert(0, n)
        n -= 1
    if not any(_header_row(rows[b], shape) for b in block):
        return None
    return Header(block, merge(rows, block), block[-1] + 1, _contrast_reason(rows, block, shape))


def _section_row(row: list[Any], shape: Profile) -> bool:
    """A row in the body with nothing in the numeric columns: 'Chirurgie ...', 'A1'."""
    cells = trimmed(row)
    return bool(filled(cells)) and not shape.numeric_cells(cells) and not _units(cells)


def _header_row(row: list[Any], shape: Profile) -> bool:
    """Names over the numeric columns: words there (no number, no date), or years."""
    cells = shape.numeric_cells(row)
    if not cells or is_title(row, shape) or not names_like(row):
        return False
    return is_year_row(row) or all(is_word(v) for v in cells)


def _units(row: list[Any]) -> bool:
    """A row of units or remarks in parentheses, as a second header row: '(at birth)'."""
    cells = [v for v in row if not is_blank(v)]
    return bool(cells) and all(isinstance(v, str) and _UNIT.match(v) for v in cells)


def _nothing_above(rows: list[list[Any]], start: int, body: int, shape: Profile) -> bool:
    """Only blank, title and section rows above the body: a table without a header."""
    return all(
        not filled(r) or is_title(r, shape) or _section_row(r, shape) for r in rows[start:body]
    )


def _text_header(rows: list[list[Any]], start: int, shape: Profile) -> Header | None:
    """A table of text: the first wide row of distinct short names that the rows below
    do not repeat; a one-row sheet's one row (a header over no data)."""
    filled_rows = [n for n in range(start, len(rows)) if filled(rows[n])]
    if len(filled_rows) == 1 and names_like(rows[filled_rows[0]]):
        n = filled_rows[0]
        return Header([n], list(trimmed(rows[n])), n + 1, "the only row, and it holds names")
    if shape.width < 2:
        return None
    for n in filled_rows:
        if n >= start + SCAN:
            break
        if _names_row(rows, n, shape):
            count = filled(rows[n])
            reason = (
                f"the first row of {count} distinct names, as wide as the table "
                f"({shape.width} columns), not repeated below"
            )
            return Header([n], list(trimmed(rows[n])), n + 1, reason)
    return None


def _names_row(rows: list[list[Any]], n: int, shape: Profile) -> bool:
    row = trimmed(rows[n])
    cells = [v for v in row if not is_blank(v)]
    if len(cells) * 2 < shape.width or len(cells) < 2 or is_title(row, shape):
        return False
    if not names_like(row) or len(set(map(str, cells))) < len(cells):
        return False
    below = rows[n + 1 : n + 21]
    if not any(filled(r) for r in below):
        return False
    return not any(
        not is_blank(v) and any(c < len(r) and r[c] == v for r in below) for c, v in enumerate(row)
    )


def merge(rows: list[list[Any]], block: list[int]) -> list[Any]:
    """The header rows as one: each column's cells top to bottom, joined by spaces; a
    group cell over a fuller row spans the blank cells to its right."""
    lines = [trimmed(rows[n]) for n in block]
    width = max(len(line) for line in lines)
    fullest = max(range(len(lines)), key=lambda i: (filled(lines[i]), -i))
    under = lines[fullest] + [None] * (width - len(lines[fullest]))
    spread = [
        _spread(line, under)
        if i < fullest and filled(line) < filled(under)
        else line + [None] * (width - len(line))
        for i, line in enumerate(lines)
    ]
    names: list[Any] = []
    for c in range(width):
        parts: list[str] = []
        for line in spread:
            value = line[c]
            if not is_blank(value) and (not parts or parts[-1] != str(value)):
                parts.append(str(value).strip())
        names.append(" ".join(parts) or None)
    return names


def _spread(line: list[Any], under: list[Any]) -> list[Any]:
    """A group row's cells carried right over its blank cells, where the row under it has
    names: [None, '2019', None] over ['Region', 'Q1', 'Q2'] is [None, '2019', '2019']."""
    out: list[Any] = []
    last = None
    for c, below in enumerate(under):
        value = line[c] if c < len(line) else None
        last = value if not is_blank(value) else last
        out.append(value if not is_blank(value) or is_blank(below) else last)
    return out


def _contrast_reason(rows: list[list[Any]], block: list[int], shape: Profile) -> str:
    over = len(shape.numeric)
    what = "years" if all(is_year_row(rows[n]) for n in block) else "text"
    return f"{what} over {over} column{'s' * (over != 1)} of numbers or dates below"

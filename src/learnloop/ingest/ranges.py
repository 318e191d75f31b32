"""Cell ranges as spreadsheets write them: 'A1:F200', 'Budget!B3:D90', 'B:D', '5:120'.

As in readxl, a range is taken literally: its first row is the header (unless a header
row is given) and every non-blank row in it is data, with no search for the table's end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from learnloop.errors import InvalidInput

_PARTS = re.compile(
    r"^(?:(?P<sheet>[^!]+)!)?(?P<c1>[A-Za-z]{0,3})(?P<r1>\d*)"
    r":(?P<c2>[A-Za-z]{0,3})(?P<r2>\d*)$"
)


@dataclass(frozen=True)
class CellRange:
    """Rows and columns from 0, ``stop`` excluded; None for 'to the end'."""

    text: str
    sheet: str | None
    first_row: int
    last_row: int | None
    first_col: int
    last_col: int | None

    def apply(self, rows: list[list[Any]]) -> list[list[Any]]:
        """The rows with everything outside the range emptied (numbers stay the sheet's)."""
        stop = len(rows) if self.last_row is None else min(self.last_row + 1, len(rows))
        end = None if self.last_col is None else self.last_col + 1
        inside = [row[self.first_col : end] for row in rows[self.first_row : stop]]
        return [[] for _ in rows[: self.first_row]] + inside


def parse_range(text: str) -> CellRange:
    """'Sheet!A1:F200' as a CellRange; InvalidInput says what a range looks like.

    >>> r = parse_range("Data!B3:D90")
    >>> (r.sheet, r.first_row, r.last_row, r.first_col, r.last_col)
    ('Data', 2, 89, 1, 3)
    >>> parse_range("5:").last_row is None
    True
    """
    match = _PARTS.match(text.strip())
    if match is None or not any(match.group(g) for g in ("c1", "r1", "c2", "r2")):
        raise InvalidInput(f"range {text!r}: write it as A1:F200 (or Sheet!A1:F200, B:F, 5:200)")
    r1, r2 = match.group("r1"), match.group("r2")
    if r1 == "0" or r2 == "0":
        raise InvalidInput(f"range {text!r}: rows count from 1")
    first_row, last_row = int(r1 or 1) - 1, int(r2) - 1 if r2 else None
    first_col = _column(match.group("c1")) if match.group("c1") else 0
    last_col = _column(match.group("c2")) if match.group("c2") else None
    if (last_row is not None and last_row < first_row) or (
        last_col is not None and last_col < first_col
    ):
        raise InvalidInput(f"range {text!r}: the end comes before the start")
    return CellRange(text, match.group("sheet"), first_row, last_row, first_col, last_col)


def column_index(name: str) -> int | None:
    """'A' -> 0, 'AB' -> 27; None for anything that is not a column letter."""
    return _column(name) if re.fullmatch(r"[A-Za-z]{1,3}", name) else None


def _column(letters: str) -> int:
    n = 0
    for letter in letters.upper():
        n = n * 26 + ord(letter) - ord("A") + 1
    return n - 1

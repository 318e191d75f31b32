"""Cells as plain values, and what kind of value each one holds.

The kind of a cell (blank, number, date, bool or text) is what the table finder reads:
a header is text over columns that hold numbers or dates below, a row of years can be a
header too, and a note is one long line of text.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, time
from typing import Any, Literal

Kind = Literal["blank", "number", "date", "bool", "text"]

NULLS = {"", "null", "none", "nan", "n/a", "na", "-", "--", ".", "..."}
_NULL_LENGTH = max(map(len, NULLS))
_NUMBER = re.compile(r"^\(?[+-]?\s?[$€£¥]?\s?[\d.,\s']*\d[\d.,\s']*\s?%?\)?$")
_YEAR = re.compile(r"^(1[89]|20)\d\d$")
_DATE = re.compile(
    r"^(\d{4}[-/.]\d\d?([-/.]\d\d?)?([T ]\d\d?:\d\d.*)?"  # 2011-01-01, 2012/09/26 12:00:00
    r"|\d\d?[-/.]\d\d?[-/.]\d{2,4}"  # 31.12.2025, 12/31/25
    r"|\d\d?:\d\d(:\d\d)?([.,]\d+)?"  # 11:12:12
    r"|\d\d?\.?\s+[A-Za-zé]{3,}\.?\s+\d{4}"  # 24 October 2011
    r"|P(\d+[YMWD])*(T(\d+[HMS])+)?)$"  # PT27H17M54S, an ISO duration
)


def cell(value: Any) -> Any:
    """A cell as a JSON-friendly value: text stripped (and without NUL characters), whole
    floats as ints, dates as ISO text.

    >>> cell("  a\\x00b "), cell(3.0), cell(float("nan")), cell(date(2024, 1, 2))
    ('ab', 3, None, '2024-01-02')
    """
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
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    text = value.strip() if value[:1].isspace() or value[-1:].isspace() else value
    return len(text) <= _NULL_LENGTH and text.lower() in NULLS


def kind(value: Any) -> Kind:
    """What a cell holds.

    >>> [kind(v) for v in (None, "n/a", 12, "1,234.5", "45%", "2011-01-01", True, "Name")]
    ['blank', 'blank', 'number', 'number', 'number', 'date', 'bool', 'text']
    """
    if is_blank(value):
        return "blank"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    text = str(value).strip()
    if _NUMBER.match(text) and "\n" not in text:
        return "number"
    if _DATE.match(text):
        return "date"
    return "text"


def is_year(value: Any) -> bool:
    return not isinstance(value, bool) and bool(_YEAR.match(str(value).strip()))


def is_word(value: Any) -> bool:
    """Text that names something: not a number, a date or a row of digits."""
    return isinstance(value, str) and kind(value) == "text" and not _NUMBER.match(value)


def trimmed(row: list[Any]) -> list[Any]:
    """The row without its trailing empty cells."""
    end = len(row)
    while end and row[end - 1] is None:
        end -= 1
    return row[:end]


def filled(row: list[Any]) -> int:
    return sum(not is_blank(v) for v in row)


def has_value(row: list[Any]) -> bool:
    """Any cell not blank (faster than ``filled(row) > 0``)."""
    return any(v is not None and not is_blank(v) for v in row)

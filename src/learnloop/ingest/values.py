"""Reading numbers, dates and names out of cells as people write them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

_CURRENCY = re.compile(r"[\s$€£¥']|(?<=\d)\s(?=\d)")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m", "%d.%m.%Y", "%m/%d/%Y", "%d/%m/%Y", "%Y/%m/%d")
_TRUE = {"yes", "y", "true", "1", "x", "✓"}
_FALSE = {"no", "n", "false", "0", ""}


def number(value: Any) -> float:
    """A number from 12, '12.5', '1,234.5', '1.234,5', '45%', '$1,200'; ValueError if none.

    >>> number("1,234.5"), number("12,5"), number("45%"), number(" $1 200 ")
    (1234.5, 12.5, 45.0, 1200.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        return float(value)
    text = _CURRENCY.sub("", str(value)).rstrip("%")
    if "," in text and "." in text:
        decimal = "." if text.rfind(".") > text.rfind(",") else ","
        text = text.replace("," if decimal == "." else ".", "").replace(",", ".")
    elif _THOUSANDS.match(text):
        text = text.replace(",", "")
    else:
        text = text.replace(",", ".")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None


def when(value: Any) -> datetime:
    """A UTC timestamp from an ISO date or time, or 31.12.2025, 12/31/2025, 2025-12."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = _by_format(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _by_format(text: str) -> datetime:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date (write it as YYYY-MM-DD)")


def slug(text: str) -> str:
    """A stable id from a name: 'Acme Corp.' -> 'acme-corp'."""
    return re.sub(r"[^0-9a-z]+", "-", text.lower()).strip("-") or text.strip()


def flag(value: Any) -> bool | None:
    """yes/no, true/false, 1/0 as a bool; None for anything else."""
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def text(value: Any) -> str | None:
    return None if value is None else str(value).strip() or None

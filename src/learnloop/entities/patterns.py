"""Pattern entities (pure, no I/O): e-mails, URLs, phone numbers, money, dates, order and
ticket ids.

Phone numbers are read by ``phonenumbers`` (Google's libphonenumber rules, valid numbers
only); dates by the patterns below and checked by ``dateutil``. Relative dates ("last
Tuesday") are left alone: they need a reference time, and ``dateparser``, which reads them,
took 1.15 s per 700-character text and read "$12" and "0199" as dates (docs/entities.md).

>>> [(e.label, e.value) for e in find("Mail ana@Acme.io or pay $1,200.50 by 2026-03-01")]
[('email', 'ana@acme.io'), ('money', 'USD 1200.50'), ('date', '2026-03-01')]
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation

import phonenumbers
from dateutil import parser as dateutil_parser

from learnloop.entities.models import Entity

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}")
URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
CODES = "USD|EUR|GBP|JPY|CHF|CAD|AUD|INR|SEK|NOK|DKK|PLN"
WORDS = {"dollars": "USD", "dollar": "USD", "euros": "EUR", "euro": "EUR", "pounds": "GBP"}
AMOUNT = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?"


def _scale(n: int) -> str:
    return rf"(?:\s?(?P<s{n}>[kKmM]|bn|million|thousand|billion)\b)?"


MONEY = re.compile(
    rf"(?P<sym>[$€£¥₹])\s?(?P<a1>{AMOUNT}){_scale(1)}"
    rf"|\b(?P<code>{CODES})\s?(?P<a2>{AMOUNT}){_scale(2)}"
    rf"|\b(?P<a3>{AMOUNT}){_scale(3)}\s?(?P<unit>{CODES}|dollars?|euros?|pounds)\b"
)
SCALES = {
    "k": 1_000,
    "thousand": 1_000,
    "m": 1_000_000,
    "million": 1_000_000,
    "bn": 1_000_000_000,
    "billion": 1_000_000_000,
}
MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
DATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?\b"
    r"|\b\d{1,2}/\d{1,2}/\d{4}\b"
    rf"|\b{MONTH}\.?\s\d{{1,2}}(?:st|nd|rd|th)?,?\s\d{{4}}\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s(?:of\s)?{MONTH}\.?,?\s\d{{4}}\b",
    re.IGNORECASE,
)
ORDER_PREFIXES = ("ORD", "ORDER", "PO", "INV", "SO")
ID = re.compile(
    r"\b(?:INC|REQ|CHG|RITM|TASK|PRB)\d{5,10}\b"
    r"|\b[A-Z][A-Z0-9]{1,9}-\d{2,10}\b"
    r"|(?P<word>\b(?:order|ticket|case|invoice|incident|issue)\s(?:no\.?\s|number\s)?)"
    r"#\s?(?P<num>\d{3,12})\b",
    re.IGNORECASE,
)
TRAILING = ".,;:!?)]}'\""


def find(text: str, region: str = "US") -> list[Entity]:
    """Every pattern entity of the text, overlapping ones included (the caller picks)."""
    found = [*_emails(text), *_urls(text), *_money(text), *_dates(text), *_ids(text)]
    return found + list(_phones(text, region))


def _entity(label: str, text: str, start: int, end: int, value: str) -> Entity:
    return Entity(
        label=label,
        text=text[start:end],
        start=start,
        end=end,
        value=value,
        key=value.casefold(),
        method="pattern",
        score=1.0,
    )


def _emails(text: str) -> Iterator[Entity]:
    for m in EMAIL.finditer(text):
        yield _entity("email", text, m.start(), m.end(), m.group().lower())


def _urls(text: str) -> Iterator[Entity]:
    for m in URL.finditer(text):
        url = m.group().rstrip(TRAILING)
        yield _entity("url", text, m.start(), m.start() + len(url), url)


def _money(text: str) -> Iterator[Entity]:
    for m in MONEY.finditer(text):
        unit = m["sym"] or m["code"] or m["unit"]
        currency = SYMBOLS.get(unit) or WORDS.get(unit.lower()) or unit.upper()
        amount = _amount(m["a1"] or m["a2"] or m["a3"], m["s1"] or m["s2"] or m["s3"])
        if amount is not None:
            yield _entity("money", text, m.start(), m.end(), f"{currency} {amount:.2f}")


def _amount(digits: str, scale: str | None) -> Decimal | None:
    try:
        amount = Decimal(digits.replace(",", ""))
    except InvalidOperation:
        return None
    return amount * SCALES[scale.lower()] if scale else amount


def _dates(text: str) -> Iterator[Entity]:
    for m in DATE.finditer(text):
        when = _date(m.group())
        if when is not None:
            value = when.isoformat() if ":" in m.group() else when.date().isoformat()
            yield _entity("date", text, m.start(), m.end(), value)


def _date(written: str) -> datetime | None:
    cleaned = re.sub(r"(?<=\d)(st|nd|rd|th)\b|\bof\b", "", written, flags=re.IGNORECASE)
    try:
        when: datetime = dateutil_parser.parse(cleaned)
    except (ValueError, OverflowError):
        return None  # 2026-02-30 and the like
    return when


def _ids(text: str) -> Iterator[Entity]:
    for m in ID.finditer(text):
        if m["num"]:
            word = m["word"].split()[0].lower()
            label = "order_id" if word in ("order", "invoice") else "ticket_id"
            yield _entity(label, text, m.start("word"), m.end(), f"#{m['num']}")
            continue
        value = m.group().upper()
        prefix = value.split("-")[0]
        label = "order_id" if prefix in ORDER_PREFIXES else "ticket_id"
        yield _entity(label, text, m.start(), m.end(), value)


def _phones(text: str, region: str) -> Iterator[Entity]:
    matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
    for m in matcher:
        e164 = phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
        yield _entity("phone", text, m.start, m.end, e164)

"""The title of each row of a table: the column that describes a row best, or a template.

A column can title the rows when its values are text (not numbers or dates), mostly
distinct, short (a median of 2 to 120 characters) and not codes ('KS', 'A100', 'RA2':
one word of capitals and digits). Among those, a column named like a title (name, title,
label, description, subject, Bezeichnung, nombre, 名稱, ...) comes first; then the more
distinct, the more filled and the more like words. A row whose title cell is blank takes
the next such column. With no such column, the most distinct column names the row
('Year 1880'); a template given by the caller (``{Name} ({Year})``) wins over all of it.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from learnloop.errors import InvalidInput
from learnloop.ingest.cells import is_blank, kind
from learnloop.ingest.ranges import column_index

SAMPLE = 2000
_NAMED = {
    "name",
    "names",
    "title",
    "titles",
    "label",
    "labels",
    "subject",
    "heading",
    "caption",
    "topic",
    "term",
    "item",
    "question",
    "product",
    "headline",
    "nombre",
    "titulo",
    "bezeichnung",
    "titel",
    "naam",
    "nom",
    "titre",
    "libelle",
    "designation",
    "nome",
}
_DESCRIBED = {
    "description",
    "descr",
    "desc",
    "summary",
    "descripcion",
    "beschreibung",
    "omschrijving",
    "descrizione",
}
_KEYS = {"id", "code", "key", "ref", "nr", "no", "number", "num", "uuid"}
_NAMED_CJK = ("名稱", "名称", "名前", "標題", "标题", "タイトル")
_CODE = re.compile(r"^([A-Z0-9][A-Z0-9_./:#-]{0,15}|\S+@\S+|[a-z][a-z0-9+.-]*://\S+)$")
_FIELD = re.compile(r"\{([^{}]+)\}")


@dataclass
class Titles:
    """How a table's rows get their titles."""

    columns: list[int] = field(default_factory=list)  # best first
    fallback: int | None = None  # the most distinct column, shown as 'name value'
    template: str | None = None
    reason: str = ""

    def title(self, header: list[str], row: list[Any]) -> str | None:
        """The row's title, or None where every source is blank."""
        if self.template is not None:
            return _render(self.template, header, row) or None
        for c in self.columns:
            if not is_blank(row[c]):
                return str(row[c]).strip()
        if self.fallback is not None and not is_blank(row[self.fallback]):
            return f"{header[self.fallback]} {row[self.fallback]}"
        return None

    @property
    def column(self) -> int | None:
        return self.columns[0] if self.columns and self.template is None else None


def choose(
    header: list[str],
    rows: list[list[Any]],
    *,
    column: str | None = None,
    template: str | None = None,
    mapped: str | None = None,
) -> Titles:
    """The title source of a table: a template, a column asked for, or the best column."""
    if template is not None:
        _check_template(template, header)
        return Titles(template=template, reason=f"the template {template!r}")
    if column is not None:
        at = _named_column(column, header)
        return Titles([at], reason=f"column {header[at]!r}, as asked")
    if mapped is not None:
        return Titles([header.index(mapped)], reason=f"column {mapped!r}, named like a title")
    scores = {c: _score(header[c], [r[c] for r in rows[:SAMPLE]]) for c in range(len(header))}
    good = sorted(((s, c) for c, s in scores.items() if s is not None), reverse=True)
    if good and good[0][0][1] >= 0.3:  # the first choice fills at least 30% of the rows
        return Titles([c for _, c in good], reason=_why(header, rows, good[0][1]))
    fallback = _most_distinct(header, rows)
    if fallback is None:
        return Titles(reason="no column describes the rows: the sheet's name and row number")
    return Titles(
        fallback=fallback,
        reason=f"no column of names: {header[fallback]!r} and its value (the most distinct column)",
    )


def named_like_title(name: str) -> bool:
    """'Organisation_name', 'Descripción', 'Data item', '景點中文名稱' name rows.

    >>> [named_like_title(n) for n in ("Organisation_name", "Descripción", "KS", "item_id")]
    [True, True, False, False]
    """
    return _naming(name) > 0


def _naming(name: str) -> float:
    """2 for a name or title column, 1 for a description column, else 0."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = [w for w in re.split(r"[^a-z]+", plain) if w]
    if any(w in _KEYS for w in words):
        return 0.0
    if any(c in name for c in _NAMED_CJK):
        return 2.0
    if any(w in _NAMED or w.endswith("name") for w in words):
        return 2.0 if len(words) <= 2 else 1.0  # 'in_reply_to_screen_name' names another thing
    return 1.0 if any(w in _DESCRIBED for w in words) else 0.0


def _score(name: str, values: list[Any]) -> tuple[float, float] | None:
    """How well a column titles rows, and how full it is; None where it cannot (numbers,
    repeats, codes, long text)."""
    filled = [v for v in values if not is_blank(v)]
    if not filled:
        return None
    texts = [str(v).strip() for v in filled if kind(v) == "text"]
    distinct = len(set(map(str, filled))) / len(filled)
    naming = _naming(name)
    if len(texts) * 5 < len(filled) * 4 or distinct < (0.7 if naming == 2 else 0.9):
        return None
    median = statistics.median(len(v) for v in texts)
    codes = sum(bool(_CODE.match(v)) for v in texts) / len(texts)
    if not 2 <= median <= 120 or codes >= 0.5:
        return None
    wordy = sum(" " in v for v in texts) / len(texts)
    full = len(filled) / len(values)
    score = naming + distinct + 0.5 * full + 0.5 * wordy - codes - 0.5 * (median > 60)
    return score, full


def _why(header: list[str], rows: list[list[Any]], c: int) -> str:
    values = [r[c] for r in rows if not is_blank(r[c])]
    named = "named like a title; " if named_like_title(header[c]) else ""
    return (
        f"column {header[c]!r}: {named}{len(set(map(str, values)))} distinct of "
        f"{len(values)} values, short text"
    )


def _most_distinct(header: list[str], rows: list[list[Any]]) -> int | None:
    best, best_share = None, 0.9
    for c in range(len(header)):
        values = [str(r[c]) for r in rows[:SAMPLE] if not is_blank(r[c])]
        if rows and len(values) >= 0.9 * min(len(rows), SAMPLE):
            share = len(set(values)) / len(values)
            if share > best_share:
                best, best_share = c, share
    return best


def _named_column(column: str, header: list[str]) -> int:
    if column in header:
        return header.index(column)
    at = column_index(column)
    if at is not None and at < len(header):
        return at
    raise InvalidInput(f"title_column {column!r}: no such column; columns: {', '.join(header)}")


def _check_template(template: str, header: list[str]) -> None:
    names = _FIELD.findall(template)
    if not names:
        raise InvalidInput(
            f"title_template {template!r}: name at least one column in braces, "
            "like '{Name} ({Year})'"
        )
    unknown = [n for n in names if n not in header]
    if unknown:
        raise InvalidInput(
            f"title_template {template!r}: no column named "
            f"{', '.join(unknown)}; columns: {', '.join(header)}"
        )


def _render(template: str, header: list[str], row: list[Any]) -> str:
    at = {name: c for c, name in enumerate(header)}

    def value(match: re.Match[str]) -> str:
        cell = row[at[match.group(1)]]
        return "" if is_blank(cell) else str(cell).strip()

    text = _FIELD.sub(value, template)
    text = re.sub(r"\(\s*\)|\[\s*\]", "", text)
    return " ".join(text.split())

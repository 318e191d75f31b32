"""The tenant's own names (accounts, products, tools, KPIs, items) found in a text (pure).

Names and text are cut into word tokens and case-folded. An exact match is a run of tokens
equal to a name's tokens; a fuzzy match is a run of as many tokens whose spelling is close
(rapidfuzz's ``ratio`` of at least ``cutoff``, 0..100) to a name of at least ``MIN_FUZZY``
characters that begins with the same letter. Exact matches come first; a fuzzy one fills
only a place no exact one took.

>>> g = Gazetteer([Name("Acme Corporation", "account", account_id="acme")])
>>> [(e.text, e.method, e.account_id) for e in g.find("Acme Corporation and Acme Corporaton")]
[('Acme Corporation', 'exact', 'acme'), ('Acme Corporaton', 'fuzzy', 'acme')]
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from learnloop.entities.models import Entity

TOKEN = re.compile(r"\w+(?:['&.-]\w+)*")
MAX_TOKENS = 8
MIN_FUZZY = 5


@dataclass(frozen=True)
class Name:
    """A name the tenant's records go by, and the record it links to."""

    name: str
    label: str
    item_id: int | None = None
    account_id: str | None = None
    value: str | None = None  # the canonical name, when ``name`` is an alias


def tokens(text: str) -> list[tuple[str, int, int]]:
    """(case-folded token, start, end) for each word of the text."""
    return [(m.group().casefold(), m.start(), m.end()) for m in TOKEN.finditer(text)]


class Gazetteer:
    def __init__(self, names: Iterable[Name], cutoff: float = 90.0):
        self.cutoff = cutoff
        self.exact: dict[tuple[str, ...], Name] = {}
        self.fuzzy: dict[tuple[int, str], list[tuple[str, Name]]] = defaultdict(list)
        self.choices: dict[tuple[int, str], list[str]] = {}
        for name in names:
            words = tuple(t for t, _, _ in tokens(name.name))
            if not words or len(words) > MAX_TOKENS:
                continue
            self.exact.setdefault(words, name)
            joined = " ".join(words)
            if len(joined) >= MIN_FUZZY:
                self.fuzzy[(len(words), joined[0])].append((joined, name))
        self.lengths = sorted({len(w) for w in self.exact}, reverse=True)
        self.choices = {key: [c for c, _ in pairs] for key, pairs in self.fuzzy.items()}

    def __len__(self) -> int:
        return len(self.exact)

    def find(self, text: str) -> list[Entity]:
        """The names in the text, longest first where they overlap, in text order."""
        words = tokens(text)
        taken = [False] * len(words)
        found: list[Entity] = []
        for n in self.lengths:
            found += self._matches(text, words, taken, n, fuzzy=False)
            if self.cutoff <= 100:
                found += self._matches(text, words, taken, n, fuzzy=True)
        return sorted(found, key=lambda e: e.start)

    def _matches(
        self,
        text: str,
        words: list[tuple[str, int, int]],
        taken: list[bool],
        n: int,
        *,
        fuzzy: bool,
    ) -> Iterator[Entity]:
        pick = self._fuzzy_window if fuzzy else self._exact_window
        for i in range(len(words) - n + 1):
            if any(taken[i : i + n]):
                continue
            hit = pick(tuple(w for w, _, _ in words[i : i + n]))
            if hit is not None:
                taken[i : i + n] = [True] * n
                name, score = hit
                yield _entity(text, words[i][1], words[i + n - 1][2], name, score)

    def _exact_window(self, window: tuple[str, ...]) -> tuple[Name, float] | None:
        name = self.exact.get(window)
        return None if name is None else (name, 1.0)

    def _fuzzy_window(self, window: tuple[str, ...]) -> tuple[Name, float] | None:
        joined = " ".join(window)
        key = (len(window), joined[0])
        choices = self.choices.get(key)
        if not choices or len(joined) < MIN_FUZZY:
            return None
        best = process.extractOne(joined, choices, scorer=fuzz.ratio, score_cutoff=self.cutoff)
        return None if best is None else (self.fuzzy[key][best[2]][1], best[1] / 100)


def _entity(text: str, start: int, end: int, name: Name, score: float) -> Entity:
    value = name.value or name.name
    return Entity(
        label=name.label,
        text=text[start:end],
        start=start,
        end=end,
        value=value,
        key=value.casefold(),
        method="exact" if score == 1.0 else "fuzzy",
        score=round(score, 4),
        item_id=name.item_id,
        account_id=name.account_id,
    )

"""Okapi BM25 for search's keyword side: the question's words weighed by the tenant's statistics.

The statistics (document frequency per word, number of items, total length) live in
PostgreSQL (migration ``0012_bm25.sql``), and so do the postings (each word's count in each
item, with the item's length: ``0030_bm25_postings.sql``), all kept by triggers in the items'
own transactions. This module turns the question's words and those statistics into the
parameters of ``search_hybrid``.

>>> round(idf(df=1, documents=100), 3)
4.21
>>> round(idf(df=50, documents=100), 3)
0.693
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Okapi BM25's saturation (k1) and length normalisation (b): the usual values (Robertson and
# Zaragoza; Lucene's defaults). TITLE_WEIGHT: a title position counts as that many body
# positions (tuned on the TRAIN split by bench/relevance_eval.py --tune).
K1 = 1.2
B = 0.75
TITLE_WEIGHT = 2.0
# A large tenant's keyword side matches only on words held by at most this share of its items;
# the common words still count in the scores of the items the other words found.
COMMON_SHARE = 0.01


@dataclass(frozen=True)
class KeywordQuery:
    """What the keyword side of ``search_hybrid`` needs: the words and their weights."""

    matching: list[str]  # words whose postings find the candidates (none: no keyword side)
    common: list[str]  # words that only add to the candidates' scores
    lexemes: list[str]
    idfs: list[float]
    avgdl: float

    def params(self) -> dict[str, Any]:
        return {
            "matching": self.matching,
            "common": self.common,
            "lexemes": self.lexemes,
            "idfs": self.idfs,
            "avgdl": self.avgdl,
            "k1": K1,
            "b": B,
            "title_weight": TITLE_WEIGHT,
        }


def idf(df: int, documents: int) -> float:
    """Inverse document frequency, Lucene's form: never negative, even for a word in every item."""
    return math.log(1 + (documents - df + 0.5) / (df + 0.5))


def keyword_query(rows: Iterable[Mapping[str, Any]], *, drop_common: bool) -> KeywordQuery:
    """Rows of ``keyword_terms`` (one per distinct word of the question) to a ``KeywordQuery``."""
    rows = list(rows)
    documents = int(rows[0]["documents"]) if rows else 0
    total = int(rows[0]["total_length"]) if rows else 0
    limit = COMMON_SHARE * documents if drop_common else math.inf
    matching = [row["lexeme"] for row in rows if row["df"] <= limit]
    return KeywordQuery(
        matching=matching,
        common=[row["lexeme"] for row in rows if row["df"] > limit],
        lexemes=[row["lexeme"] for row in rows],
        idfs=[idf(int(row["df"]), documents) for row in rows],
        avgdl=total / documents if documents and total else 1.0,
    )

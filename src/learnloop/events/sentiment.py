"""Sentiment of text with VADER (the vaderSentiment package), on one -1..1 scale."""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Literal

Label = Literal["negative", "neutral", "positive"]
# VADER's own recommended cut-offs for its compound score.
NEGATIVE_BELOW = -0.05
POSITIVE_ABOVE = 0.05
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@cache
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """VADER's compound score, -1 (most negative) .. 1 (most positive).

    >>> sentiment("Thanks, that solved it perfectly!") > 0.5
    True
    """
    return float(_analyzer().polarity_scores(text)["compound"])


def label(score: float) -> Label:
    """negative, neutral or positive by VADER's cut-offs (-0.05, 0.05)."""
    if score < NEGATIVE_BELOW:
        return "negative"
    return "positive" if score > POSITIVE_ABOVE else "neutral"


def sentences(text: str) -> list[dict[str, Any]]:
    """Each sentence with its own score, to show where a call turned."""
    parts = [part.strip() for part in _SENTENCE.split(text) if part.strip()]
    return [{"text": part, "sentiment": sentiment(part)} for part in parts]

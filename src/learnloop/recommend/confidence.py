"""The baseline's confidence: the probability that a search hit answers the query, from all
the search's evidence, not from cosine similarity alone.

For hit ``n`` of a ranked hit list the features are

- its cosine similarity, and its margin over the most similar other hit;
- its reciprocal semantic rank, keyword (BM25) rank and fused rank (0 when absent);

and confidence is a logistic function of them. The coefficients were fitted on labelled
questions (banking77 FAQ questions held apart from the items, and alert texts against the
Prometheus-operator runbooks) by ``bench/fit_confidence.py``, which prints them with the
reliability diagram of a held-out half: a first item shown with confidence c is right about
c of the time there. Each tenant's logged outcomes can then recalibrate it
(``learnloop.learn.calibration``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from learnloop.knowledge.models import SearchHit

FEATURES = ("similarity", "margin", "semantic_rank", "keyword_rank", "fused_rank")
# bench/fit_confidence.py (intercept first, then FEATURES in order).
COEFFICIENTS = (-5.766, 5.333, 11.262, 0.741, 2.135, -0.085)


def features(hits: Sequence[SearchHit]) -> list[list[float]]:
    """The features of each hit, in FEATURES order."""
    sims = [h.similarity if h.similarity is not None else 0.0 for h in hits]
    rows = []
    for n, hit in enumerate(hits):
        others = sims[:n] + sims[n + 1 :]
        margin = sims[n] - max(others) if others else sims[n]
        rows.append(
            [
                sims[n],
                margin,
                _reciprocal(hit.semantic_rank),
                _reciprocal(hit.keyword_rank),
                1.0 / (n + 1) if hit.semantic_rank or hit.keyword_rank else 0.0,
            ]
        )
    return rows


def confidences(
    hits: Sequence[SearchHit], coefficients: Sequence[float] = COEFFICIENTS
) -> list[float]:
    """The baseline confidence of each hit of a ranked list."""
    return [_logistic(coefficients, row) for row in features(hits)]


def _logistic(coefficients: Sequence[float], row: Sequence[float]) -> float:
    z = coefficients[0] + sum(c * x for c, x in zip(coefficients[1:], row, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def _reciprocal(rank: int | None) -> float:
    return 1.0 / rank if rank else 0.0

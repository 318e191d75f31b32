"""The similarity policy: rank by the search's fused score, confidence from similarity.

Pure functions, no I/O: the service feeds them search hits and stores what they decide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from learnloop.knowledge.models import SearchHit

POLICY = "similarity"
POLICY_VERSION = "1"
# Confidence while no outcomes are known: a logistic curve of cosine similarity, 0.5 at
# MIDPOINT, 0.9 at MIDPOINT + 2.2 * SPREAD (0.60), 0.1 at MIDPOINT - 2.2 * SPREAD (0.30).
MIDPOINT = 0.45
SPREAD = 0.07
# One item is presented alone when it is this sure and this far ahead of the next.
SINGLE_CONFIDENCE = 0.85
SINGLE_LEAD = 0.15


def confidence(similarity: float | None) -> float:
    """The documented mapping of similarity to a probability of helping.

    >>> round(confidence(0.45), 2), round(confidence(0.60), 2), round(confidence(0.30), 2)
    (0.5, 0.9, 0.1)
    """
    if similarity is None:
        return 0.0
    return 1.0 / (1.0 + math.exp(-(similarity - MIDPOINT) / SPREAD))


@dataclass(frozen=True)
class Ranked:
    hit: SearchHit
    rank: int
    confidence: float
    propensity: float
    shown: bool


def decide(hits: list[SearchHit], *, k: int, threshold: float) -> tuple[str, list[Ranked]]:
    """The strategy, and every candidate in the search's order with what is shown.

    Candidates at or above the threshold are shown, at most k; under single_solution only
    the first. The policy is deterministic, so a shown item had propensity 1 of being shown
    at its rank, and a candidate not shown had 0.
    """
    sure = [confidence(hit.similarity) for hit in hits]
    eligible = [n for n, value in enumerate(sure) if value >= threshold][:k]
    chosen = _strategy([sure[n] for n in eligible])
    shown = set(eligible[:1] if chosen == "single_solution" else eligible)
    ranked = [
        Ranked(hit, n + 1, sure[n], 1.0 if n in shown else 0.0, n in shown)
        for n, hit in enumerate(hits)
    ]
    return chosen, ranked


def _strategy(confidences: list[float]) -> str:
    """single_solution, multiple_options or no_confident_match for the eligible items.

    >>> _strategy([]), _strategy([0.7]), _strategy([0.95, 0.6]), _strategy([0.9, 0.8])
    ('no_confident_match', 'single_solution', 'single_solution', 'multiple_options')
    """
    if not confidences:
        return "no_confident_match"
    lead = confidences[0] - (confidences[1] if len(confidences) > 1 else 0.0)
    if len(confidences) == 1 or (confidences[0] >= SINGLE_CONFIDENCE and lead >= SINGLE_LEAD):
        return "single_solution"
    return "multiple_options"

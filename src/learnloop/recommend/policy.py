"""What is shown: the confidence mapping, the strategy, and the decision over a ranking.

Pure functions, no I/O: the service feeds them search hits and a policy's ranking
(``learnloop.learn.policies``) and stores what they decide. ``decide`` is the similarity
baseline alone; ``decide_ranked`` applies the same rules to any policy's ranking.
"""

from __future__ import annotations

from dataclasses import dataclass

from learnloop.knowledge.models import SearchHit
from learnloop.learn.calibration import MIDPOINT, SPREAD, confidence
from learnloop.learn.policies import Ranking

__all__ = ["MIDPOINT", "SPREAD", "confidence", "decide", "decide_ranked"]

POLICY = "similarity"
POLICY_VERSION = "1"
# One item is presented alone when it is this sure and this far ahead of the next.
SINGLE_CONFIDENCE = 0.85
SINGLE_LEAD = 0.15


@dataclass(frozen=True)
class Ranked:
    hit: SearchHit
    rank: int
    confidence: float
    propensity: float
    shown: bool
    score: float | None = None  # the policy's score; None: the search's fused score
    relevance: float | None = None  # the baseline's confidence, before the policy's
    first: float | None = None  # P(displayed first) under the policy; None: not known
    position: int | None = None  # its place (1-based) in the search's list of candidates
    baseline: float | None = None  # the baseline's confidence before the tenant's curve


def decide_ranked(
    hits: list[SearchHit],
    ranking: Ranking,
    confidences: list[float],
    *,
    k: int,
    threshold: float,
    single_confidence: float = SINGLE_CONFIDENCE,
    relevances: list[float] | None = None,
    baselines: list[float] | None = None,
) -> tuple[str, list[Ranked]]:
    """The strategy, and every candidate in the policy's order with what is shown.

    The first k candidates of the policy's order whose confidence reaches the threshold
    are shown (under single_solution only the first), ranked 1, 2, ... in that order; the
    others follow in the policy's order. Each keeps the policy's score and its probability
    of being displayed first; a shown one the policy's propensity (the probability it is
    displayed at that rank: the ranking was made with the same threshold), the others 0.
    ``relevances`` are the baseline's confidences the policy ranked on (after the tenant's
    calibration curve), ``baselines`` the same before it (what calibration is fitted on).
    """
    eligible = [n for n in ranking.order if confidences[n] >= threshold][:k]
    chosen = _strategy([confidences[n] for n in eligible], single_confidence)
    shown = eligible[:1] if chosen == "single_solution" else eligible
    order = shown + [n for n in ranking.order if n not in set(shown)]
    base = relevances or confidences
    ranked = [
        Ranked(
            hits[n],
            place,
            confidences[n],
            ranking.propensities[n] if n in shown else 0.0,
            n in shown,
            ranking.scores[n],
            base[n],
            ranking.firsts[n] if ranking.firsts is not None else None,
            position=n + 1,
            baseline=baselines[n] if baselines is not None else None,
        )
        for place, n in enumerate(order, 1)
    ]
    return chosen, ranked


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
    top = eligible[0] if eligible else None
    ranked = [
        Ranked(
            hit,
            n + 1,
            sure[n],
            1.0 if n in shown else 0.0,
            n in shown,
            first=float(n == top),
            position=n + 1,
        )
        for n, hit in enumerate(hits)
    ]
    return chosen, ranked


def _strategy(confidences: list[float], single_confidence: float = SINGLE_CONFIDENCE) -> str:
    """single_solution, multiple_options or no_confident_match for the eligible items.

    >>> _strategy([]), _strategy([0.7]), _strategy([0.95, 0.6]), _strategy([0.9, 0.8])
    ('no_confident_match', 'single_solution', 'single_solution', 'multiple_options')
    """
    if not confidences:
        return "no_confident_match"
    lead = confidences[0] - (confidences[1] if len(confidences) > 1 else 0.0)
    if len(confidences) == 1 or (confidences[0] >= single_confidence and lead >= SINGLE_LEAD):
        return "single_solution"
    return "multiple_options"

"""Policies behind one interface: each ranks candidates and says how likely its ranking was.

A policy is pure: it gets the candidates (``Arm``), the request's context and query, and
a seeded random generator, and returns a ``Ranking``. What it learned (statistics, model
bytes) is handed to its constructor by the store side (``learnloop.learn.live``).

What is displayed is the policy's order with the arms below the confidence threshold left
out (``recommend.policy.decide_ranked``). A policy asked with a ``threshold`` therefore
gives, for each arm the threshold lets through, the probability that it lands at the place
it got among those arms (its displayed rank), and ``firsts``: each arm's probability of
being displayed first. Exact where the policy's randomness allows (similarity, contextual),
counted over Monte-Carlo draws otherwise (the Thompson policies). Without a threshold every
arm counts. The impression log keeps both, for off-policy evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from learnloop.learn.calibration import confidence


@dataclass(frozen=True)
class Arm:
    """A candidate as a policy sees it."""

    item_id: int
    similarity: float | None
    kind: str = ""
    # The baseline's confidence that the item answers the query (from all the search's
    # evidence, calibrated per tenant); None where only the similarity is known.
    relevance: float | None = None


def relevance(arm: Arm) -> float:
    """The arm's relevance to the query: the baseline's confidence, else the similarity's."""
    return arm.relevance if arm.relevance is not None else confidence(arm.similarity)


def eligible(
    arms: Sequence[Arm], threshold: float | None, confidences: Sequence[float] | None = None
) -> np.ndarray[Any, Any]:
    """Which arms the threshold lets through: by the policy's ``confidences`` where it has
    its own, else by each arm's relevance; every arm where there is no threshold.

    >>> eligible([Arm(1, 0.9, relevance=0.8), Arm(2, 0.5, relevance=0.3)], 0.5).tolist()
    [True, False]
    """
    if threshold is None:
        return np.ones(len(arms), dtype=bool)
    values = confidences if confidences is not None else [relevance(a) for a in arms]
    return np.asarray([v >= threshold for v in values], dtype=bool)


@dataclass(frozen=True)
class Ranking:
    order: list[int]  # indexes into the arms, best first; every arm once
    scores: list[float]  # by arm index
    # by arm index: P(the arm at the place it got among the eligible arms: its displayed
    # rank); 0 for an arm the threshold holds back
    propensities: list[float]
    # by arm index: the policy's probability that the arm helps; None: the baseline's
    confidences: list[float] | None = None
    # by arm index: P(the arm is displayed first); None: not computed
    firsts: list[float] | None = None

    def rank_of(self) -> dict[int, int]:
        """1-based rank by arm index."""
        return {arm: place for place, arm in enumerate(self.order, 1)}


class Policy(Protocol):
    name: str
    version: str

    def rank(
        self,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        query: str,
        rng: np.random.Generator,
        threshold: float | None = None,
    ) -> Ranking: ...

    def first(
        self,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        query: str,
        rng: np.random.Generator,
        threshold: float | None = None,
    ) -> list[float]:
        """The probability of each arm being displayed first: the first of the policy's
        order that the threshold lets through (for offline evaluation)."""
        ...


class SimilarityPolicy:
    """The baseline: the search's order, deterministic (propensity 1 where it put each)."""

    name = "similarity"
    version = "1"

    def rank(
        self,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        query: str,
        rng: np.random.Generator,
        threshold: float | None = None,
    ) -> Ranking:
        n = len(arms)
        scores = [a.similarity if a.similarity is not None else -1.0 for a in arms]
        firsts = self.first(arms, context, query, rng, threshold)
        return Ranking(list(range(n)), scores, [1.0] * n, firsts=firsts)

    def first(
        self,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        query: str,
        rng: np.random.Generator,
        threshold: float | None = None,
    ) -> list[float]:
        return deterministic_first(list(range(len(arms))), eligible(arms, threshold))


def deterministic_first(order: Sequence[int], allowed: np.ndarray[Any, Any]) -> list[float]:
    """P(displayed first) under a deterministic order: 1 for its first allowed arm."""
    result = [0.0] * len(allowed)
    top = next((n for n in order if allowed[n]), None)
    if top is not None:
        result[top] = 1.0
    return result


def masked(draw: Any, allowed: np.ndarray[Any, Any]) -> Any:
    """``draw`` with the arms the threshold holds back scored below every other: sorting a
    masked draw gives the displayed order first."""
    if allowed.all():
        return draw

    def masked_draw(rng: np.random.Generator, samples: int) -> np.ndarray[Any, Any]:
        return np.where(allowed[None, :], draw(rng, samples), -np.inf)

    return masked_draw


def mc_propensities(
    draw: Any,
    order: Sequence[int],
    n_arms: int,
    rng: np.random.Generator,
    samples: int = 128,
    allowed: np.ndarray[Any, Any] | None = None,
) -> tuple[list[float], list[float]]:
    """P(each arm at its place in ``order``) and P(each arm first), for a policy whose
    scores ``draw(rng, samples)`` returns as a (samples, arms) array, counted over
    ``samples`` draws plus the one made. With ``allowed``, places are counted among the
    allowed arms (the displayed order): ``order`` is then displayed order first."""
    allowed = np.ones(n_arms, dtype=bool) if allowed is None else allowed
    orders = np.argsort(-masked(draw, allowed)(rng, samples), axis=1, kind="stable")
    placed = np.asarray(order, dtype=int)
    hits = np.zeros(n_arms)
    hits[placed] = (orders == placed[None, :]).sum(axis=0)
    firsts = np.bincount(orders[:, 0], minlength=n_arms).astype(float)
    if allowed.any():
        firsts[placed[0]] += 1.0
    else:
        firsts[:] = 0.0
    propensities = np.where(allowed, (hits + 1.0) / (samples + 1.0), 0.0).tolist()
    return propensities, (firsts / (samples + 1.0)).tolist()


def displayed_order(scores: np.ndarray[Any, Any], allowed: np.ndarray[Any, Any]) -> list[int]:
    """The arms by score, best first, the allowed ones before the others (ties: by index):
    its allowed prefix is what is displayed, in the order displayed."""
    keyed = np.where(allowed, scores, -np.inf)
    return [int(n) for n in np.argsort(-keyed, kind="stable")]


def mc_first(
    draw: Any,
    n_arms: int,
    rng: np.random.Generator,
    samples: int,
    allowed: np.ndarray[Any, Any] | None = None,
) -> list[float]:
    """P(each arm displayed first) for a policy whose scores ``draw(rng, samples)`` returns
    as a (samples, arms) array: the share of draws each allowed arm wins."""
    allowed = np.ones(n_arms, dtype=bool) if allowed is None else allowed
    if not allowed.any():
        return [0.0] * n_arms
    winners = np.argmax(masked(draw, allowed)(rng, samples), axis=1)
    counts = np.bincount(winners, minlength=n_arms)
    return [float(c) / samples for c in counts]


class UniformExploration:
    """Any policy with a uniform exploration budget: with probability ``rate`` the item
    displayed first is drawn uniformly from the arms the threshold lets through, the rest
    follow the policy's order. Every eligible arm then has at least ``rate / eligible`` of
    being displayed first, which is the support offline evaluation of another policy needs
    (``learnloop.learn.evaluation``).

    P(displayed first) is exact for any inner policy; the places after the first are exact
    for a deterministic inner policy and, for a randomised one, computed as if its order
    this time were the only one it could give.
    """

    def __init__(self, inner: Policy, rate: float):
        self.inner = inner
        self.rate = rate
        self.name = inner.name
        self.version = inner.version

    def rank(
        self,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        query: str,
        rng: np.random.Generator,
        threshold: float | None = None,
    ) -> Ranking:
        ranking = self.inner.rank(arms, context, query, rng, threshold)
        allowed = eligible(arms, threshold, ranking.confidences)
        pool = [n for n in range(len(arms)) if allowed[n]]
        if not pool or self.rate == 0:
            return ranking
        inner_firsts = ranking.firsts or self.inner.first(arms, context, query, rng, threshold)
        share = self.rate / len(pool)
        firsts = [
            (1 - self.rate) * p + (share if allowed[n] else 0.0) for n, p in enumerate(inner_firsts)
        ]
        shown = [n for n in ranking.order if allowed[n]]
        order = list(ranking.order)
        if rng.random() < self.rate:
            drawn = pool[int(rng.integers(len(pool)))]
            order = [drawn, *(n for n in order if n != drawn)]
        place = {arm: p for p, arm in enumerate(n for n in order if allowed[n])}
        propensities = [0.0] * len(arms)
        for arm, p in place.items():
            moved = sum(share for u in pool if _place_after_move(shown, u, arm) == p)
            if p == 0:
                propensities[arm] = firsts[arm]
            else:
                kept = ranking.propensities[arm] if shown.index(arm) == p else 0.0
                propensities[arm] = (1 - self.rate) * kept + moved
        return Ranking(order, ranking.scores, propensities, ranking.confidences, firsts)

    def first(
        self,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        query: str,
        rng: np.random.Generator,
        threshold: float | None = None,
    ) -> list[float]:
        inner = self.inner.first(arms, context, query, rng, threshold)
        confidences = getattr(self.inner, "confidences", None)
        allowed = eligible(arms, threshold, confidences(arms) if confidences else None)
        count = int(allowed.sum())
        if not count:
            return inner
        share = self.rate / count
        return [(1 - self.rate) * p + (share if allowed[n] else 0.0) for n, p in enumerate(inner)]


def _place_after_move(shown: Sequence[int], moved: int, arm: int) -> int:
    """The 0-based place of ``arm`` among ``shown`` once ``moved`` is put first."""
    if arm == moved:
        return 0
    place = shown.index(arm)
    return place + 1 if shown.index(moved) > place else place


def explored(policy: Policy, rate: float) -> Policy:
    """The policy with a uniform exploration budget, or itself where the budget is 0."""
    return UniformExploration(policy, rate) if rate > 0 else policy

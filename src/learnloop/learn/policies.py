"""Policies behind one interface: each ranks candidates and says how likely its ranking was.

A policy is pure: it gets the candidates (``Arm``), the request's context and query, and
a seeded random generator, and returns a ``Ranking``. What it learned (statistics, model
bytes) is handed to its constructor by the store side (``learnloop.learn.live``).

``propensities[n]`` is the probability that the policy puts arm ``n`` at the rank it got
in this ranking: 1 and 0 for a deterministic policy, an exact or Monte-Carlo figure for a
randomised one. The impression log keeps it, for off-policy evaluation.
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


@dataclass(frozen=True)
class Ranking:
    order: list[int]  # indexes into the arms, best first; every arm once
    scores: list[float]  # by arm index
    propensities: list[float]  # by arm index: P(the arm at the rank it got here)
    # by arm index: the policy's probability that the arm helps; None: the baseline's
    confidences: list[float] | None = None

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
    ) -> Ranking: ...

    def first(
        self,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        query: str,
        rng: np.random.Generator,
    ) -> list[float]:
        """The probability of each arm being shown first (for offline evaluation)."""
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
    ) -> Ranking:
        n = len(arms)
        scores = [a.similarity if a.similarity is not None else -1.0 for a in arms]
        return Ranking(list(range(n)), scores, [1.0] * n)

    def first(
        self,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        query: str,
        rng: np.random.Generator,
    ) -> list[float]:
        return [1.0 if n == 0 else 0.0 for n in range(len(arms))]


def mc_propensities(
    draw: Any, order: Sequence[int], n_arms: int, rng: np.random.Generator, samples: int = 128
) -> list[float]:
    """P(each arm at its rank in ``order``) for a policy whose scores ``draw(rng, samples)``
    returns as a (samples, arms) array: counted over ``samples`` draws, plus the one made."""
    orders = np.argsort(-draw(rng, samples), axis=1, kind="stable")
    placed = np.asarray(order, dtype=int)
    hits = np.zeros(n_arms)
    hits[placed] = (orders == placed[None, :]).sum(axis=0)
    return ((hits + 1.0) / (samples + 1.0)).tolist()  # type: ignore[no-any-return]


def mc_first(draw: Any, n_arms: int, rng: np.random.Generator, samples: int) -> list[float]:
    """P(each arm first) for a policy whose scores ``draw(rng, samples)`` returns as a
    (samples, arms) array: the share of draws each arm wins."""
    winners = np.argmax(draw(rng, samples), axis=1)
    counts = np.bincount(winners, minlength=n_arms)
    return [float(c) / samples for c in counts]

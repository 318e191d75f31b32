"""The ``memory`` policy: what helped for the nearest past questions, on top of the baseline.

Every logged impression keeps its question's vector. To rank the candidates of a new
question, the store reads the ``neighbours`` nearest past questions of the tenant and the
settled outcome of every item they showed (``Neighbour``). Each outcome is evidence about
one item for questions like this one, weighted by how close the two questions are:

    weight(similarity) = ((similarity - floor) / (1 - floor)) ** sharpness, 0 below floor

- an item that helped adds ``weight * reward`` (reward clipped to 0..1) to its successes;
- an item that was looked at and did not help adds ``weight * looked`` to its failures,
  where ``looked`` is the chance the person looked at it: 1 above an item that helped in
  the same impression (they read past it), 0 below it (they stopped), and the position
  model ``1 / rank ** position_bias`` when nothing helped (an item shown with no outcome
  is not irrelevant by itself: it may not have been read).

Each candidate's probability of helping is a Beta posterior whose prior is the baseline's
confidence, worth ``strength`` looks::

    P(helps) = (strength * prior + successes) / (strength + successes + failures)

With no evidence the posterior is the prior, and the prior is made monotone along the
baseline's order, so the ranking is exactly the baseline's: no cold-start drop. It moves
away only as outcomes of similar questions accumulate, and it never ranks by per-item
popularity: evidence counts only through questions near this one. The posterior is also
the confidence shown, so out-of-scope questions whose neighbours' answers never helped
fall below the threshold. (The confidence uses the baseline's confidence itself as prior,
not its monotone version, so a candidate near questions say nothing of keeps exactly the
confidence the baseline gives it.)

Where the tenant has an embedding adapter (``learn.adapter``: fitted on its clicked pairs
and proved better than the unadapted ranking on its held-out ones), the prior of the
ranking is the adapter's probability of each candidate instead, worth
``adapter.strength`` looks (``adapted``); a candidate the adapter does not know (an item
added since it was fitted) keeps the baseline's prior. The confidence shown keeps the
baseline's prior either way, so thresholds and calibration read the same scale.

With probability ``exploration`` a request is ranked by one draw from each posterior
(Thompson sampling), with propensities counted over draws, so the log supports offline
evaluation; otherwise by the posterior means (propensity 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from learnloop.learn.config import MemoryConfig as MemorySettings
from learnloop.learn.config import examine
from learnloop.learn.policies import (
    Arm,
    Ranking,
    deterministic_first,
    displayed_order,
    eligible,
    mc_first,
    mc_propensities,
)

LIKELY = 0.05  # an item the adapter gives at least this is added as a candidate


@dataclass(frozen=True)
class Neighbour:
    """One settled outcome of a past impression: its question's similarity to this one,
    the item, the rank it was shown at, and its reward."""

    impression: str
    similarity: float
    item_id: int
    rank: int | None
    reward: float


class MemoryPolicy:
    name = "memory"
    version = "1"

    def __init__(
        self,
        neighbours: Sequence[Neighbour],
        settings: MemorySettings | None = None,
        *,
        samples: int = 64,
        adapted: Mapping[int, float] | None = None,
        adapted_strength: float = 4.0,
    ):
        self.settings = settings or MemorySettings()
        self.samples = samples
        self.evidence = evidence(neighbours, self.settings)
        self.adapted = dict(adapted or {})
        self.adapted_strength = adapted_strength

    def posteriors(self, arms: Sequence[Arm]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """The Beta parameters (alpha, beta) of each arm."""
        s = self.settings.strength
        prior = monotone_prior(arms)
        if self.adapted:
            s = self.adapted_strength
            known = [self.adapted.get(arm.item_id) for arm in arms]
            adapted = [p if p is not None else prior[n] for n, p in enumerate(known)]
            prior = np.clip(np.array(adapted, dtype=float), 0.001, 0.999)
        found = [self.evidence.get(arm.item_id, (0.0, 0.0)) for arm in arms]
        wins = np.array([f[0] for f in found])
        losses = np.array([f[1] for f in found])
        return s * prior + wins, s * (1.0 - prior) + losses

    def confidences(self, arms: Sequence[Arm]) -> list[float]:
        """Each arm's probability of helping with this question: the baseline's confidence
        where near questions say nothing of it, else the posterior from that confidence."""
        s = self.settings.strength
        found = []
        for arm in arms:
            prior = arm.relevance if arm.relevance is not None else 0.0
            if arm.item_id not in self.evidence:
                found.append(prior)
                continue
            wins, losses = self.evidence[arm.item_id]
            prior = min(max(prior, 0.01), 0.99)
            found.append((s * prior + wins) / (s + wins + losses))
        return found

    def rank(
        self,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        query: str,
        rng: np.random.Generator,
        threshold: float | None = None,
    ) -> Ranking:
        if not arms:
            return Ranking([], [], [], [], firsts=[])
        alpha, beta = self.posteriors(arms)
        means = alpha / (alpha + beta)
        confidences = self.confidences(arms)
        allowed = eligible(arms, threshold, confidences)
        rate = self.settings.exploration
        if rate == 0.0 or not (self.evidence or self.adapted):
            order = _order(means)
            ones = np.where(allowed, 1.0, 0.0).tolist()
            firsts = deterministic_first(order, allowed)
            return Ranking(order, confidences, ones, confidences, firsts)
        draw = _sampler(alpha, beta, means, rate)
        scores = draw(rng, 1)[0]
        order = _order(scores)
        shown = displayed_order(scores, allowed)
        propensities, firsts = mc_propensities(draw, shown, len(arms), rng, self.samples, allowed)
        return Ranking(order, [float(v) for v in scores], propensities, confidences, firsts)

    def first(
        self,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        query: str,
        rng: np.random.Generator,
        threshold: float | None = None,
        samples: int = 1000,
    ) -> list[float]:
        if not arms:
            return []
        alpha, beta = self.posteriors(arms)
        means = alpha / (alpha + beta)
        allowed = eligible(arms, threshold, self.confidences(arms))
        rate = self.settings.exploration if self.evidence or self.adapted else 0.0
        return mc_first(_sampler(alpha, beta, means, rate), len(arms), rng, samples, allowed)

    def suggested(self, known: Sequence[int]) -> list[int]:
        """Items that helped near questions but are not among the candidates, best first:
        the store adds them as candidates, so an answer found once is found again."""
        seen = set(known)
        likely = sorted(((p, i) for i, p in self.adapted.items() if p >= LIKELY), reverse=True)
        extra = [(wins, item) for item, (wins, _) in self.evidence.items() if wins > 0]
        found = [i for _, i in likely] + [item for _, item in sorted(extra, reverse=True)]
        return [item for item in dict.fromkeys(found) if item not in seen]


def weight(similarity: float, settings: MemorySettings) -> float:
    """How much an outcome of a question this similar counts.

    >>> s = MemorySettings(floor=0.5, sharpness=2.0)
    >>> weight(1.0, s), weight(0.75, s), weight(0.4, s)
    (1.0, 0.25, 0.0)
    """
    if similarity <= settings.floor:
        return 0.0
    return float(((similarity - settings.floor) / (1.0 - settings.floor)) ** settings.sharpness)


def evidence(
    neighbours: Sequence[Neighbour], settings: MemorySettings
) -> dict[int, tuple[float, float]]:
    """(successes, failures) per item, weighted by question similarity.

    >>> s = MemorySettings(floor=0.0, sharpness=1.0)
    >>> n = [Neighbour("a", 1.0, 7, 1, 0.0), Neighbour("a", 1.0, 8, 2, 1.0),
    ...      Neighbour("a", 1.0, 9, 3, 0.0)]
    >>> evidence(n, s)  # 7 read past (a failure), 8 helped, 9 below it: not read
    {7: (0.0, 1.0), 8: (1.0, 0.0)}
    """
    by_impression: dict[str, list[Neighbour]] = {}
    for n in neighbours:
        by_impression.setdefault(n.impression, []).append(n)
    found: dict[int, tuple[float, float]] = {}
    for outcomes in by_impression.values():
        w = weight(outcomes[0].similarity, settings)
        if w == 0.0:
            continue
        for item, wins, losses in judge(outcomes, settings.position_bias):
            old = found.get(item, (0.0, 0.0))
            found[item] = (old[0] + w * wins, old[1] + w * losses)
    return found


def judge(outcomes: Sequence[Neighbour], position_bias: float) -> list[tuple[int, float, float]]:
    """(item, success, failure) of each outcome of one impression, read as a cascade."""
    helped = [n.rank or 1 for n in outcomes if n.reward > 0]
    stop = min(helped) if helped else None
    judged = []
    for n in outcomes:
        reward = min(1.0, max(0.0, n.reward))
        if reward > 0:
            judged.append((n.item_id, reward, 1.0 - reward))
            continue
        rank = n.rank or 1
        if stop is None:
            looked = examine(rank, position_bias)
        else:
            looked = 1.0 if rank < stop else 0.0
        if looked > 0:
            judged.append((n.item_id, 0.0, looked))
    return judged


def monotone_prior(arms: Sequence[Arm]) -> np.ndarray[Any, Any]:
    """The baseline confidence of each arm, never above that of an arm ranked before it,
    and kept inside (0.01, 0.99) so evidence can always move it."""
    values = np.array([a.relevance if a.relevance is not None else 0.0 for a in arms])
    return np.clip(np.minimum.accumulate(values), 0.01, 0.99) if len(values) else values


def _order(scores: np.ndarray[Any, Any]) -> list[int]:
    return [int(n) for n in np.argsort(-scores, kind="stable")]


def _sampler(
    alpha: np.ndarray[Any, Any],
    beta: np.ndarray[Any, Any],
    means: np.ndarray[Any, Any],
    rate: float,
) -> Any:
    def draw(gen: np.random.Generator, n: int) -> np.ndarray[Any, Any]:
        sampled = gen.beta(alpha, beta, size=(n, len(alpha)))
        return np.where((gen.random(n) < rate)[:, None], sampled, means)

    return draw

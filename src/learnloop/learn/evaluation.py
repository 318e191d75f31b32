"""Offline evaluation of a policy on logged impressions: IPS, self-normalised IPS and
doubly robust estimates with 95% confidence intervals, and ranking metrics.

The value of a policy is the expected reward of the first item it shows. Each logged
impression gives the item first shown (``logged``), the probability the logging policy
had of showing it first (its logged propensity) and its reward; the target policy gives
its probability of showing each candidate first (``target``). Then, with
``w = target[logged] / propensity``:

- IPS: mean of ``w * reward``; interval from the normal approximation;
- SNIPS: ``sum(w * reward) / sum(w)``; interval by the delta method;
- DR: mean of ``sum_a target[a] * q(a) + w * (reward - q(logged))``, where ``q`` is the
  direct model: the mean logged reward of each item (0 for an item never seen first).

A deterministic logging policy (propensity 1) can only evaluate policies that agree with
it: disagreeing impressions get weight 0, which is why learned policies explore.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959964
MIN_PROPENSITY = 1e-3


@dataclass(frozen=True)
class Logged:
    """One logged decision: the candidates' item ids, the one first shown, its propensity
    and reward, and the target policy's probability of showing each candidate first."""

    items: Sequence[int]
    logged: int  # index into items
    propensity: float
    reward: float
    target: Sequence[float]


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def _weights(log: Sequence[Logged]) -> tuple[np.ndarray, np.ndarray]:
    w = np.array([x.target[x.logged] / max(x.propensity, MIN_PROPENSITY) for x in log])
    r = np.array([x.reward for x in log])
    return w, r


def _interval(samples: np.ndarray) -> Estimate:
    n = len(samples)
    mean = float(samples.mean()) if n else 0.0
    se = float(samples.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    return Estimate(mean, mean - Z95 * se, mean + Z95 * se, n)


def ips(log: Sequence[Logged]) -> Estimate:
    w, r = _weights(log)
    return _interval(w * r)


def snips(log: Sequence[Logged]) -> Estimate:
    w, r = _weights(log)
    n, total = len(log), float(w.sum())
    if n < 2 or total == 0:
        return Estimate(0.0, -math.inf, math.inf, n)
    value = float((w * r).sum()) / total
    influence = w * (r - value) / (total / n)  # delta method
    se = float(influence.std(ddof=1) / math.sqrt(n))
    return Estimate(value, value - Z95 * se, value + Z95 * se, n)


def direct_model(log: Sequence[Logged]) -> dict[int, float]:
    """The mean reward of each item when it was shown first."""
    sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for x in log:
        found = sums[x.items[x.logged]]
        found[0] += x.reward
        found[1] += 1
    return {item: total / count for item, (total, count) in sums.items()}


def doubly_robust(log: Sequence[Logged], q: dict[int, float] | None = None) -> Estimate:
    q = direct_model(log) if q is None else q
    w, r = _weights(log)
    direct = np.array(
        [sum(p * q.get(i, 0.0) for i, p in zip(x.items, x.target, strict=True)) for x in log]
    )
    q_logged = np.array([q.get(x.items[x.logged], 0.0) for x in log])
    return _interval(direct + w * (r - q_logged))


def estimates(log: Sequence[Logged]) -> dict[str, Estimate]:
    return {"ips": ips(log), "snips": snips(log), "dr": doubly_robust(log)}


def reciprocal_rank(order: Sequence[int], relevant: set[int]) -> float:
    """1 / the rank of the first relevant item in ``order`` (item ids), 0 if none.

    >>> reciprocal_rank([7, 3, 9], {9})
    0.3333333333333333
    """
    for place, item in enumerate(order, 1):
        if item in relevant:
            return 1.0 / place
    return 0.0


def ndcg(order: Sequence[int], gains: dict[int, float], k: int = 3) -> float:
    """Normalised discounted cumulative gain at k of ``order`` (item ids) for ``gains``.

    >>> ndcg([1, 2], {1: 1.0, 2: 0.0}), ndcg([2, 1], {1: 1.0})
    (1.0, 0.6309297535714575)
    """

    def dcg(items: Sequence[int]) -> float:
        return sum(gains.get(i, 0.0) / math.log2(p + 1) for p, i in enumerate(items[:k], 1))

    ideal = dcg(sorted(gains, key=lambda i: -gains[i]))
    return dcg(order) / ideal if ideal > 0 else 0.0

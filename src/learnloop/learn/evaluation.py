"""Offline evaluation of a policy on logged impressions: IPS, self-normalised IPS and
doubly robust estimates with 95% intervals, the evidence behind them, and a verdict.

The value of a policy is the expected reward of the item it displays first (0 when it
displays nothing). Each logged impression gives the item displayed first (``logged``;
None: nothing was displayed), the probability the logging policy had of displaying it
first (``propensity``), its reward, and, where the log keeps them, the logging policy's
probability of displaying each candidate first (``logging``); the target policy gives its
own (``target``; the rest of its mass is on displaying nothing). Then, with
``w = target[logged] / propensity`` clipped at ``max_weight``:

- IPS: mean of ``w * reward``; interval from the normal approximation;
- SNIPS: ``sum(w * reward) / sum(w)``; interval by the delta method;
- DR: mean of ``sum_a target[a] * q(a) + w * (reward - q(logged))``, where ``q`` is the
  direct model: each item's mean reward when displayed first, shrunk toward the log's
  mean reward (worth ``SHRINK`` impressions), so an item never displayed first counts as
  an average one rather than as worthless.

What makes an estimate untrustworthy is measured, not assumed (``assess``):

- support: the share of the target's mass on actions the logging policy takes often
  enough that their weight is not clipped (a logged probability of being displayed first
  of at least the target's / ``max_weight``). A deterministic logging policy supports only
  policies that agree with it, and a tiny exploration rate hardly more; where the log does
  not keep ``logging``, only the logged action can count as supported (a lower bound);
- the effective sample size ``(sum w)^2 / sum w^2`` of the unclipped weights;
- the share of impressions whose weight was clipped: clipping trades variance for a bias
  toward lower IPS and DR values, stated with the estimate;
- every value and interval is kept inside the reward range (SNIPS is there by
  construction; IPS and DR are clamped, and say so).

The verdict is ``insufficient_evidence`` when support, effective sample size or the
number of impressions is below its floor; otherwise the DR difference from the logging
policy's own value (paired, per impression) says ``better``, ``worse`` or
``no_clear_difference`` by its 95% interval.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Z95 = 1.959964
MIN_PROPENSITY = 1e-3
MAX_WEIGHT = 50.0  # weights above this are clipped (the bias is stated)
MIN_SUPPORT = 0.95  # the target's mass the log must support
MIN_EFFECTIVE = 30.0  # effective sample size below which no estimate is endorsed
MIN_IMPRESSIONS = 30
TIE = 1e-9  # a difference within this of 0 is none (rounding)
SHRINK = 2.0  # impressions the log's mean reward is worth in the direct model
Verdict = Literal["insufficient_evidence", "better", "worse", "no_clear_difference"]


@dataclass(frozen=True)
class Logged:
    """One logged decision: the candidates' item ids, the one displayed first (an index into
    ``items``; None: nothing displayed), its propensity and reward, the target policy's
    probability of displaying each candidate first, and the logging policy's (None: not
    kept)."""

    items: Sequence[int]
    logged: int | None
    propensity: float
    reward: float
    target: Sequence[float]
    logging: Sequence[float] | None = None

    def target_of_logged(self) -> float:
        if self.logged is None:
            return max(0.0, 1.0 - float(sum(self.target)))
        return float(self.target[self.logged])

    def supported(self, max_weight: float = math.inf) -> float:
        """The target's mass on actions the logging policy takes often enough: with a
        probability of at least the target's divided by ``max_weight`` (so the weight of
        that action is not clipped)."""
        target_nothing = max(0.0, 1.0 - float(sum(self.target)))
        if self.logging is None:
            mine = self.target_of_logged()
            return mine if self.propensity * max_weight >= mine and self.propensity > 0 else 0.0
        mass = sum(
            t
            for t, p in zip(self.target, self.logging, strict=True)
            if t > 0 and p * max_weight >= t
        )
        nothing = max(0.0, 1.0 - float(sum(self.logging)))
        if target_nothing > 0 and nothing * max_weight >= target_nothing:
            mass += target_nothing
        return float(min(mass, 1.0))


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int
    clamped: bool = False  # the value or the interval was pulled into the reward range

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Assessment:
    """The estimates with the evidence behind them and what they allow one to say."""

    estimates: dict[str, Estimate]
    logged_value: float
    difference: Estimate  # DR value minus the logging policy's value, paired
    support: float
    effective_sample_size: float
    clipped_share: float
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    reward_range: tuple[float, float] = (0.0, 1.0)


def weights(log: Sequence[Logged], max_weight: float = math.inf) -> np.ndarray:
    w = np.array([x.target_of_logged() / max(x.propensity, MIN_PROPENSITY) for x in log])
    clipped: np.ndarray = np.minimum(w, max_weight)
    return clipped


def _rewards(log: Sequence[Logged]) -> np.ndarray:
    return np.array([x.reward for x in log], dtype=float)


def _interval(samples: np.ndarray, bounds: tuple[float, float] | None = None) -> Estimate:
    n = len(samples)
    mean = float(samples.mean()) if n else 0.0
    se = float(samples.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    return _bounded(Estimate(mean, mean - Z95 * se, mean + Z95 * se, n), bounds)


def _bounded(e: Estimate, bounds: tuple[float, float] | None) -> Estimate:
    if bounds is None:
        return e
    lo, hi = bounds
    value, low, high = min(max(e.value, lo), hi), max(e.low, lo), min(e.high, hi)
    clamped = (value, low, high) != (e.value, e.low, e.high)
    return Estimate(value, min(low, value), max(high, value), e.n, clamped)


def ips(
    log: Sequence[Logged],
    bounds: tuple[float, float] | None = None,
    max_weight: float = math.inf,
) -> Estimate:
    return _interval(weights(log, max_weight) * _rewards(log), bounds)


def snips(
    log: Sequence[Logged],
    bounds: tuple[float, float] | None = None,
    max_weight: float = math.inf,
) -> Estimate:
    w, r = weights(log, max_weight), _rewards(log)
    n, total = len(log), float(w.sum())
    if n < 2 or total == 0:  # no weight on anything logged: the log says nothing
        lo, hi = bounds if bounds is not None else (-math.inf, math.inf)
        return Estimate(0.0 if bounds is None else min(max(0.0, lo), hi), lo, hi, n)
    value = float((w * r).sum()) / total
    influence = w * (r - value) / (total / n)  # delta method
    se = float(influence.std(ddof=1) / math.sqrt(n))
    return _bounded(Estimate(value, value - Z95 * se, value + Z95 * se, n), bounds)


def direct_model(log: Sequence[Logged]) -> tuple[dict[int, float], float]:
    """Each item's mean reward when displayed first, shrunk toward the log's mean reward
    (``SHRINK`` impressions' worth), and that mean, for items never displayed first."""
    pooled = float(np.mean([x.reward for x in log])) if log else 0.0
    sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for x in log:
        if x.logged is None:
            continue
        found = sums[x.items[x.logged]]
        found[0] += x.reward
        found[1] += 1
    model = {
        item: (total + SHRINK * pooled) / (count + SHRINK) for item, (total, count) in sums.items()
    }
    return model, pooled


def _dr_terms(log: Sequence[Logged], max_weight: float) -> np.ndarray:
    q, default = direct_model(log)
    w, r = weights(log, max_weight), _rewards(log)
    direct = np.array(
        [sum(p * q.get(i, default) for i, p in zip(x.items, x.target, strict=True)) for x in log]
    )
    q_logged = np.array(
        [0.0 if x.logged is None else q.get(x.items[x.logged], default) for x in log]
    )
    terms: np.ndarray = direct + w * (r - q_logged)  # nothing displayed: 0, modelled as 0
    return terms


def doubly_robust(
    log: Sequence[Logged],
    bounds: tuple[float, float] | None = None,
    max_weight: float = math.inf,
) -> Estimate:
    return _interval(_dr_terms(log, max_weight), bounds)


def estimates(
    log: Sequence[Logged],
    bounds: tuple[float, float] | None = None,
    max_weight: float = math.inf,
) -> dict[str, Estimate]:
    return {
        "ips": ips(log, bounds, max_weight),
        "snips": snips(log, bounds, max_weight),
        "dr": doubly_robust(log, bounds, max_weight),
    }


def effective_sample_size(log: Sequence[Logged]) -> float:
    """How many impressions the weighted estimate is worth: (sum w)^2 / sum w^2."""
    w = weights(log)
    squares = float((w * w).sum())
    return float(w.sum() ** 2 / squares) if squares else 0.0


def assess(
    log: Sequence[Logged],
    reward_range: tuple[float, float] = (0.0, 1.0),
    *,
    max_weight: float = MAX_WEIGHT,
    min_support: float = MIN_SUPPORT,
    min_effective: float = MIN_EFFECTIVE,
    min_impressions: int = MIN_IMPRESSIONS,
) -> Assessment:
    """The estimates of the target's value on ``log``, clipped and kept in the reward range,
    with the evidence behind them and a verdict against the logging policy."""
    lo, hi = reward_range
    n = len(log)
    found = estimates(log, reward_range, max_weight) if n else {}
    rewards = _rewards(log)
    logged_value = float(rewards.mean()) if n else 0.0
    width = hi - lo
    if n:
        difference = _interval(_dr_terms(log, max_weight) - rewards, (-width, width))
    else:
        difference = Estimate(0.0, -width, width, 0)
    support = float(np.mean([x.supported(max_weight) for x in log])) if n else 0.0
    ess = effective_sample_size(log) if n else 0.0
    raw = weights(log)
    clipped = float(np.mean(raw > max_weight)) if n else 0.0
    reasons = []
    if n < min_impressions:
        reasons.append(f"{n} impressions; at least {min_impressions} are needed")
    if support < min_support:
        reasons.append(
            f"the log supports {support:.0%} of the target's choices; at least"
            f" {min_support:.0%} is needed (explore more: learning uniform_exploration)"
        )
    if ess < min_effective:
        reasons.append(
            f"the weights leave an effective sample size of {ess:.1f}; at least"
            f" {min_effective:.0f} is needed"
        )
    verdict: Verdict
    if reasons:
        verdict = "insufficient_evidence"
    elif difference.low > TIE:
        verdict = "better"
    elif difference.high < -TIE:
        verdict = "worse"
    else:
        verdict = "no_clear_difference"
    return Assessment(
        found, logged_value, difference, support, ess, clipped, verdict, reasons, reward_range
    )


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

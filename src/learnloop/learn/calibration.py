"""Calibrated confidence: the probability that an item helps, fitted on logged outcomes.

The baseline's confidence comes from all the search's evidence
(``learnloop.recommend.confidence``). A tenant can recalibrate it on its own outcomes: a
curve from the baseline's confidence (``relevance``) to the observed rate of helping,
isotonic (monotone, no shape assumed) or Platt (a logistic curve; refused where it would
fall), kept by the store as a ``Calibration`` (knots of a piecewise-linear curve, neither
falling). So confidence stays a monotone function of the relevance evidence. The curve is
fitted on, and applied to, the baseline's confidence before any curve (the store logs it
apart from the calibrated one). What keeps a fit from collapsing:

- only outcomes that say something count, each weighted by the chance the item was read
  (``learnloop.learn.memory`` reads an impression as a cascade: items above one that
  helped were read, items below it were not, else the position model);
- at least ``MIN_OUTCOMES`` of them, and every knot of the curve stands on at least
  ``MIN_PER_BIN`` of weight;
- ``keeps_answers``: a fit that would show less than ``FLOOR`` of the helpful items the
  baseline's (uncalibrated) confidence shows at the tenant's threshold is refused.

``confidence`` below, the older logistic curve of cosine similarity, is still what an arm
without search evidence gets.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

# Confidence while no outcomes are known: a logistic curve of cosine similarity, 0.5 at
# MIDPOINT, 0.9 at MIDPOINT + 2.2 * SPREAD (0.60), 0.1 at MIDPOINT - 2.2 * SPREAD (0.30).
MIDPOINT = 0.45
SPREAD = 0.07
MIN_OUTCOMES = 200
MIN_PER_BIN = 30.0
FLOOR = 0.9
Method = Literal["isotonic", "platt"]


def confidence(similarity: float | None) -> float:
    """The documented mapping of similarity to a probability of helping.

    >>> round(confidence(0.45), 1), round(confidence(0.60), 1), round(confidence(0.30), 1)
    (0.5, 0.9, 0.1)
    >>> round(confidence(0.60), 3), round(confidence(0.30), 3)  # 0.9 and 0.1 within 0.005
    (0.895, 0.105)
    """
    if similarity is None:
        return 0.0
    return 1.0 / (1.0 + math.exp(-(similarity - MIDPOINT) / SPREAD))


@dataclass(frozen=True)
class Calibration:
    """A fitted curve: P(helps) at similarity ``x[n]`` is ``y[n]``, linear in between;
    ``weights[n]``: the weight of the outcomes knot ``n`` stands on (empty in curves stored
    before it was kept)."""

    method: str
    x: list[float]
    y: list[float]
    outcomes: int
    input: str = "similarity"  # what x is: "relevance" (the baseline's confidence) now
    weights: list[float] = field(default_factory=list)

    def __call__(self, similarity: float | None) -> float:
        if similarity is None:
            return 0.0
        return float(np.interp(similarity, self.x, self.y))

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, state: bytes) -> Calibration:
        return cls(**json.loads(state))


def fit(
    values: Sequence[float],
    helped: Sequence[bool],
    method: Method = "isotonic",
    *,
    weights: Sequence[float] | None = None,
    min_outcomes: int = MIN_OUTCOMES,
    min_per_bin: float = MIN_PER_BIN,
) -> Calibration | None:
    """The curve from the baseline's confidence to the rate of helping, fitted on weighted
    outcomes; None where ``attempt`` gives a reason not to fit.

    >>> import numpy as np
    >>> x = np.linspace(0, 1, 400); y = np.random.default_rng(0).random(400) < x
    >>> curve = fit(x, y)
    >>> round(curve(0.1), 1), round(curve(0.9), 1), curve.input
    (0.1, 0.9, 'relevance')
    """
    found = attempt(
        values, helped, method, weights=weights, min_outcomes=min_outcomes, min_per_bin=min_per_bin
    )
    return None if isinstance(found, str) else found


def attempt(
    values: Sequence[float],
    helped: Sequence[bool],
    method: Method = "isotonic",
    *,
    weights: Sequence[float] | None = None,
    min_outcomes: int = MIN_OUTCOMES,
    min_per_bin: float = MIN_PER_BIN,
) -> Calibration | str:
    """As ``fit``, with the reason instead of None: fewer than ``min_outcomes`` outcomes,
    all alike, too little weight for two knots of ``min_per_bin``, or a Platt curve that
    would fall as the baseline's confidence rises.

    >>> attempt([0.2, 0.8] * 150, [True, False] * 150, "platt", min_outcomes=10)
    'the outcomes help less as the baseline confidence rises: a Platt curve would fall'
    """
    if len(values) < min_outcomes or len(set(helped)) < 2:
        return (
            f"too few outcomes that say something ({len(values)}; {min_outcomes} needed,"
            " some that helped and some that did not)"
        )
    x = np.asarray(values, dtype=float)
    y = np.asarray(helped, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    keep = w > 0
    x, y, w = x[keep], y[keep], w[keep]
    if len(x) == 0 or w.sum() < min_per_bin * 2:
        return f"too little weight ({w.sum():.1f}) for two knots of {min_per_bin:g} each"
    centers, rates, mass = _bins(x, y, w, min_per_bin)
    values_at = _platt(x, y, w, centers) if method == "platt" else _isotonic(centers, rates, mass)
    if values_at is None:
        return "the outcomes help less as the baseline confidence rises: a Platt curve would fall"
    return Calibration(
        method,
        [float(v) for v in centers],
        [float(v) for v in values_at],
        len(x),
        "relevance",
        [float(v) for v in mass],
    )


def _isotonic(
    centers: np.ndarray[Any, Any], rates: np.ndarray[Any, Any], mass: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    fitted: np.ndarray[Any, Any] = iso.fit(centers, rates, sample_weight=mass).predict(centers)
    return fitted


def _platt(
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    w: np.ndarray[Any, Any],
    centers: np.ndarray[Any, Any],
) -> np.ndarray[Any, Any] | None:
    """The logistic curve's values at the knots; None where its slope is negative."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(x[:, None], y, sample_weight=w)
    if model.coef_[0][0] < 0:
        return None
    fitted: np.ndarray[Any, Any] = model.predict_proba(centers[:, None])[:, 1]
    return fitted


def _bins(
    x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], w: np.ndarray[Any, Any], least: float
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Consecutive outcomes (by x) grouped until each group weighs at least ``least``:
    each group's mean x, rate of helping and weight."""
    order = np.argsort(x, kind="stable")
    x, y, w = x[order], y[order], w[order]
    after = np.append(np.cumsum(w[::-1])[::-1], 0.0)[1:]  # after[n]: weight of w[n + 1 :]
    edges = [0]
    total = 0.0
    for n, weight in enumerate(w):
        total += weight
        if total >= least and after[n] >= least:
            edges.append(n + 1)
            total = 0.0
    edges.append(len(x))
    groups = [slice(a, b) for a, b in itertools.pairwise(edges) if b > a]
    mass = np.array([w[g].sum() for g in groups])
    centers = np.array([np.average(x[g], weights=w[g]) for g in groups])
    rates = np.array([np.average(y[g], weights=w[g]) for g in groups])
    return centers, rates, mass


def keeps_answers(
    curve: Calibration,
    values: Sequence[float],
    helped: Sequence[bool],
    weights: Sequence[float],
    threshold: float,
    floor: float = FLOOR,
) -> tuple[bool, float, float]:
    """Whether the curve still shows at least ``floor`` of the helpful items that the
    uncalibrated confidence (``values``) shows at ``threshold``; and both weighted counts.

    >>> low = Calibration("isotonic", [0.0, 1.0], [0.0, 0.4], 2, "relevance")
    >>> keeps_answers(low, [0.6, 0.9, 0.2], [True, True, False], [1.0, 1.0, 1.0], 0.5)
    (False, 2.0, 0.0)
    """
    before = after = 0.0
    for value, good, weight in zip(values, helped, weights, strict=True):
        if good:
            before += weight * (value >= threshold)
            after += weight * (curve(value) >= threshold)
    return after >= floor * before, before, after


def tradeoffs(
    first: Sequence[float], helped: Sequence[bool], thresholds: Sequence[float]
) -> list[dict[str, float]]:
    """For each threshold: the share of impressions whose first item would be shown and
    help (right), shown and not help (wrong), or not be shown (nothing), from the
    confidence of each impression's first item and whether it helped.

    >>> tradeoffs([0.9, 0.6, 0.3], [True, False, True], [0.5])
    [{'threshold': 0.5, 'right': 0.333, 'wrong': 0.333, 'nothing': 0.333}]
    """
    p = np.asarray(first, dtype=float)
    h = np.asarray(helped, dtype=bool)
    n = max(len(p), 1)
    rows = []
    for t in thresholds:
        shown = p >= t
        rows.append(
            {
                "threshold": round(float(t), 3),
                "right": round(float((shown & h).sum()) / n, 3),
                "wrong": round(float((shown & ~h).sum()) / n, 3),
                "nothing": round(float((~shown).sum()) / n, 3),
            }
        )
    return rows


def reliability(
    predicted: Sequence[float], helped: Sequence[bool], bins: int = 10
) -> list[dict[str, float]]:
    """Reliability-diagram data: per bin of predicted probability, its mean prediction,
    the observed rate and the count (empty bins left out).

    >>> reliability([0.1, 0.15, 0.9], [False, False, True], bins=2)
    [{'low': 0.0, 'high': 0.5, 'predicted': 0.125, 'observed': 0.0, 'count': 2.0}, \
{'low': 0.5, 'high': 1.0, 'predicted': 0.9, 'observed': 1.0, 'count': 1.0}]
    """
    p = np.asarray(predicted, dtype=float)
    h = np.asarray(helped, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows = []
    for n in range(bins):
        mask = which == n
        if mask.any():
            rows.append(
                {
                    "low": float(edges[n]),
                    "high": float(edges[n + 1]),
                    "predicted": float(p[mask].mean()),
                    "observed": float(h[mask].mean()),
                    "count": float(mask.sum()),
                }
            )
    return rows


def threshold_for(
    predicted: Sequence[float], helped: Sequence[bool], precision: float
) -> float | None:
    """The lowest confidence threshold whose shown items help at least ``precision`` of
    the time (items at or above it), or None when no threshold reaches it.

    >>> threshold_for([0.2, 0.4, 0.6, 0.8], [False, True, True, True], 0.9)
    0.4
    """
    p = np.asarray(predicted, dtype=float)
    h = np.asarray(helped, dtype=float)
    for cut in np.unique(p):
        kept = p >= cut
        if h[kept].mean() >= precision:
            return float(cut)
    return None

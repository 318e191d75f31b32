"""Calibrated confidence: the probability that an item helps, fitted on logged outcomes.

While a tenant has fewer than ``MIN_OUTCOMES`` settled outcomes, confidence is the
documented mapping of cosine similarity below (``confidence``). Then it is fitted per
tenant, isotonic (monotone in similarity, no shape assumed) or Platt (a logistic curve of
similarity), on pairs (similarity of the item shown, whether it helped), and kept by the
store as a ``Calibration`` (knots of a piecewise-linear curve).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

# Confidence while no outcomes are known: a logistic curve of cosine similarity, 0.5 at
# MIDPOINT, 0.9 at MIDPOINT + 2.2 * SPREAD (0.60), 0.1 at MIDPOINT - 2.2 * SPREAD (0.30).
MIDPOINT = 0.45
SPREAD = 0.07
MIN_OUTCOMES = 200
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
    """A fitted curve: P(helps) at similarity ``x[n]`` is ``y[n]``, linear in between."""

    method: str
    x: list[float]
    y: list[float]
    outcomes: int

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
    similarities: Sequence[float],
    helped: Sequence[bool],
    method: Method = "isotonic",
    *,
    min_outcomes: int = MIN_OUTCOMES,
) -> Calibration | None:
    """The curve fitted on outcomes; None while there are fewer than ``min_outcomes`` or
    they are all alike (nothing to fit)."""
    if len(similarities) < min_outcomes or len(set(helped)) < 2:
        return None
    x = np.asarray(similarities, dtype=float)
    y = np.asarray(helped, dtype=float)
    grid = np.linspace(float(x.min()), float(x.max()), 41)
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression().fit(x[:, None], y)
        values = model.predict_proba(grid[:, None])[:, 1]
    else:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
        values = iso.predict(grid)
    return Calibration(method, [float(v) for v in grid], [float(v) for v in values], len(x))


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

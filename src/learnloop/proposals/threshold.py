"""The duplicate threshold learned from reviewers' decisions on duplicate pairs.

Each decision is a pair's cosine similarity and what the reviewer said: ``merge`` (they are
duplicates) or ``distinct`` (they are not). A threshold ``t`` calls a pair a duplicate when
its similarity is at least ``t``; the learned threshold is the one with the highest F1 on the
decisions (duplicates as the positive class). Thresholds that split the decisions the same
way tie; the middle of the gap between the two similarities they fall between is taken, and
of tied gaps the one nearest the current threshold. It replaces the current threshold only
when it does better on the decisions, and only with enough evidence: at least
``MIN_DECISIONS`` decisions, ``MIN_EACH`` of each kind. Pure: no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

MIN_DECISIONS = 20
MIN_EACH = 5
LOWEST, HIGHEST = 0.05, 1.0  # the range a learned threshold may take


class ThresholdFit(BaseModel):
    """What the decisions say about the duplicate threshold."""

    threshold: float = Field(
        description="the threshold the decisions give (the current one when they give none)"
    )
    previous: float = Field(description="the threshold in force before")
    learned: bool = Field(description="whether the decisions move it")
    saved: bool = Field(default=False, description="whether it was set for the tenant")
    decisions: int
    merges: int
    distinct: int
    f1: float | None = Field(description="F1 on the decisions at ``threshold``")
    f1_previous: float | None = Field(description="F1 on the decisions at the previous one")
    reason: str


def f1_at(pairs: Sequence[tuple[float, bool]], threshold: float) -> float:
    """F1 of calling a pair a duplicate when its similarity is at least ``threshold``.

    >>> f1_at([(0.9, True), (0.8, True), (0.7, False)], 0.85)
    0.6666666666666666
    """
    tp = sum(1 for s, dup in pairs if dup and s >= threshold)
    fp = sum(1 for s, dup in pairs if not dup and s >= threshold)
    fn = sum(1 for s, dup in pairs if dup and s < threshold)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def best_threshold(pairs: Sequence[tuple[float, bool]], current: float) -> float:
    """The threshold with the highest F1 on ``pairs`` (ties: the middle of a gap, nearest
    ``current``).

    >>> best_threshold([(0.95, True), (0.8, True), (0.75, False), (0.6, False)], 0.85)
    0.775
    """
    values = sorted({round(s, 6) for s, _ in pairs})
    candidates = [(a + b) / 2 for a, b in itertools.pairwise(values)]
    candidates += [values[0] - 0.01, values[-1] + 0.01]
    candidates = [min(HIGHEST, max(LOWEST, c)) for c in candidates]
    sims = np.array([s for s, _ in pairs])
    dup = np.array([d for _, d in pairs], dtype=bool)
    cuts = np.array(candidates)[:, None]
    tp = ((sims >= cuts) & dup).sum(axis=1)
    fp = ((sims >= cuts) & ~dup).sum(axis=1)
    fn = ((sims < cuts) & dup).sum(axis=1)
    f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    scores = [(round(float(f), 9), -abs(t - current)) for f, t in zip(f1, candidates, strict=True)]
    return float(candidates[max(range(len(candidates)), key=scores.__getitem__)])


def fit(pairs: Sequence[tuple[float, bool]], current: float) -> ThresholdFit:
    """Learn the threshold from ``pairs`` (similarity, merged?), or say why not."""
    merges = sum(1 for _, dup in pairs if dup)
    distinct = len(pairs) - merges
    base: dict[str, Any] = {
        "previous": current,
        "decisions": len(pairs),
        "merges": merges,
        "distinct": distinct,
    }
    if len(pairs) < MIN_DECISIONS or merges < MIN_EACH or distinct < MIN_EACH:
        reason = (
            f"not enough evidence: {len(pairs)} decisions ({merges} merge, {distinct} "
            f"distinct); learning needs at least {MIN_DECISIONS}, with {MIN_EACH} of each; "
            f"the threshold stays {current:g}"
        )
        f1 = f1_at(pairs, current) if merges else None
        return ThresholdFit(
            threshold=current, learned=False, f1=f1, f1_previous=f1, reason=reason, **base
        )
    before = f1_at(pairs, current)
    best = round(best_threshold(pairs, current), 4)
    after = f1_at(pairs, best)
    if after <= before:
        reason = (
            f"the threshold {current:g} already fits the decisions best (F1 {before:.3f}); it stays"
        )
        return ThresholdFit(
            threshold=current, learned=False, f1=before, f1_previous=before, reason=reason, **base
        )
    reason = f"F1 on {len(pairs)} decisions: {before:.3f} at {current:g}, {after:.3f} at {best:g}"
    return ThresholdFit(
        threshold=best, learned=True, f1=after, f1_previous=before, reason=reason, **base
    )

"""Experiments, the pure part: deterministic assignment and the analysis of results.

A variant changes the policy, the confidence threshold or the strategy of showing (a
``single_confidence`` other than the default). Each user (or session) lands in one
variant for the experiment's life: a hash of the experiment name and the unit, cut by the
variants' weights.

Results per variant: impressions, mean reward per impression and its variance; against
control, the effect (difference of means, and relative), a 95% Welch interval, the
Bayesian probability to beat control (normal posteriors of the means, flat priors), a
sample-ratio-mismatch check (chi-square of impressions against the weights), and an
*always-valid* 95% confidence sequence (normal mixture, Howard et al. 2021): it may be
looked at after every impression, and the result is settled once it excludes 0.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import Field, model_validator

from learnloop.learn.config import PolicyName
from learnloop.validation import Input

SRM_ALPHA = 0.001  # a p-value this low means the assignment is broken, not unlucky
MIXTURE = 0.01  # rho^2 of the normal mixture, tuned for effects ~0.1 standard deviations


class Variant(Input):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    weight: float = Field(default=1.0, gt=0)
    policy: PolicyName | None = None
    threshold: float | None = Field(default=None, ge=0, le=1)
    single_confidence: float | None = Field(default=None, ge=0, le=1)


class ExperimentIn(Input):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    unit: str = Field(default="user", pattern="^(user|session)$")
    variants: list[Variant] = Field(min_length=2, max_length=10)

    @model_validator(mode="after")
    def _distinct(self) -> ExperimentIn:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must differ; the first variant is the control")
        return self


def assign(name: str, unit: str | None, variants: Sequence[Mapping[str, Any]]) -> str | None:
    """The variant of a unit (user or session id), or None when the request has none.

    >>> vs = [{"name": "control", "weight": 1}, {"name": "bayes", "weight": 1}]
    >>> assign("exp", "user-1", vs) == assign("exp", "user-1", vs)
    True
    """
    if not unit:
        return None
    digest = hashlib.sha256(f"{name}\x00{unit}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    total = sum(float(v.get("weight", 1.0)) for v in variants)
    edge = 0.0
    for variant in variants:
        edge += float(variant.get("weight", 1.0)) / total
        if point < edge:
            return str(variant["name"])
    return str(variants[-1]["name"])


@dataclass(frozen=True)
class Group:
    """What a variant collected: impressions, and the sum and sum of squares of rewards."""

    name: str
    weight: float
    n: int
    total: float
    squares: float

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        if self.n < 2:
            return 0.0
        return max(self.squares - self.n * self.mean**2, 0.0) / (self.n - 1)


def analyse(groups: Sequence[Group]) -> dict[str, Any]:
    """Effect sizes, intervals, P(beat control) and the SRM check; the first is control."""
    control = groups[0]
    return {
        "control": control.name,
        "sample_ratio": srm(groups),
        "variants": [_versus(group, control) for group in groups],
    }


def _versus(arm: Group, control: Group) -> dict[str, Any]:
    row: dict[str, Any] = {"name": arm.name, "impressions": arm.n, "mean_reward": arm.mean}
    if arm is control or arm.n < 2 or control.n < 2:
        return row
    diff = arm.mean - control.mean
    se = math.sqrt(arm.variance / arm.n + control.variance / control.n)
    radius = _sequence_radius(arm, control)
    row |= {
        "effect": diff,
        "relative_effect": diff / control.mean if control.mean else None,
        "interval": [diff - 1.96 * se, diff + 1.96 * se],
        "probability_to_beat_control": _phi(diff / se) if se > 0 else float(diff > 0),
        "always_valid_interval": [diff - radius, diff + radius],
        "settled": abs(diff) > radius,
    }
    return row


def _sequence_radius(arm: Group, control: Group, alpha: float = 0.05) -> float:
    """The half-width of the normal-mixture confidence sequence for the difference."""
    n = min(arm.n, control.n)
    sigma2 = arm.variance + control.variance
    if n == 0 or sigma2 == 0:
        return math.inf
    v = n * MIXTURE
    return math.sqrt(sigma2 * (v + 1) / (n * v) * math.log((v + 1) / alpha**2))


def srm(groups: Sequence[Group]) -> dict[str, Any]:
    """Chi-square test of the impressions per variant against the weights."""
    from scipy.stats import chisquare

    total = sum(a.n for a in groups)
    if total == 0:
        return {"p_value": None, "mismatch": False}
    weights = sum(a.weight for a in groups)
    expected = [total * a.weight / weights for a in groups]
    p_value = float(chisquare([a.n for a in groups], expected).pvalue)
    return {"p_value": p_value, "mismatch": p_value < SRM_ALPHA}


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))

"""What a tenant chooses about learning: its policy, its rewards, its context segments.

Kept in ``tenants.settings -> 'learning'``; every field has a default, so a tenant that
chose nothing learns with the defaults below (and ranks with the similarity baseline).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from learnloop.validation import Input

PolicyName = Literal["similarity", "bayes", "contextual", "memory"]
POLICIES: tuple[PolicyName, ...] = ("similarity", "bayes", "contextual", "memory")
# The strongest outcome of an item shown decides its reward; a later, weaker one does not
# replace it. succeeded, failed and dismissed end the wait at once.
PRIORITY = {"viewed": 1, "dismissed": 2, "clicked": 3, "executed": 4, "failed": 5, "succeeded": 6}
TERMINAL = frozenset({"succeeded", "failed", "dismissed"})


class Rewards(Input):
    """The reward of each outcome, and of an item shown that got none within the wait."""

    succeeded: float = Field(default=1.0, ge=-1, le=1)
    executed: float = Field(default=0.5, ge=-1, le=1)
    clicked: float = Field(default=0.3, ge=-1, le=1)
    viewed: float = Field(default=0.0, ge=-1, le=1)
    failed: float = Field(default=0.0, ge=-1, le=1)
    dismissed: float = Field(default=-0.1, ge=-1, le=1)
    no_outcome: float = Field(default=0.0, ge=-1, le=1)
    wait_seconds: float = Field(default=3600.0, ge=0, le=30 * 86400)

    def of(self, kind: str) -> float:
        """The reward of an outcome type, or of ``no_outcome``."""
        value: float = getattr(self, kind)
        return value


class MemoryConfig(Input):
    """The ``memory`` policy's settings (``learnloop.learn.memory``)."""

    neighbours: int = Field(default=40, ge=1, le=500, description="past questions read")
    window: int = Field(
        default=20_000, ge=1, le=200_000, description="the latest impressions searched"
    )
    floor: float = Field(
        default=0.4, ge=0, lt=1, description="a past question less similar than this counts 0"
    )
    sharpness: float = Field(default=2.0, gt=0, le=10, description="how fast weight grows")
    strength: float = Field(
        default=1.0, gt=0, le=1000, description="looks the baseline's confidence is worth"
    )
    exploration: float = Field(
        default=0.1, ge=0, le=1, description="share of impressions ranked by a draw"
    )
    position_bias: float = Field(default=1.0, ge=0, le=3)


class AdapterConfig(Input):
    """The tenant's embedding adapter (``learnloop.learn.adapter``), read by the ``memory``
    policy once one has been fitted and has beaten the unadapted ranking on held-out logs."""

    enabled: bool = Field(default=True, description="memory ranks with a fitted adapter")
    min_pairs: int = Field(
        default=500, ge=20, le=1_000_000, description="clicked pairs before a fit is tried"
    )
    max_pairs: int = Field(
        default=20_000, ge=20, le=1_000_000, description="the latest clicked pairs fitted on"
    )
    holdout: float = Field(
        default=0.2, gt=0, lt=1, description="share of the newest pairs it is judged on"
    )
    regularization: float = Field(
        default=30.0, gt=0, le=10_000, description="inverse L2 strength of the fit (C)"
    )
    strength: float = Field(
        default=4.0, gt=0, le=1000, description="looks the adapter's probability is worth"
    )
    prototype_scale: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        description="each item's row is shrunk toward its own unit vector times this (0: zero)",
    )
    refit_growth: float = Field(
        default=0.25, ge=0, le=100, description="new pairs (a share) before a scheduled refit"
    )


class AutoSwitchConfig(Input):
    """Switching the live policy automatically (``learnloop.learn.autoswitch``): off unless
    the tenant turns it on."""

    enabled: bool = Field(
        default=False,
        description="switch to a candidate whose offline estimate beats the live policy",
    )
    candidates: list[PolicyName] = Field(
        default_factory=list,
        max_length=len(POLICIES),
        description="the policies tried; empty: every policy but the live one",
    )
    window: int = Field(
        default=10_000, ge=1, le=100_000, description="latest impressions of the live policy"
    )
    rollback_after: int = Field(
        default=200,
        ge=1,
        le=100_000,
        description="settled impressions of a new policy before its live rate is judged",
    )
    cooldown_hours: float = Field(
        default=168.0, ge=0, le=8760, description="a policy rolled back is not tried for this"
    )


class LearningConfig(Input):
    """A tenant's learning settings (``learnloop learning set`` / ``PUT /v1/learning``)."""

    policy: PolicyName = "similarity"
    shadow: PolicyName | None = Field(
        default=None, description="a policy run beside the live one, logged, never shown"
    )
    rewards: Rewards = Field(default_factory=Rewards)
    segment_by: list[str] = Field(
        default_factory=lambda: ["segment", "intent"],
        max_length=5,
        description="context attributes whose values get statistics of their own",
    )
    exploration: float = Field(
        default=0.2, ge=0, le=1, description="bayes: share of impressions ranked by a draw"
    )
    epsilon: float = Field(
        default=0.02, ge=0, le=1, description="contextual: chance the first item is uniform"
    )
    uniform_exploration: float = Field(
        default=0.0,
        ge=0,
        le=0.5,
        description=(
            "any policy: share of impressions whose first item is drawn uniformly from the"
            " candidates the threshold lets through, so offline evaluation has support"
        ),
    )
    position_bias: float = Field(
        default=1.0, ge=0, le=3, description="rank r is looked at with probability 1/r**this"
    )
    prior_strength: float = Field(default=4.0, gt=0, le=1000)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    adapter: AdapterConfig = Field(default_factory=AdapterConfig)
    auto_switch: AutoSwitchConfig = Field(default_factory=AutoSwitchConfig)

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> LearningConfig:
        return cls.model_validate(stored or {})


def examine(rank: int | None, position_bias: float) -> float:
    """The chance a user looks at rank ``rank`` (1-based): the position-bias model.

    >>> examine(1, 1.0), examine(4, 1.0), examine(4, 0.0)
    (1.0, 0.25, 1.0)
    """
    return 1.0 if rank is None or rank < 1 else float(1.0 / rank**position_bias)

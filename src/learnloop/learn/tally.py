"""Rewards and statistics, the pure part: what one outcome changes, and the sums it feeds.

The store (``learnloop.learn.stats``) and the in-memory simulations share this code, so
the statistics a policy reads mean the same thing in both.

>>> config = LearningConfig()
>>> state = OutcomeState()
>>> apply(state, "shown", 2, config)
Delta(trials=1, exposure=0.5, reward=0.0, positive=0.0)
>>> apply(state, "clicked", 2, config)
Delta(trials=0, exposure=0.0, reward=0.3, positive=0.3)
>>> apply(state, "succeeded", 2, config)
Delta(trials=0, exposure=0.0, reward=0.7, positive=0.7)
>>> apply(state, "dismissed", 2, config)   # weaker than succeeded: changes nothing
Delta(trials=0, exposure=0.0, reward=0.0, positive=0.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from learnloop.learn.config import PRIORITY, TERMINAL, LearningConfig, examine

OVERALL = ("", "")
StatKey = tuple[str, str, int]  # dimension, value, item_id


@dataclass
class OutcomeState:
    """The outcome of one item shown in one impression, so far."""

    priority: int = 0  # 0: none yet, -1: the wait ended with none, else PRIORITY
    reward: float = 0.0
    shown: bool = False
    settled: bool = False
    rank: int | None = None


@dataclass
class Delta:
    trials: int = 0
    exposure: float = 0.0
    reward: float = 0.0
    positive: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.trials or self.exposure or self.reward or self.positive)


@dataclass
class Stat:
    """Sums for one item in one segment: shows, position-weighted shows, rewards."""

    trials: int = 0
    exposure: float = 0.0
    reward: float = 0.0
    positive: float = 0.0

    def add(self, delta: Delta) -> None:
        self.trials += delta.trials
        self.exposure += delta.exposure
        self.reward += delta.reward
        self.positive += delta.positive


def apply(
    state: OutcomeState,
    kind: str,
    rank: int | None,
    config: LearningConfig,
    relevance: float = 1.0,
) -> Delta:
    """Change ``state`` by one happening: ``shown``, an event type, or ``expire`` (the wait
    for an outcome ended); the change it makes to the statistics.

    A show adds one trial and ``exposure``: the chance the user looked at its rank
    (position bias) times ``relevance``, the chance the item is relevant to the query
    (``learn.calibration.confidence`` of its similarity). So ``positive / exposure``
    estimates how often the item helps when it is seen and relevant.
    """
    if kind == "shown":
        return _shown(state, rank, config, relevance)
    if kind == "expire":
        state.settled = True
        if state.priority != 0:
            return Delta()
        return _rewarded(state, -1, config.rewards.no_outcome)
    priority = PRIORITY[kind]
    state.settled = state.settled or kind in TERMINAL
    if priority <= state.priority:
        return Delta()
    return _rewarded(state, priority, config.rewards.of(kind))


def _shown(
    state: OutcomeState, rank: int | None, config: LearningConfig, relevance: float
) -> Delta:
    if state.shown:
        return Delta()
    state.shown, state.rank = True, rank
    return Delta(trials=1, exposure=examine(rank, config.position_bias) * relevance)


def _rewarded(state: OutcomeState, priority: int, reward: float) -> Delta:
    before, before_positive = state.reward, _clip(state.reward)
    state.priority, state.reward = priority, reward
    return Delta(reward=reward - before, positive=_clip(reward) - before_positive)


def _clip(reward: float) -> float:
    return min(1.0, max(0.0, reward))


def segments(context: Mapping[str, Any], segment_by: Iterable[str]) -> list[tuple[str, str]]:
    """The (dimension, value) pairs an impression's outcomes count in: overall first.

    >>> segments({"segment": "smb", "intent": None, "user": "u1"}, ["segment", "intent"])
    [('', ''), ('segment', 'smb')]
    """
    found = [(d, str(context[d])) for d in segment_by if context.get(d) not in (None, "")]
    return [OVERALL, *found]


@dataclass
class Tally:
    """Statistics in memory: what the store keeps in ``learn_stats``."""

    stats: dict[StatKey, Stat] = field(default_factory=dict)

    def add(self, pairs: Iterable[tuple[str, str]], item_id: int, delta: Delta) -> None:
        if not delta:
            return
        for dimension, value in pairs:
            self.stats.setdefault((dimension, value, item_id), Stat()).add(delta)

    def of(self, pairs: Iterable[tuple[str, str]], item_id: int) -> list[Stat | None]:
        return [self.stats.get((d, v, item_id)) for d, v in pairs]

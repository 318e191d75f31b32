"""The ``contextual`` policy: a contextual bandit over query, item and context features.

Vowpal Wabbit's ``cb_explore_adf`` (action-dependent features, epsilon-greedy exploration,
the doubly robust MTR reduction) scores every candidate from

- shared features: the context segments (``|c``) and the query's words (``|q``);
- the candidate's features: its id and kind (``|a``) and its relevance (``|s``: the
  documented mapping of similarity, ``learn.calibration.confidence``, which separates
  relevant items from stray ones better than the raw cosine);

with quadratic interactions context x item and query x item, so it learns which item
helps which segment and which question. The first item shown is drawn from VW's
probability mass function; the others follow in the model's order. The propensities are
exact (see ``_propensities``).

It learns from the first item of each settled impression, with the reward as negative
cost and the propensity the impression logged. Its state is VW's model bytes, kept by the
store; ``to_bytes`` / ``from_bytes`` round-trip it.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import vowpalwabbit

from learnloop.learn.policies import Arm, Ranking, eligible
from learnloop.learn.policies import relevance as arm_relevance

LEARNING_RATE = 2.0  # VW's default 0.5 learns about half as fast on the simulator
_TOKEN = re.compile(r"[^a-z0-9_]+")
_WORDS = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Example:
    """One logged decision: the arms, which one was first, its probability and reward."""

    arms: Sequence[Arm]
    context: Mapping[str, Any]
    query: str
    chosen: int  # index into arms
    probability: float
    reward: float


class ContextualPolicy:
    name = "contextual"
    version = "1"

    def __init__(
        self,
        state: bytes | None = None,
        *,
        exploration: float = 0.02,
        segment_by: Sequence[str] = ("segment", "intent"),
        seed: int = 0,
    ):
        self.exploration = exploration
        self.segment_by = tuple(segment_by)
        self.seed = seed
        self._lock = threading.Lock()
        self._vw = self._workspace(state)

    def _workspace(self, state: bytes | None) -> vowpalwabbit.Workspace:
        args = (
            f"--cb_explore_adf --epsilon {self.exploration} -q ca -q qa -l {LEARNING_RATE} --quiet"
            f" --random_seed {self.seed} --save_resume"
        )
        if state is None:
            return vowpalwabbit.Workspace(args)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.vw")
            with open(path, "wb") as file:
                file.write(state)
            return vowpalwabbit.Workspace(f"{args} -i {path}")

    def to_bytes(self) -> bytes:
        with tempfile.TemporaryDirectory() as folder, self._lock:
            path = os.path.join(folder, "model.vw")
            self._vw.save(path)
            with open(path, "rb") as file:
                return file.read()

    @classmethod
    def from_bytes(cls, state: bytes, **options: Any) -> ContextualPolicy:
        return cls(state, **options)

    def pmf(self, arms: Sequence[Arm], context: Mapping[str, Any], query: str) -> list[float]:
        """VW's probability of putting each arm first."""
        lines = [self._shared(context, query), *(_arm(a) for a in arms)]
        with self._lock:
            probabilities = self._vw.predict(lines)
        return [float(p) for p in probabilities]

    def rank(
        self,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        query: str,
        rng: np.random.Generator,
        threshold: float | None = None,
    ) -> Ranking:
        if not arms:
            return Ranking([], [], [], firsts=[])
        pmf = self.pmf(arms, context, query)
        base = sorted(range(len(arms)), key=lambda n: -pmf[n])  # stable: search order on ties
        first = int(rng.choice(len(arms), p=np.asarray(pmf) / sum(pmf)))
        order = [first, *(n for n in base if n != first)]
        allowed = eligible(arms, threshold)
        propensities, firsts = _propensities(pmf, base, order, allowed.tolist())
        return Ranking(order, pmf, propensities, firsts=firsts)

    def first(
        self,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        query: str,
        rng: np.random.Generator,
        threshold: float | None = None,
    ) -> list[float]:
        if not arms:
            return []
        pmf = self.pmf(arms, context, query)
        base = sorted(range(len(arms)), key=lambda n: -pmf[n])
        return _firsts(pmf, base, eligible(arms, threshold).tolist())

    def learn(self, examples: Sequence[Example]) -> None:
        with self._lock:
            for ex in examples:
                lines = [self._shared(ex.context, ex.query)]
                for n, arm in enumerate(ex.arms):
                    label = f"0:{-ex.reward}:{max(ex.probability, 1e-3)} " if n == ex.chosen else ""
                    lines.append(label + _arm(arm))
                self._vw.learn(lines)

    def _shared(self, context: Mapping[str, Any], query: str) -> str:
        found = [f"{d}={context[d]}" for d in self.segment_by if context.get(d)]
        words = _WORDS.findall(query.lower())[:40]
        return f"shared |c {' '.join(_token(t) for t in found)} |q {' '.join(words)}"


def _arm(arm: Arm) -> str:
    relevance = arm_relevance(arm)
    return f"|a i{arm.item_id} k_{_token(arm.kind)} |s rel:{relevance:.4f}"


def _token(text: str) -> str:
    return _TOKEN.sub("_", text.lower())


def _displayed(drawn: int, base: Sequence[int], allowed: Sequence[bool]) -> list[int]:
    """The arms displayed, in order, when ``drawn`` is drawn first and the rest follow base."""
    return [n for n in (drawn, *(b for b in base if b != drawn)) if allowed[n]]


def _propensities(
    pmf: Sequence[float], base: Sequence[int], order: Sequence[int], allowed: Sequence[bool]
) -> tuple[list[float], list[float]]:
    """P(each allowed arm at its displayed place) and P(each arm displayed first), exactly:
    the first is drawn from pmf and the rest follow ``base`` (pmf order), so summing over
    which arm is drawn gives both. Held-back arms get 0."""
    total = sum(pmf)
    shown = [n for n in order if allowed[n]]
    place = {arm: n for n, arm in enumerate(shown)}
    result = [0.0] * len(pmf)
    for drawn, mass in enumerate(pmf):
        for n, arm in enumerate(_displayed(drawn, base, allowed)):
            if place.get(arm) == n:
                result[arm] += mass / total
    return result, _firsts(pmf, base, allowed)


def _firsts(pmf: Sequence[float], base: Sequence[int], allowed: Sequence[bool]) -> list[float]:
    """P(each arm displayed first): drawn first and allowed, or the first allowed arm in
    base when the arm drawn is held back."""
    total = sum(pmf)
    result = [p / total if allowed[n] else 0.0 for n, p in enumerate(pmf)]
    top = next((n for n in base if allowed[n]), None)
    if top is not None:
        result[top] += sum(p for n, p in enumerate(pmf) if not allowed[n]) / total
    return result

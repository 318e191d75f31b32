"""The ``bayes`` policy: Beta posteriors per item and segment, Thompson sampling.

For each candidate:

    expected reward = relevance(similarity) * helpfulness

``relevance`` is the documented mapping of similarity (``learn.calibration.confidence``):
the prior from similarity, and what tells a relevant item from a stray one. The item's
``helpfulness`` (how often it helps when seen and relevant) has a Beta posterior:

1. overall: a Beta(PRIOR_MEAN, prior_strength) prior plus the item's position- and
   relevance-corrected evidence (``positive`` rewards in ``exposure`` looks, see
   ``learnloop.learn.tally``);
2. per context segment the request names (``segment_by``): the segment's evidence on a
   prior shrunk toward the overall posterior mean, worth ``prior_strength`` looks; the
   segment with the most evidence wins.

With probability ``exploration`` the request is ranked by one draw from each posterior
(Thompson sampling), otherwise by the posterior means: the exploration budget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from learnloop.learn.config import LearningConfig
from learnloop.learn.policies import (
    Arm,
    Ranking,
    deterministic_first,
    displayed_order,
    eligible,
    mc_first,
    mc_propensities,
)
from learnloop.learn.policies import relevance as arm_relevance
from learnloop.learn.tally import OVERALL, Stat, StatKey, segments

Draw = Callable[[np.random.Generator, int], "np.ndarray[Any, Any]"]
PRIOR_MEAN = 0.5  # a relevant item is expected to help half the time it is seen


class BayesPolicy:
    name = "bayes"
    version = "1"

    def __init__(
        self, stats: Mapping[StatKey, Stat], config: LearningConfig, *, samples: int = 128
    ):
        self.stats = stats
        self.config = config
        self.samples = samples  # Monte-Carlo draws behind each ranking's propensities

    def posteriors(
        self, arms: Sequence[Arm], context: Mapping[str, Any]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """The Beta parameters (alpha, beta) of each arm for this context."""
        pairs = segments(context, self.config.segment_by)[1:]
        params = [self._posterior(arm, pairs) for arm in arms]
        return np.array([p[0] for p in params]), np.array([p[1] for p in params])

    def _posterior(self, arm: Arm, pairs: list[tuple[str, str]]) -> tuple[float, float]:
        strength = self.config.prior_strength
        overall = self.stats.get((*OVERALL, arm.item_id))
        a, b = _updated(PRIOR_MEAN, strength, overall)
        mean = a / (a + b)
        best = (a, b, -1.0)
        for dimension, value in pairs:
            stat = self.stats.get((dimension, value, arm.item_id))
            if stat is not None and stat.exposure > best[2]:
                best = (*_updated(mean, strength, stat), stat.exposure)
        return best[0], best[1]

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
        draw = self._sampler(arms, context)
        allowed = eligible(arms, threshold)
        scores = draw(rng, 1)[0]
        order = [int(n) for n in np.argsort(-scores, kind="stable")]
        if self.config.exploration == 0:
            ones = np.where(allowed, 1.0, 0.0).tolist()
            return Ranking(
                order, [float(s) for s in scores], ones, firsts=deterministic_first(order, allowed)
            )
        shown = displayed_order(scores, allowed)
        propensities, firsts = mc_propensities(draw, shown, len(arms), rng, self.samples, allowed)
        return Ranking(order, [float(s) for s in scores], propensities, firsts=firsts)

    def _sampler(self, arms: Sequence[Arm], context: Mapping[str, Any]) -> Draw:
        """Draws of the arms' scores: posterior samples with probability ``exploration``,
        the posterior means otherwise; one row per draw."""
        alpha, beta = self.posteriors(arms, context)
        relevance = np.array([arm_relevance(arm) for arm in arms])
        means = relevance * alpha / (alpha + beta)
        explore = self.config.exploration

        def draw(gen: np.random.Generator, n: int) -> np.ndarray[Any, Any]:
            sampled = relevance * gen.beta(alpha, beta, size=(n, len(arms)))
            return np.where((gen.random(n) < explore)[:, None], sampled, means)

        return draw

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
        allowed = eligible(arms, threshold)
        return mc_first(self._sampler(arms, context), len(arms), rng, samples, allowed)


def _updated(mean: float, strength: float, stat: Stat | None) -> tuple[float, float]:
    a, b = mean * strength, (1.0 - mean) * strength
    if stat is None:
        return a, b
    return a + stat.positive, b + max(stat.exposure - stat.positive, 0.0)

"""Policies against the simulator, in memory: does a policy learn, and how close to the
oracle does it get? (``learnloop learning simulate``; the numbers in docs/learning.md.)

Each interaction: a simulated query, its candidates by similarity, the policy's ranking,
the top ``k`` shown, the simulated user's outcomes turned into statistics with the same
code the store runs (``tally.apply``), the contextual model trained on the first item.
The value of a list shown is its expected successes under the hidden quality
(``Simulator.value``), so the comparison has no click noise of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from learnloop.errors import InvalidInput
from learnloop.learn import registry
from learnloop.learn.calibration import confidence
from learnloop.learn.config import LearningConfig, PolicyName
from learnloop.learn.contextual import ContextualPolicy, Example
from learnloop.learn.policies import Arm, Policy
from learnloop.learn.simulator import Query, Simulator
from learnloop.learn.tally import OutcomeState, Tally, apply, segments


@dataclass
class Trace:
    policy: str
    values: list[float] = field(default_factory=list)
    oracle: list[float] = field(default_factory=list)

    def mean(self, last: int | None = None) -> float:
        window = self.values[-last:] if last else self.values
        return float(np.mean(window)) if window else 0.0

    def oracle_mean(self, last: int | None = None) -> float:
        window = self.oracle[-last:] if last else self.oracle
        return float(np.mean(window)) if window else 0.0


@dataclass
class Learner:
    """What a policy learns from in the simulator: the statistics counted so far and, once
    asked for, a contextual model trained on every first item shown."""

    name: PolicyName
    config: LearningConfig
    seed: int
    tally: Tally = field(default_factory=Tally)
    contextual: ContextualPolicy | None = None

    def policy(self) -> Policy:
        simulated = registry.entry(self.name).simulated
        if simulated is None:
            raise InvalidInput(
                f"the simulator cannot run the {self.name} policy; use one of "
                + ", ".join(registry.simulated_policies())
            )
        return simulated(self)

    def contextual_model(self) -> ContextualPolicy:
        if self.contextual is None:
            self.contextual = ContextualPolicy(
                exploration=self.config.epsilon, segment_by=self.config.segment_by, seed=self.seed
            )
        return self.contextual


def run(
    name: PolicyName,
    sim: Simulator,
    interactions: int,
    *,
    k: int = 3,
    candidates: int = 10,
    seed: int = 0,
    config: LearningConfig | None = None,
    learner: Learner | None = None,
) -> Trace:
    """Run ``interactions`` simulated requests through a policy that learns as it goes
    (in ``learner`` where one is given: what it learned stays there)."""
    learner = learner or Learner(name, config or LearningConfig(policy=name), seed)
    ids = {key: n for n, key in enumerate(sorted(sim.items), 1)}
    rng = np.random.default_rng(seed)
    trace = Trace(name)
    for _ in range(interactions):
        query = sim.query()
        found = sim.candidates(query, candidates)
        arms = [Arm(ids[key], similarity, sim.items[key].kind) for key, similarity in found]
        ranking = learner.policy().rank(arms, query.context, query.text, rng)
        shown = [found[n][0] for n in ranking.order[:k]]
        trace.values.append(sim.value(query, shown))
        trace.oracle.append(sim.value(query, sim.oracle(query, [key for key, _ in found], k)))
        relevance = {found[n][0]: confidence(found[n][1]) for n in ranking.order[:k]}
        rewards = _observe(learner, sim, query, relevance, ids)
        if learner.contextual is not None:
            first = ranking.order[0]
            probability, reward = ranking.propensities[first], rewards[shown[0]]
            example = Example(arms, query.context, query.text, first, probability, reward)
            learner.contextual.learn([example])
    return trace


def _observe(
    learner: Learner,
    sim: Simulator,
    query: Query,
    relevance: dict[str, float],
    ids: dict[str, int],
) -> dict[str, float]:
    """The user's outcomes, counted in the learner's statistics; the reward of each item
    shown (``relevance``: the items shown, best first, with their relevance)."""
    config, tally = learner.config, learner.tally
    pairs = segments(query.context, config.segment_by)
    states = {key: OutcomeState() for key in relevance}
    for rank, (key, relevant) in enumerate(relevance.items(), 1):
        tally.add(pairs, ids[key], apply(states[key], "shown", rank, config, relevant))
    for outcome in sim.respond(query, list(relevance)):
        state = states[outcome.key]
        tally.add(pairs, ids[outcome.key], apply(state, outcome.type, outcome.rank, config))
    for key, state in states.items():
        tally.add(pairs, ids[key], apply(state, "expire", state.rank, config))
    return {key: state.reward for key, state in states.items()}


def play(
    sim: Simulator,
    interactions: int,
    *,
    recommend: Callable[[dict[str, Any]], Any],
    record: Callable[[list[dict[str, Any]]], Any],
    update: Callable[[], Any] | None = None,
    k: int = 3,
) -> Trace:
    """Simulated users through the real code paths: ``recommend(request)`` returns a
    ``RecommendResponse`` (items keyed by ``external_id``), ``record(events)`` stores the
    users' outcomes as events, and ``update()`` (if given) runs after each interaction,
    e.g. ``lambda: stats.update(ll.db)``. For ``learnloop demo`` and the tests::

        play(sim, 500, recommend=lambda r: ll.recommender.recommend(tenant, r),
             record=lambda e: ll.events.record(tenant, e), update=ll.learning.update)
    """
    trace = Trace("live")
    for _ in range(interactions):
        query = sim.query()
        answer = recommend({"query": query.text, "context": query.context, "k": k})
        shown = [r.item.external_id for r in answer.recommendations]
        ids = {r.item.external_id: r.item.item_id for r in answer.recommendations}
        trace.values.append(sim.value(query, shown))
        trace.oracle.append(sim.value(query, sim.oracle(query, list(sim.items), k)))
        events = [
            {
                "type": o.type,
                "impression_id": answer.impression_id,
                "item_id": ids[o.key],
                "rank": o.rank,
            }
            for o in sim.respond(query, shown)
        ]
        if events:
            record(events)
        if update is not None:
            update()
    return trace

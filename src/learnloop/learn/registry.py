"""Every ranking policy in one table: how each is built for a live request, for offline
evaluation on the logs and in the in-memory simulator, and what the tools may do with it.

To add a policy: write a class with ``name``, ``rank`` and ``first`` (``policies.Policy``),
add one ``Entry`` to ``ENTRIES`` below and its name to ``config.PolicyName`` (a pydantic
``Literal``, so the API schema lists it; the import-time check below keeps the two equal).
The contract suite (tests/test_learn_policies.py) then runs on it, and ``learnloop demo``,
``learnloop learning simulate``, ``learning evaluate`` and the learning benchmark offer it
as its entry says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from learnloop._sql import load_queries
from learnloop.errors import InvalidInput
from learnloop.learn import config as config_module
from learnloop.learn.bayes import BayesPolicy
from learnloop.learn.config import LearningConfig, PolicyName
from learnloop.learn.contextual import ContextualPolicy
from learnloop.learn.memory import MemoryPolicy
from learnloop.learn.policies import Arm, Policy, SimilarityPolicy
from learnloop.learn.replay import MemoryReplay
from learnloop.learn.tally import Stat, StatKey
from learnloop.ports import Connection

if TYPE_CHECKING:
    from learnloop.learn.live import Policies, Question
    from learnloop.learn.simulate import Learner

Q = load_queries("learnloop.learn")


@dataclass(frozen=True)
class Request:
    """What a live request offers a policy to read: the store, the tenant's settings, the
    candidates, the request's context and its question (vector and embedder)."""

    conn: Connection
    tenant_id: str
    config: LearningConfig
    arms: Sequence[Arm]
    context: Mapping[str, Any]
    question: Question | None
    policies: Policies  # the server's caches: contextual models, the recall matrices


@dataclass(frozen=True)
class Entry:
    """One policy. ``offline`` is None when it cannot be evaluated on the logs yet, with the
    reason in ``not_offline``; ``simulated`` is None when the in-memory simulator cannot run
    it (``learning simulate`` leaves it out); ``demo`` offers it to ``learnloop demo``;
    ``calibrate`` says whether ``learning calibrate`` may refit its confidence (None) or why
    not (the reason)."""

    name: PolicyName
    summary: str
    live: Callable[[Request], Policy]
    offline: Callable[[Connection, str, LearningConfig], Policy] | None
    simulated: Callable[[Learner], Policy] | None
    demo: bool = True
    not_offline: str = ""
    not_calibrated: str | None = None


def _all_stats(conn: Connection, tenant_id: str) -> Mapping[StatKey, Stat]:
    rows = conn.execute(Q["all_stats"], {"tenant_id": tenant_id})
    return {
        (r["dimension"], r["value"], r["item_id"]): Stat(
            r["trials"], r["exposure"], r["reward"], r["positive"]
        )
        for r in rows
    }


def _bayes_live(r: Request) -> Policy:
    from learnloop.learn.live import item_stats

    return BayesPolicy(item_stats(r.conn, r.tenant_id, r.arms, r.context, r.config), r.config)


def _contextual_offline(conn: Connection, tenant_id: str, config: LearningConfig) -> Policy:
    from learnloop.learn.live import CONTEXTUAL, load_model

    state = load_model(conn, tenant_id, CONTEXTUAL)
    return ContextualPolicy(state, exploration=config.epsilon, segment_by=config.segment_by)


def _memory_live(r: Request) -> Policy:
    from learnloop.learn.live import neighbours

    found = (
        []
        if r.question is None
        else neighbours(r.conn, r.tenant_id, r.question, r.config, r.policies.recall)
    )
    settings = r.config.adapter
    if r.question is None or not settings.enabled:
        return MemoryPolicy(found, r.config.memory)
    vector = r.question.vector
    adapter = r.policies.adapters.get(r.conn, r.tenant_id, r.question.embedder, len(vector))
    adapted = None if adapter is None else adapter.probabilities(vector)
    return MemoryPolicy(found, r.config.memory, adapted=adapted, adapted_strength=settings.strength)


ENTRIES: dict[PolicyName, Entry] = {
    entry.name: entry
    for entry in (
        Entry(
            "similarity",
            "the baseline: the search's fused order and confidence, nothing learned",
            live=lambda r: SimilarityPolicy(),
            offline=lambda conn, tenant_id, config: SimilarityPolicy(),
            simulated=lambda learner: SimilarityPolicy(),
            demo=False,
        ),
        Entry(
            "bayes",
            "Thompson sampling on each item's (and segment's) success, times relevance",
            live=_bayes_live,
            offline=lambda conn, tenant_id, config: BayesPolicy(
                _all_stats(conn, tenant_id), config
            ),
            # 16 samples: the simulator does not use the propensities
            simulated=lambda learner: BayesPolicy(learner.tally.stats, learner.config, samples=16),
        ),
        Entry(
            "contextual",
            "a linear model of reward on question, item and context features (epsilon-greedy)",
            live=lambda r: r.policies.contextual(r.conn, r.tenant_id, r.config),
            offline=_contextual_offline,
            simulated=lambda learner: learner.contextual_model(),
        ),
        Entry(
            "memory",
            "the settled outcomes of the nearest past questions, read as a cascade (with the"
            " tenant's embedding adapter as prior once one is fitted)",
            live=_memory_live,
            # each logged impression replayed with the memory it had (learn/replay.py)
            offline=lambda conn, tenant_id, config: MemoryReplay(config.memory),
            simulated=None,
            not_calibrated=(
                "the memory policy's confidence is already fitted to this tenant's outcomes,"
                " question by question; recalibrating its prior made out-of-scope questions"
                " answered again (docs/learning.md)"
            ),
        ),
    )
}

if set(ENTRIES) != set(config_module.POLICIES):  # pragma: no cover - a developer's slip
    raise RuntimeError(
        f"learn/registry.py lists {sorted(ENTRIES)} but config.PolicyName lists "
        f"{sorted(config_module.POLICIES)}: add the policy to both"
    )


def entry(name: str) -> Entry:
    """The policy called ``name``, or InvalidInput naming the ones there are."""
    found = next((e for e in ENTRIES.values() if e.name == name), None)
    if found is None:
        raise InvalidInput(f"no policy {name!r}; use one of {', '.join(ENTRIES)}")
    return found


def offline(conn: Connection, tenant_id: str, name: str, config: LearningConfig) -> Policy:
    """The policy ``name`` as it stands now, with everything it learned, for evaluation
    on the logs; InvalidInput with the reason where it cannot be evaluated yet."""
    chosen = entry(name)
    if chosen.offline is None:
        raise InvalidInput(chosen.not_offline)
    return chosen.offline(conn, tenant_id, config)


def demo_policies() -> list[PolicyName]:
    return [e.name for e in ENTRIES.values() if e.demo]


def simulated_policies() -> list[PolicyName]:
    return [e.name for e in ENTRIES.values() if e.simulated is not None]

"""Offline evaluation and shadow reports on a tenant's logged impressions (store side)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from learnloop._sql import load_queries
from learnloop.learn import evaluation, registry
from learnloop.learn.config import PRIORITY, LearningConfig
from learnloop.learn.policies import Arm, Policy, Ranking
from learnloop.ports import Connection

Q = load_queries("learnloop.learn")


def target_policy(conn: Connection, tenant_id: str, name: str, config: LearningConfig) -> Policy:
    """The policy ``name`` as it stands now, with everything it learned (``registry``)."""
    return registry.offline(conn, tenant_id, name, config)


def evaluate(
    conn: Connection,
    tenant_id: str,
    policy: Policy | LoggingPolicy,
    *,
    limit: int = 10_000,
    seed: int = 0,
    config: LearningConfig | None = None,
    logged_by: str | None = None,
) -> dict[str, Any]:
    """IPS, SNIPS and DR estimates of ``policy``'s value on the latest ``limit`` settled
    impressions (those the policy ``logged_by`` logged, where it is named), with the
    evidence behind them (support, effective sample size, clipped weights), a verdict
    against the logging policy, and MRR and NDCG@3 against the logged rewards
    (``learnloop.learn.evaluation.assess``). A policy that is ``Replayed`` (the memory
    policy) is prepared with the window's impressions and ranks each as it would have then;
    the ``LoggingPolicy`` is the logging policy itself, read from each impression's log.
    """
    found = replay(conn, tenant_id, policy, limit=limit, seed=seed, logged_by=logged_by)
    log = [d.logged for d in found]
    bounds = reward_range(config or LearningConfig())
    ranked = [d for d in found if d.reciprocal_rank is not None]
    return _report(
        policy.name,
        evaluation.assess(log, bounds),
        [d.reciprocal_rank for d in ranked],  # type: ignore[misc]
        [d.ndcg for d in ranked],  # type: ignore[misc]
    )


@dataclass(frozen=True)
class Decision:
    """One settled impression of the log as the target sees it: the logged row
    (``evaluation_log``), the decision with the target's probabilities, and the target's
    reciprocal rank and NDCG@3 against the logged rewards (None: nothing was displayed)."""

    row: dict[str, Any]
    logged: evaluation.Logged
    reciprocal_rank: float | None
    ndcg: float | None


def replay(
    conn: Connection,
    tenant_id: str,
    policy: Policy | LoggingPolicy,
    *,
    limit: int = 10_000,
    seed: int = 0,
    logged_by: str | None = None,
) -> list[Decision]:
    """The latest ``limit`` settled impressions, each replayed by ``policy`` on its logged
    candidates in the search's order (what ``evaluate`` estimates from)."""
    rng = np.random.default_rng(seed)
    params = {"tenant_id": tenant_id, "limit": limit, "logged_by": logged_by}
    rows = conn.execute(Q["evaluation_log"], params).fetchall()
    if isinstance(policy, Replayed):
        policy.prepare(conn, tenant_id, [str(row["impression_id"]) for row in rows])
    return [
        Decision(row, *one) for row in rows if (one := _one(row, _at(policy, row), rng)) is not None
    ]


@runtime_checkable
class Replayed(Protocol):
    """A policy whose ranking depends on what was logged before each impression: prepared
    with the impressions of the window, then asked for the policy as it stood at each."""

    def prepare(self, conn: Connection, tenant_id: str, impression_ids: Sequence[str]) -> None: ...

    def at(self, impression_id: str) -> Policy: ...


def _at(policy: Policy | LoggingPolicy, row: dict[str, Any]) -> Policy:
    if isinstance(policy, LoggingPolicy):
        return policy.of(row)
    return policy.at(str(row["impression_id"])) if isinstance(policy, Replayed) else policy


class LoggingPolicy:
    """The policy that logged the impressions, replayed on its own log: evaluating it must
    give back the logged value, the check of a log and of how its rewards are read (an
    imported history's, say: ``learnloop import-log``). Where an impression keeps the
    logging policy's probability of displaying each candidate first, those are its target;
    where it keeps only what was displayed (an imported log's propensity of the solution
    shown), the other choices it could have made are unknown, so it is replayed as it
    decided: the item displayed first, with weight 1."""

    name = "logged"
    version = "1"

    def of(self, row: dict[str, Any]) -> _Fixed:
        candidates = row["candidates"]
        firsts = [c["first_propensity"] for c in candidates]
        if all(f is not None for f in firsts):
            return _Fixed([float(f) for f in firsts], replayed=False)
        return _Fixed([1.0 if c["shown"] and c["rank"] == 1 else 0.0 for c in candidates],
                      replayed=True)  # fmt: skip


class _Fixed:
    """One impression's logging policy: its probabilities of displaying each candidate
    first, and the candidates in their logged order; ``replayed``: its own decision,
    repeated (the weight of what it displayed is 1, whatever its propensity was)."""

    name = "logged"
    version = "1"

    def __init__(self, firsts: list[float], *, replayed: bool):
        self.firsts = firsts
        self.replayed = replayed

    def rank(self, arms: Sequence[Arm], context: Any, query: str, rng: np.random.Generator,
             threshold: float | None = None) -> Ranking:  # fmt: skip
        n = len(arms)
        return Ranking(list(range(n)), [0.0] * n, [1.0] * n, firsts=self.firsts)

    def first(self, arms: Sequence[Arm], context: Any, query: str, rng: np.random.Generator,
              threshold: float | None = None) -> list[float]:  # fmt: skip
        return self.firsts


def reward_range(config: LearningConfig) -> tuple[float, float]:
    """The least and the most one impression can earn: its rewards, and 0 for nothing."""
    values = [config.rewards.of(kind) for kind in (*PRIORITY, "no_outcome")]
    return min(0.0, *values), max(0.0, *values)


def arms_of(row: dict[str, Any]) -> list[Arm]:
    """The candidates of one logged impression (``evaluation_log``), in their logged order."""
    return [
        Arm(c["item_id"], c["similarity"], c["kind"], c["relevance"]) for c in row["candidates"]
    ]


def _one(
    row: dict[str, Any], policy: Policy, rng: np.random.Generator
) -> tuple[evaluation.Logged, float | None, float | None] | None:
    """One impression as a logged decision, and the policy's MRR and NDCG@3 on it (None
    where nothing was displayed); None while the first item's reward is not settled."""
    candidates = row["candidates"]
    first = next((n for n, c in enumerate(candidates) if c["shown"] and c["rank"] == 1), None)
    if first is not None and not candidates[first]["settled"]:
        return None
    arms = arms_of(row)
    context, query = row["context"], row["query"]
    threshold = float(row["threshold"])
    target = policy.first(arms, context, query, rng, threshold)
    firsts = [c["first_propensity"] for c in candidates]
    logging = None if any(f is None for f in firsts) else [float(f) for f in firsts]
    if first is None:
        nothing = 1.0 if logging is None else max(0.0, 1.0 - sum(logging))
        logged = evaluation.Logged([a.item_id for a in arms], None, nothing, 0.0, target, logging)
        return logged, None, None
    chosen = candidates[first]
    propensity = chosen["propensity"] if logging is None else logging[first]
    if isinstance(policy, _Fixed) and policy.replayed:
        propensity = 1.0  # the logging policy repeating its own decision
    logged = evaluation.Logged(
        [a.item_id for a in arms], first, propensity, chosen["reward"], target, logging
    )
    order = [arms[n].item_id for n in policy.rank(arms, context, query, rng, threshold).order]
    gains = {c["item_id"]: max(c["reward"], 0.0) for c in candidates if c["shown"]}
    relevant = {item for item, gain in gains.items() if gain > 0}
    return logged, evaluation.reciprocal_rank(order, relevant), evaluation.ndcg(order, gains)


def _report(
    name: str, found: evaluation.Assessment, mrr: list[float], ndcg: list[float]
) -> dict[str, Any]:
    e = found.estimates
    return {
        "policy": name,
        "impressions": found.difference.n,
        "logged_value": found.logged_value if found.difference.n else None,
        "verdict": found.verdict,
        "reasons": found.reasons,
        "estimates": {key: _estimate(value) for key, value in e.items()},
        "difference": _estimate(found.difference),
        "support": found.support,
        "effective_sample_size": found.effective_sample_size,
        "clipped_share": found.clipped_share,
        "bias": (
            f"weights above {evaluation.MAX_WEIGHT:g} are clipped to it"
            f" ({found.clipped_share:.1%} of impressions): IPS and DR lean low by what they"
            " cut; every value and interval is kept inside the reward range"
        ),
        "reward_range": list(found.reward_range),
        "mrr": float(np.mean(mrr)) if mrr else None,
        "ndcg_at_3": float(np.mean(ndcg)) if ndcg else None,
    }


def _estimate(e: evaluation.Estimate) -> dict[str, Any]:
    return {"value": e.value, "low": e.low, "high": e.high, "clamped": e.clamped}


def shadow_report(
    conn: Connection, tenant_id: str, name: str, config: LearningConfig, limit: int = 10_000
) -> dict[str, Any]:
    """How often the shadow policy agreed with the live one, and its estimated value with
    the evidence behind it: where the log does not support it, the verdict says so
    (``insufficient_evidence``) instead of endorsing a number."""
    params = {"tenant_id": tenant_id, "policy": name, "limit": limit}
    rows = conn.execute(Q["shadow_log"], params).fetchall()
    first = [bool(r["item_ids"]) and r["item_ids"][0] == r["live_first"] for r in rows]
    overlap = [
        len(set(r["item_ids"]) & set(r["live_shown"] or [])) / max(len(r["item_ids"]), 1)
        for r in rows
    ]
    target = target_policy(conn, tenant_id, name, config)
    estimate = evaluate(conn, tenant_id, target, limit=limit, config=config)
    return {
        "policy": name,
        "impressions": len(rows),
        "first_agreement": float(np.mean(first)) if rows else None,
        "overlap": float(np.mean(overlap)) if rows else None,
        "evaluation": estimate,
    }

"""Offline evaluation and shadow reports on a tenant's logged impressions (store side)."""

from __future__ import annotations

from typing import Any

import numpy as np

from learnloop._sql import load_queries
from learnloop.learn import evaluation, registry
from learnloop.learn.config import LearningConfig
from learnloop.learn.policies import Arm, Policy
from learnloop.ports import Connection

Q = load_queries("learnloop.learn")


def target_policy(conn: Connection, tenant_id: str, name: str, config: LearningConfig) -> Policy:
    """The policy ``name`` as it stands now, with everything it learned (``registry``)."""
    return registry.offline(conn, tenant_id, name, config)


def evaluate(
    conn: Connection,
    tenant_id: str,
    policy: Policy,
    *,
    limit: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """IPS, SNIPS and DR estimates of ``policy``'s value on the latest ``limit``
    impressions, with the logged value, MRR and NDCG@3 against the logged rewards."""
    rng = np.random.default_rng(seed)
    rows = conn.execute(Q["evaluation_log"], {"tenant_id": tenant_id, "limit": limit}).fetchall()
    found = [one for row in rows if (one := _one(row, policy, rng)) is not None]
    log = [one[0] for one in found]
    return _report(policy.name, log, [one[1] for one in found], [one[2] for one in found])


def _one(
    row: dict[str, Any], policy: Policy, rng: np.random.Generator
) -> tuple[evaluation.Logged, float, float] | None:
    """One impression as a logged decision, and the policy's MRR and NDCG@3 on it."""
    candidates = row["candidates"]
    first = next((n for n, c in enumerate(candidates) if c["shown"] and c["rank"] == 1), None)
    if first is None:
        return None
    arms = [Arm(c["item_id"], c["similarity"], c["kind"]) for c in candidates]
    context, query = row["context"], row["query"]
    target = policy.first(arms, context, query, rng)
    chosen = candidates[first]
    logged = evaluation.Logged(
        [a.item_id for a in arms], first, chosen["propensity"], chosen["reward"], target
    )
    order = [arms[n].item_id for n in policy.rank(arms, context, query, rng).order]
    gains = {c["item_id"]: max(c["reward"], 0.0) for c in candidates if c["shown"]}
    relevant = {item for item, gain in gains.items() if gain > 0}
    return logged, evaluation.reciprocal_rank(order, relevant), evaluation.ndcg(order, gains)


def _report(
    name: str, log: list[evaluation.Logged], mrr: list[float], ndcg: list[float]
) -> dict[str, Any]:
    found = evaluation.estimates(log) if log else {}
    logged = float(np.mean([x.reward for x in log])) if log else None
    return {
        "policy": name,
        "impressions": len(log),
        "logged_value": logged,
        "estimates": {
            key: {"value": e.value, "low": e.low, "high": e.high} for key, e in found.items()
        },
        "effective_sample_size": _ess(log),
        "mrr": float(np.mean(mrr)) if mrr else None,
        "ndcg_at_3": float(np.mean(ndcg)) if ndcg else None,
    }


def _ess(log: list[evaluation.Logged]) -> float:
    """How many impressions the weighted estimate is worth: (sum w)^2 / sum w^2."""
    w = np.array([x.target[x.logged] / max(x.propensity, evaluation.MIN_PROPENSITY) for x in log])
    squares = float((w * w).sum())
    return float(w.sum() ** 2 / squares) if squares else 0.0


def shadow_report(
    conn: Connection, tenant_id: str, name: str, config: LearningConfig, limit: int = 10_000
) -> dict[str, Any]:
    """How often the shadow policy agreed with the live one, and its estimated value."""
    params = {"tenant_id": tenant_id, "policy": name, "limit": limit}
    rows = conn.execute(Q["shadow_log"], params).fetchall()
    first = [bool(r["item_ids"]) and r["item_ids"][0] == r["live_first"] for r in rows]
    overlap = [
        len(set(r["item_ids"]) & set(r["live_shown"] or [])) / max(len(r["item_ids"]), 1)
        for r in rows
    ]
    estimate = evaluate(conn, tenant_id, target_policy(conn, tenant_id, name, config), limit=limit)
    return {
        "policy": name,
        "impressions": len(rows),
        "first_agreement": float(np.mean(first)) if rows else None,
        "overlap": float(np.mean(overlap)) if rows else None,
        "evaluation": estimate,
    }

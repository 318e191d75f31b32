"""Switching the live policy automatically, and back, only on evidence.

A tenant that sets ``auto_switch.enabled`` lets learnloop change its live policy. Each
check (the worker, every ``EVERY`` seconds, or ``learnloop learning autoswitch``):

1. After an automatic switch, while the live policy is still the one switched to: once
   ``rollback_after`` of its impressions since the switch are settled, their live value
   (the mean reward of the item displayed first, 0 where nothing was) is compared with the
   95% interval of the previous policy's live value over the window before the switch
   (kept with the switch). Below the interval's lower end, the previous policy comes back
   (a ``rollback``). With fewer impressions than that, nothing else is tried (probation).
2. Otherwise each candidate is evaluated offline (``learn.offline``) on the latest
   ``window`` impressions the live policy logged, and the live policy becomes the one
   whose verdict is ``better`` with the largest lower bound of the paired difference, that
   bound above 0. ``insufficient_evidence`` (no support, a small effective sample size,
   too few impressions) never switches. A policy rolled back is not tried again for
   ``cooldown_hours``.

Every switch and rollback is written, with its evidence, to ``learn_policy_switches`` in
the transaction that changes the policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from psycopg.types.json import Jsonb

from learnloop._sql import load_queries
from learnloop.learn import offline, registry
from learnloop.learn.config import POLICIES, LearningConfig, PolicyName
from learnloop.learn.evaluation import Z95
from learnloop.ports import Connection, Store

Q = load_queries("learnloop.learn")
EVERY = 300.0  # seconds between the worker's checks
Action = Literal["switch", "rollback"]
HISTORY = 100  # audit rows read back for a check


@dataclass(frozen=True)
class Rate:
    """A policy's live value: the mean settled reward of the item it displayed first, with
    its 95% interval (normal approximation, inside the reward range)."""

    value: float
    low: float
    high: float
    impressions: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "impressions": self.impressions,
        }


@dataclass
class Decision:
    """What a check found: the action (None: nothing to do), the policy it goes to, why,
    the evidence, and what each candidate's evaluation said."""

    policy: str
    action: Action | None = None
    to: PolicyName | None = None
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    candidates: list[dict[str, Any]] = field(default_factory=list)


def autoswitch_tenants(db: Store) -> list[str]:
    """The tenants that asked for automatic policy switches."""
    with db.connection() as conn:
        return [r["tenant_id"] for r in conn.execute(Q["autoswitch_tenants"])]


def live_rate(
    conn: Connection,
    tenant_id: str,
    policy: str,
    config: LearningConfig,
    *,
    since: datetime | None = None,
) -> Rate:
    """The live value of ``policy`` over its latest ``auto_switch.window`` settled
    impressions (since a time, where one is given)."""
    params = {
        "tenant_id": tenant_id,
        "policy": policy,
        "since": since,
        "limit": config.auto_switch.window,
    }
    row = conn.execute(Q["live_rate"], params).fetchone()
    assert row is not None
    n, total, squares = int(row["n"]), float(row["total"]), float(row["squares"])
    lo, hi = offline.reward_range(config)
    if n == 0:
        return Rate(0.0, lo, hi, 0)
    mean = total / n
    variance = max(squares / n - mean * mean, 0.0) * n / (n - 1) if n > 1 else math.inf
    half = Z95 * math.sqrt(variance / n)
    return Rate(mean, max(mean - half, lo), min(mean + half, hi), n)


def check(
    conn: Connection, tenant_id: str, config: LearningConfig, *, now: datetime | None = None
) -> Decision:
    """What the tenant's evidence says to do now (nothing is changed here)."""
    now = now or datetime.now(UTC)
    history = conn.execute(Q["list_switches"], {"tenant_id": tenant_id, "limit": HISTORY})
    rows = history.fetchall()
    latest = rows[0] if rows else None
    if latest and latest["action"] == "switch" and latest["to_policy"] == config.policy:
        guarded = _guard(conn, tenant_id, config, latest)
        if guarded is not None:
            return guarded
    return _candidates(conn, tenant_id, config, rows, now)


def _guard(
    conn: Connection, tenant_id: str, config: LearningConfig, switch: dict[str, Any]
) -> Decision | None:
    """A rollback, or probation, after the automatic switch ``switch``; None when the new
    policy has held up for long enough (the candidates are tried)."""
    since = live_rate(conn, tenant_id, config.policy, config, since=switch["created_at"])
    before = switch["evidence"]["live_before"]
    needed = config.auto_switch.rollback_after
    if since.impressions < needed:
        return Decision(
            config.policy,
            reason=(
                f"on probation: {since.impressions} of {needed} settled impressions of"
                f" {config.policy} since switch {switch['switch_id']}"
            ),
        )
    if since.value >= before["low"]:
        return None
    return Decision(
        config.policy,
        "rollback",
        switch["from_policy"],
        reason=(
            f"live value {since.value:.3f} over {since.impressions} impressions since switch"
            f" {switch['switch_id']} fell below {before['low']:.3f}, the lower end of"
            f" {switch['from_policy']}'s interval before it"
        ),
        evidence={
            "switch_id": switch["switch_id"],
            "live_since": since.as_dict(),
            "live_before": before,
        },
    )


def _candidates(
    conn: Connection,
    tenant_id: str,
    config: LearningConfig,
    history: list[dict[str, Any]],
    now: datetime,
) -> Decision:
    """The candidate with the strongest offline evidence of beating the live policy."""
    settings = config.auto_switch
    cooling = _rolled_back_since(history, now - timedelta(hours=settings.cooldown_hours))
    names = [p for p in settings.candidates or POLICIES if p != config.policy]
    found, best = [], None
    for name in names:
        one = _evaluate(conn, tenant_id, name, config, name in cooling)
        found.append(one)
        if one["qualifies"] and (
            best is None or one["difference"]["low"] > best["difference"]["low"]
        ):
            best = one
    if best is None:
        return Decision(config.policy, reason=_why_not(found), candidates=found)
    report = best.pop("report")
    before = live_rate(conn, tenant_id, config.policy, config)
    return Decision(
        config.policy,
        "switch",
        best["policy"],
        reason=(
            f"{best['policy']}'s offline value beats {config.policy}'s by"
            f" {report['difference']['value']:.3f} (95% interval"
            f" {report['difference']['low']:.3f} to {report['difference']['high']:.3f})"
            f" on {report['impressions']} impressions"
        ),
        evidence={"offline": report, "live_before": before.as_dict()},
        candidates=[_summary(one) for one in found],
    )


def _evaluate(
    conn: Connection, tenant_id: str, name: PolicyName, config: LearningConfig, cooling: bool
) -> dict[str, Any]:
    """One candidate's offline evaluation on the live policy's log, and whether it
    qualifies for a switch."""
    if cooling:
        hours = config.auto_switch.cooldown_hours
        return _refused(name, f"rolled back in the last {hours:g} hours")
    entry = registry.entry(name)
    if entry.offline is None:
        return _refused(name, entry.not_offline)
    target = entry.offline(conn, tenant_id, config)
    report = offline.evaluate(
        conn,
        tenant_id,
        target,
        limit=config.auto_switch.window,
        config=config,
        logged_by=config.policy,
    )
    qualifies = report["verdict"] == "better" and report["difference"]["low"] > 0
    return {
        "policy": name,
        "qualifies": qualifies,
        "verdict": report["verdict"],
        "reasons": report["reasons"],
        "difference": report["difference"],
        "impressions": report["impressions"],
        "report": report,
    }


def _refused(name: str, reason: str) -> dict[str, Any]:
    return {"policy": name, "qualifies": False, "verdict": None, "reasons": [reason]}


def _summary(one: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in one.items() if key != "report"}


def _why_not(found: list[dict[str, Any]]) -> str:
    if not found:
        return "no candidate policy besides the live one"
    parts = [f"{one['policy']}: {one['verdict'] or '; '.join(one['reasons'])}" for one in found]
    return "no candidate is better with its 95% lower bound above 0 (" + ", ".join(parts) + ")"


def _rolled_back_since(history: list[dict[str, Any]], since: datetime) -> set[str]:
    """The policies rolled back since a time."""
    return {
        row["from_policy"]
        for row in history
        if row["action"] == "rollback" and row["created_at"] >= since
    }


def apply(conn: Connection, tenant_id: str, decision: Decision) -> dict[str, Any] | None:
    """Make the decision's switch or rollback (in the caller's transaction): the tenant's
    policy changes and the audit row is written; the row. None, with nothing written, when
    the live policy is no longer the one the decision was made from."""
    assert decision.action is not None and decision.to is not None
    params = {"tenant_id": tenant_id, "from_policy": decision.policy, "to_policy": decision.to}
    if conn.execute(Q["switch_policy"], params).fetchone() is None:
        return None
    evidence = decision.evidence | {"reason": decision.reason, "candidates": decision.candidates}
    row = conn.execute(
        Q["insert_switch"], params | {"action": decision.action, "evidence": Jsonb(evidence)}
    ).fetchone()
    assert row is not None
    return row

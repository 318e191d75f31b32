"""Lifecycle rules for tools, runbooks and playbooks: flag what to promote, deprecate or
archive from their runs, success rate and last use, and apply the flags as item statuses.

- deprecate: active, at least ``min_runs`` runs, success rate below ``deprecate_below``;
- promote: draft or deprecated, at least ``min_runs`` runs, success rate at least
  ``promote_above`` (it becomes active again);
- archive: active or deprecated, not used for ``unused_days`` (never used: made that long ago).

A run is an execution with an outcome: a succeeded or failed event on an impression that
showed the item, a tool call, or a playbook report that ended.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from learnloop._sql import load_queries
from learnloop.analytics.models import Action, LifecycleFlag, LifecycleRules
from learnloop.knowledge import Items
from learnloop.ports import Store

Q = load_queries("learnloop.analytics")
NEW_STATUS: dict[Action, str] = {
    "promote": "active",
    "deprecate": "deprecated",
    "archive": "archived",
}


def judge(row: dict[str, Any], rules: LifecycleRules, now: datetime) -> LifecycleFlag | None:
    """The flag the rules give one item's statistics, or None. Pure: no I/O.

    >>> rules = LifecycleRules(min_runs=10, deprecate_below=0.5)
    >>> now = datetime(2026, 1, 1, tzinfo=UTC)
    >>> row = dict(item_id=1, kind="tool", title="t", status="active", runs=10, successes=3,
    ...            last_used_at=now, created_at=now)
    >>> judge(row, rules, now).action
    'deprecate'
    """
    runs, status = int(row["runs"]), row["status"]
    rate = row["successes"] / runs if runs else None
    last = row["last_used_at"] or row["created_at"]
    action: Action | None = None
    if rate is not None and runs >= rules.min_runs:
        if status == "active" and rate < rules.deprecate_below:
            action = "deprecate"
            reason = f"success rate {rate:.0%} below {rules.deprecate_below:.0%} after {runs} runs"
        elif status in ("draft", "deprecated") and rate >= rules.promote_above:
            action = "promote"
            reason = f"success rate {rate:.0%} at least {rules.promote_above:.0%} over {runs} runs"
    if action is None and status in ("active", "deprecated"):
        if now - last >= timedelta(days=rules.unused_days):
            action = "archive"
            reason = f"not used for {(now - last).days} days (limit {rules.unused_days})"
    if action is None:
        return None
    return LifecycleFlag(
        item_id=row["item_id"],
        kind=row["kind"],
        title=row["title"],
        status=status,
        action=action,
        new_status=NEW_STATUS[action],
        reason=reason,
        runs=runs,
        success_rate=rate,
        last_used_at=row["last_used_at"],
    )


def report(
    db: Store, tenant_id: str, rules: LifecycleRules, now: datetime | None = None
) -> list[LifecycleFlag]:
    """The flags the rules give the tenant's tools, runbooks and playbooks now."""
    now = now or datetime.now(UTC)
    with db.connection() as conn:
        rows = conn.execute(
            Q["lifecycle_stats"], {"tenant_id": tenant_id, "kinds": list(rules.kinds)}
        ).fetchall()
    return [flag for row in rows if (flag := judge(row, rules, now)) is not None]


def apply(items: Items, flags: list[LifecycleFlag], tenant_id: str) -> list[LifecycleFlag]:
    """Set each flagged item's status (a new item version is recorded for each)."""
    for flag in flags:
        items.update(tenant_id, flag.item_id, {"status": flag.new_status})
    return flags

"""Keeping the daily rollups up to date: recompute only the days that changed.

A refresh of one tenant runs in one transaction under a per-tenant advisory lock (taken
with ``pg_try_advisory_xact_lock``: a second worker finding it held skips the tenant), so
it is safe to call from many workers at once, and idempotent: recomputing a day deletes
and rebuilds its rows. The days recomputed start at the earliest of

- the impression of any event past the tenant's watermark (``last_event_id``),
- the impressions whose abandon window closed since the last refresh,
- the executions and feedback stored since the last refresh (their start / creation day).

Events that arrive more than ``conversion_seconds`` after their impression do not count;
an event whose ``occurred_at`` lies over an hour before the day recomputed from is only
counted by a full rebuild (``refresh(full=True)``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from learnloop._sql import load_queries
from learnloop.analytics.models import RefreshResult
from learnloop.errors import InvalidInput, NotFound
from learnloop.ports import Connection, Store

Q = load_queries("learnloop.analytics", "rollups.sql")
SLACK = timedelta(minutes=1)
BEGINNING = date(1970, 1, 1)


def refresh(db: Store, tenant_id: str, *, full: bool = False, wait: bool = False) -> RefreshResult:
    """Bring the tenant's rollups up to date (all of them when ``full``).

    One refresh of a tenant runs at a time. When another is running, the worker
    (``wait=False``) skips the tenant; a read (``wait=True``) waits for it and is served
    by it, so the panels a dashboard loads at once all read the same rollups rather than
    one fresh and the rest as they were before (the one that won the lock)."""
    params: dict[str, Any] = {"tenant_id": tenant_id}
    with db.transaction() as conn:
        if not _one(conn, "try_lock", params)["locked"]:
            if not wait:
                return RefreshResult(
                    tenant_id=tenant_id, refreshed=False, since=None, refreshed_at=None
                )
            before = conn.execute(Q["get_state"], params).fetchone()
            conn.execute(Q["lock"], params)  # until the running refresh commits
            after = conn.execute(Q["get_state"], params).fetchone()  # sees its commit
            if after is not None and (
                before is None or after["refreshed_at"] != before["refreshed_at"]
            ):
                return RefreshResult(
                    tenant_id=tenant_id,
                    refreshed=False,
                    since=None,
                    refreshed_at=after["refreshed_at"],
                )
        conn.execute(Q["ensure_state"], params)
        state = conn.execute(Q["get_state"], params).fetchone()
        if state is None:
            raise NotFound(f"no tenant {tenant_id!r}")
        if full:
            state |= {"refreshed_at": None, "last_event_id": 0}
        since, settled = _since(conn, tenant_id, state)
        windows = {k: state[k] for k in ("abandon_seconds", "conversion_seconds")}
        _rebuild(conn, params | windows | {"since": since})
        conn.execute(
            Q["save_state"],
            params | {"refreshed_at": state["now"], "last_event_id": settled},
        )
    return RefreshResult(
        tenant_id=tenant_id, refreshed=True, since=since, refreshed_at=state["now"]
    )


def refresh_all(db: Store) -> list[RefreshResult]:
    """Refresh every tenant with something new since its last refresh."""
    return [refresh(db, tenant_id) for tenant_id in tenants_with_activity(db)]


def tenants_with_activity(db: Store) -> list[str]:
    """The tenants with something new since their last refresh (the worker refreshes each
    on its own, so one that fails never holds up the others)."""
    with db.connection() as conn:
        return [row["tenant_id"] for row in conn.execute(Q["tenants_with_activity"])]


def set_windows(
    db: Store, tenant_id: str, *, abandon_seconds: int, conversion_seconds: int
) -> None:
    """Change the tenant's abandon and conversion windows; the next refresh rebuilds all."""
    if abandon_seconds < 1 or conversion_seconds < 1:
        raise InvalidInput("abandon_seconds and conversion_seconds must be at least 1")
    with db.connection() as conn:
        row = conn.execute(
            Q["set_windows"],
            {
                "tenant_id": tenant_id,
                "abandon_seconds": abandon_seconds,
                "conversion_seconds": conversion_seconds,
            },
        ).fetchone()
    if row is None:
        raise NotFound(f"no tenant {tenant_id!r}")


def windows(db: Store, tenant_id: str) -> tuple[int, int]:
    """The tenant's (abandon_seconds, conversion_seconds)."""
    with db.connection() as conn:
        row = conn.execute(Q["get_state"], {"tenant_id": tenant_id}).fetchone()
    return (1800, 604800) if row is None else (row["abandon_seconds"], row["conversion_seconds"])


def _since(conn: Connection, tenant_id: str, state: dict[str, Any]) -> tuple[date, int]:
    """The first day to recompute, and the event watermark to save."""
    last = state["refreshed_at"]
    watermark = {"tenant_id": tenant_id, "last_event_id": state["last_event_id"]}
    events = _one(conn, "new_events", watermark)
    settled = max(state["last_event_id"], events["settled"] or 0)
    if last is None:
        return BEGINNING, settled
    candidates = [last - SLACK - timedelta(seconds=state["abandon_seconds"])]
    if events["earliest"] is not None:
        candidates.append(events["earliest"])
    runs = _one(conn, "new_executions", {"tenant_id": tenant_id, "since": last - SLACK})
    if runs["earliest"] is not None:
        candidates.append(runs["earliest"])
    return min(_day(when) for when in candidates), settled


def _rebuild(conn: Connection, params: dict[str, Any]) -> None:
    for table in ("metrics", "items", "feedback", "tools"):
        conn.execute(Q[f"delete_{table}"], params)
        conn.execute(Q[f"rollup_{table}"], params)


def _one(conn: Connection, name: str, params: dict[str, Any]) -> dict[str, Any]:
    row = conn.execute(Q[name], params).fetchone()
    assert row is not None, name
    return row


def _day(when: datetime) -> date:
    return when.astimezone(UTC).date()

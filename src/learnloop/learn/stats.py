"""Keeping the statistics up to date from new events, incrementally.

Triggers put every item shown and every event into ``learn_pending`` in the transaction
that writes them, so a row becomes visible exactly when its event commits: no id
watermark, nothing skipped when a transaction with a lower id commits late. ``update``
takes the tenants with work one at a time, the tenant with the oldest pending row first.
Each tenant's turn is one transaction under that tenant's advisory lock: it claims the
tenant's oldest pending rows, turns them into outcome changes (``tally.apply``) and adds the
changes to ``learn_stats``. Several workers may call it at once: one that finds a tenant
taken skips it and goes on with the next, so tenants are updated in parallel and never
counted twice. A tenant whose turn fails is logged and rolled back (its rows wait for the
next update); the other tenants go on. A crash loses nothing.

Outcomes that settle at rank 1 teach the tenant's contextual model (``live.train``) in
the same transaction. It also ends the wait of items shown with no outcome for the tenant's
``rewards.wait_seconds``, giving them ``rewards.no_outcome``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from learnloop._sql import load_queries
from learnloop.learn import live
from learnloop.learn.config import LearningConfig
from learnloop.learn.tally import Delta, OutcomeState, apply, segments
from learnloop.ports import Connection, Store

Q = load_queries("learnloop.learn")
log = logging.getLogger("learnloop.learn.stats")
# A pending row whose impression is still not visible after this long is dropped.
ORPHAN_AFTER = timedelta(minutes=15)
OutcomeKey = tuple[str, UUID, int]
# Called with (connection, tenant, impression ids settled at rank 1) inside the update.
OnSettled = Callable[[Connection, str, list[UUID], LearningConfig], None]


@dataclass
class _Batch:
    rows: list[dict[str, Any]]
    impressions: dict[tuple[str, UUID], dict[str, Any]] = field(default_factory=dict)
    states: dict[OutcomeKey, OutcomeState] = field(default_factory=dict)
    stats: dict[tuple[str, str, str, int], Delta] = field(default_factory=dict)
    settled: dict[str, set[UUID]] = field(default_factory=lambda: defaultdict(set))


def update(
    db: Store,
    *,
    limit: int = 10_000,
    now: datetime | None = None,
    on_settled: OnSettled | None = live.train,
) -> int:
    """Process up to ``limit`` pending rows and due waits, over all tenants; the number
    processed.

    Returns 0 when nothing is new or when other callers hold every tenant with work (they
    are doing it). Call it again while it returns ``limit``.
    """
    now = now or datetime.now(UTC)
    with db.connection() as conn:
        tenants = [r["tenant_id"] for r in conn.execute(Q["tenants_with_work"], {"now": now})]
    done = 0
    for tenant in tenants:
        if done >= limit:
            break
        try:
            done += update_tenant(db, tenant, limit=limit - done, now=now, on_settled=on_settled)
        except Exception:  # any failure of one tenant's turn: the others still go on
            log.exception("tenant %s: the statistics update failed; retried next time", tenant)
    return done


def update_tenant(
    db: Store,
    tenant_id: str,
    *,
    limit: int = 10_000,
    now: datetime | None = None,
    on_settled: OnSettled | None = live.train,
) -> int:
    """Process up to ``limit`` of one tenant's pending rows and due waits, in one
    transaction under the tenant's lock; 0 at once when another caller holds it."""
    now = now or datetime.now(UTC)
    params = {"tenant_id": tenant_id, "now": now, "limit": limit}
    with db.transaction() as conn:
        if not conn.execute(Q["try_lock"], params).fetchone()["locked"]:  # type: ignore[index]
            return 0
        conn.execute(Q["plan_lookups"])
        rows = conn.execute(Q["claim_pending"], params).fetchall()
        params["limit"] = limit - len(rows)
        due = conn.execute(Q["due_outcomes"], params).fetchall() if params["limit"] else []
        rows.extend({**row, "kind": "expire", "received_at": now} for row in due)
        if not rows:
            return 0
        batch = _Batch(rows)
        waiting = _process(conn, batch, now)
        if on_settled is not None:
            _report_settled(conn, batch, on_settled)
    # Rows put back to wait for their impression are not done: counting them would make a
    # caller that repeats while this returns more than 0 go round until they are dropped.
    return len(rows) - waiting


def _process(conn: Connection, batch: _Batch, now: datetime) -> int:
    """Apply the batch's rows; the number put back to wait for an impression not visible
    yet."""
    _load_impressions(conn, batch)
    seen = batch.impressions
    orphans = [r for r in batch.rows if (r["tenant_id"], r["impression_id"]) not in seen]
    waiting = [r for r in orphans if r["received_at"] > now - ORPHAN_AFTER]
    _requeue(conn, waiting)
    batch.rows = [r for r in batch.rows if (r["tenant_id"], r["impression_id"]) in seen]
    _resolve_ranks(conn, batch)
    _load_states(conn, batch)
    for row in sorted(batch.rows, key=_order):
        _apply_row(batch, row)
    _store(conn, batch)
    return len(waiting)


def _order(row: dict[str, Any]) -> tuple[int, int]:
    """Shown before its events, events in their order, waits ending last."""
    first = {"shown": 0, "expire": 2}.get(row["kind"], 1)
    return first, row.get("seq") or 0


def _load_impressions(conn: Connection, batch: _Batch) -> None:
    pairs = {(r["tenant_id"], r["impression_id"]) for r in batch.rows}
    params = {
        "tenant_ids": _texts(t for t, _ in pairs),
        "impression_ids": _plain(i for _, i in pairs),
    }
    configs: dict[str, LearningConfig] = {}  # one tenant's impressions share its settings
    for row in conn.execute(Q["impression_contexts"], params):
        tenant = row["tenant_id"]
        if tenant not in configs:
            configs[tenant] = LearningConfig.of(row["config"])
        row["config"] = configs[tenant]
        batch.impressions[tenant, row["impression_id"]] = row


def _resolve_ranks(conn: Connection, batch: _Batch) -> None:
    """Fill in the item of events that name only a rank; drop those that name neither a
    shown item nor a rank that showed one."""
    missing = [r for r in batch.rows if r["item_id"] is None]
    if missing:
        params = {
            "tenant_ids": _texts(r["tenant_id"] for r in missing),
            "impression_ids": _plain(r["impression_id"] for r in missing),
            "ranks": _plain(r["rank"] for r in missing),
        }
        found = {
            (x["tenant_id"], x["impression_id"], x["rank"]): x["item_id"]
            for x in conn.execute(Q["items_at_ranks"], params)
        }
        for row in missing:
            row["item_id"] = found.get((row["tenant_id"], row["impression_id"], row["rank"]))
    batch.rows = [r for r in batch.rows if r["item_id"] is not None]


def _requeue(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    conn.execute(
        Q["requeue_pending"],
        {
            "tenant_ids": _texts(r["tenant_id"] for r in rows),
            "kinds": _texts(r["kind"] for r in rows),
            "impression_ids": _plain(r["impression_id"] for r in rows),
            "item_ids": _plain(r["item_id"] for r in rows),
            "ranks": _plain(r["rank"] for r in rows),
            "received_at": _texts(r["received_at"].isoformat() for r in rows),
        },
    )


def _load_states(conn: Connection, batch: _Batch) -> None:
    keys = list({(r["tenant_id"], r["impression_id"], r["item_id"]) for r in batch.rows})
    params = {
        "tenant_ids": _texts(k[0] for k in keys),
        "impression_ids": _plain(k[1] for k in keys),
        "item_ids": _plain(k[2] for k in keys),
    }
    batch.states = {key: OutcomeState() for key in keys}
    for row in conn.execute(Q["outcomes_of"], params):
        key = (row["tenant_id"], row["impression_id"], row["item_id"])
        batch.states[key] = OutcomeState(
            row["priority"], row["reward"], row["shown"], row["settled"], row["rank"]
        )


def _apply_row(batch: _Batch, row: dict[str, Any]) -> None:
    tenant, impression_id, item_id = row["tenant_id"], row["impression_id"], row["item_id"]
    impression = batch.impressions[tenant, impression_id]
    config: LearningConfig = impression["config"]
    state = batch.states[tenant, impression_id, item_id]
    was_settled = state.settled
    delta = apply(state, row["kind"], row["rank"] or state.rank, config)
    if state.settled and not was_settled and state.rank == 1:
        batch.settled[tenant].add(impression_id)
    if not delta:
        return
    for dimension, value in segments(impression["context"], config.segment_by):
        total = batch.stats.setdefault((tenant, dimension, value, item_id), Delta())
        total.trials += delta.trials
        total.exposure += delta.exposure
        total.reward += delta.reward
        total.positive += delta.positive


def _store(conn: Connection, batch: _Batch) -> None:
    """One statement for the outcomes, one for the statistics; no other updater runs for
    this tenant (its advisory lock) and every row is the tenant's, so the order of rows
    cannot deadlock."""
    keys, states = list(batch.states), list(batch.states.values())
    conn.execute(
        Q["upsert_outcomes"],
        {
            "tenant_ids": _texts(k[0] for k in keys),
            "impression_ids": _plain(k[1] for k in keys),
            "item_ids": _plain(k[2] for k in keys),
            "ranks": _plain(s.rank for s in states),
            "priorities": _plain(s.priority for s in states),
            "rewards": _plain(s.reward for s in states),
            "shown": _plain(s.shown for s in states),
            "settled": _plain(s.settled for s in states),
        },
    )
    if batch.stats:
        _add_stats(conn, batch.stats)


def _add_stats(conn: Connection, stats: dict[tuple[str, str, str, int], Delta]) -> None:
    keys, deltas = list(stats), list(stats.values())
    conn.execute(
        Q["add_stats"],
        {
            "tenant_ids": _texts(k[0] for k in keys),
            "dimensions": _texts(k[1] for k in keys),
            "values": _texts(k[2] for k in keys),
            "item_ids": _plain(k[3] for k in keys),
            "trials": _plain(d.trials for d in deltas),
            "exposure": _plain(d.exposure for d in deltas),
            "rewards": _plain(d.reward for d in deltas),
            "positive": _plain(d.positive for d in deltas),
        },
    )


def _plain(values: Iterable[object]) -> str:
    """A PostgreSQL array literal of values written as is: numbers, uuids, booleans, NULL
    (psycopg's array dumper, value by value, cost a quarter of the update)."""
    return "{" + ",".join(_element(v) for v in values) + "}"


def _element(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def _texts(values: Iterable[str]) -> str:
    """A PostgreSQL array literal of text, each element quoted."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def _report_settled(conn: Connection, batch: _Batch, on_settled: OnSettled) -> None:
    for tenant, impression_ids in sorted(batch.settled.items()):
        config = next(i["config"] for (t, _), i in batch.impressions.items() if t == tenant)
        on_settled(conn, tenant, sorted(impression_ids), config)

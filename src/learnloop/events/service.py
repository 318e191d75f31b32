"""Recording events: validated one by one, stored together, each retried event once."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from learnloop._ids import created_at
from learnloop._sql import load_queries
from learnloop.errors import InvalidInput
from learnloop.events.models import MAX_BATCH, EventIn, EventResult
from learnloop.ports import Connection, Store
from learnloop.validation import parse

Q = load_queries("learnloop.events")
FUTURE_SLACK = timedelta(minutes=5)
# An impression id that is unknown but was made this recently may still be committing.
PENDING_WINDOW = timedelta(minutes=10)
_PARTITION = re.compile(r"^events_(\d{4})_(\d{2})$")


@dataclass
class _Batch:
    """The events of one call while they are checked; ``errors`` by index."""

    events: dict[int, EventIn]
    errors: dict[int, str] = field(default_factory=dict)
    pending: set[int] = field(default_factory=set)

    def fail(self, index: int, message: str) -> None:
        self.errors[index] = message
        self.events.pop(index, None)


class Events:
    def __init__(self, db: Store, *, retention_days: int = 730):
        self.db = db
        self.retention = timedelta(days=retention_days)

    def record(self, tenant_id: str, raw: Sequence[EventIn | dict[str, Any]]) -> list[EventResult]:
        """Store the good events of a call; every bad one gets its own error."""
        if len(raw) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH:,} events a call, not {len(raw):,}")
        now = datetime.now(UTC)
        batch = _parse(raw, now, self.retention)
        with self.db.transaction() as conn:
            self._resolve_sessions(conn, tenant_id, batch)
            self._check_impressions(conn, tenant_id, batch, now)
            self._check_items(conn, tenant_id, batch)
            stored, duplicates = self._store(conn, tenant_id, batch)
        return _results(len(raw), batch, stored, duplicates)

    def prune(self, now: datetime | None = None) -> list[str]:
        """Drop the month partitions wholly older than the retention; returns their names."""
        now = now or datetime.now(UTC)
        cutoff = (now if now.tzinfo else now.replace(tzinfo=UTC)) - self.retention
        dropped = []
        with self.db.transaction() as conn:
            for row in conn.execute(Q["event_partitions"]).fetchall():
                match = _PARTITION.match(row["name"])
                assert match is not None
                year, month = int(match[1]), int(match[2])
                end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
                if end <= cutoff:
                    name = sql.Identifier(row["name"])
                    conn.execute(sql.SQL(Q["drop_partition"]).format(partition=name))
                    dropped.append(row["name"])
        return dropped

    def _resolve_sessions(self, conn: Connection, tenant_id: str, batch: _Batch) -> None:
        sessions = {e.session for e in batch.events.values() if e.impression_id is None}
        if not sessions:
            return
        params = {"tenant_id": tenant_id, "sessions": sorted(s for s in sessions if s)}
        latest = {
            r["session_id"]: r["impression_id"]
            for r in conn.execute(Q["latest_impressions"], params)
        }
        for index, event in list(batch.events.items()):
            if event.impression_id is None:
                if event.session in latest:
                    event.impression_id = latest[event.session]
                else:
                    batch.fail(index, f"session {event.session!r} has no impression to attach to")

    def _check_impressions(
        self, conn: Connection, tenant_id: str, batch: _Batch, now: datetime
    ) -> None:
        ids = sorted({e.impression_id for e in batch.events.values() if e.impression_id})
        owners = {
            r["impression_id"]: r["tenant_id"]
            for r in conn.execute(Q["impression_owners"], {"impression_ids": ids})
        }
        for index, event in list(batch.events.items()):
            assert event.impression_id is not None
            owner = owners.get(event.impression_id)
            if owner == tenant_id:
                continue
            made = created_at(event.impression_id)
            if (
                owner is None
                and made is not None
                and now - PENDING_WINDOW <= made <= now + FUTURE_SLACK
            ):
                batch.pending.add(index)  # not visible yet; kept, attached when it is
            else:
                batch.fail(index, f"unknown impression {event.impression_id} in this tenant")

    def _check_items(self, conn: Connection, tenant_id: str, batch: _Batch) -> None:
        ids = sorted(
            {
                e.impression_id
                for i, e in batch.events.items()
                if i not in batch.pending and e.impression_id is not None
            }
        )
        params = {"tenant_id": tenant_id, "impression_ids": ids}
        shown: dict[tuple[Any, int], int] = {
            (r["impression_id"], r["item_id"]): r["rank"]
            for r in conn.execute(Q["shown_items"], params)
        }
        for index, event in list(batch.events.items()):
            if index in batch.pending or event.item_id is None:
                continue
            rank = shown.get((event.impression_id, event.item_id))
            if rank is None:
                batch.fail(
                    index, f"item {event.item_id} was not shown in impression {event.impression_id}"
                )
            elif event.rank is None:
                event.rank = rank
            elif event.rank != rank:
                batch.fail(
                    index, f"item {event.item_id} was shown at rank {rank}, not {event.rank}"
                )

    def _store(
        self, conn: Connection, tenant_id: str, batch: _Batch
    ) -> tuple[dict[int, int], set[int]]:
        keyed = {i: e.idempotency_key for i, e in batch.events.items() if e.idempotency_key}
        duplicates: set[int] = set()
        if keyed:
            # Claimed in one order in every call, so overlapping calls cannot deadlock.
            params = {"tenant_id": tenant_id, "keys": sorted(set(keyed.values()))}
            fresh = {r["idempotency_key"] for r in conn.execute(Q["claim_keys"], params)}
            for index, key in keyed.items():
                if key in fresh:
                    fresh.discard(key)  # the first of a repeated key in one call is stored
                else:
                    duplicates.add(index)
        order = [i for i in sorted(batch.events) if i not in duplicates]
        if not order:
            return {}, duplicates
        events = [batch.events[i] for i in order]
        for month in sorted({_month(e.occurred_at) for e in events}):
            conn.execute(Q["ensure_partition"], {"month": month})
        rows = conn.execute(Q["insert_events"], _columns(tenant_id, events, order, batch.pending))
        return dict(zip(order, (r["event_id"] for r in rows), strict=True)), duplicates


def _parse(raw: Sequence[EventIn | dict[str, Any]], now: datetime, retention: timedelta) -> _Batch:
    batch = _Batch(events={})
    for index, data in enumerate(raw):
        try:
            event = parse(EventIn, data)
        except InvalidInput as exc:
            batch.errors[index] = exc.message
            continue
        when = event.occurred_at or now
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        if when > now + FUTURE_SLACK:
            batch.errors[index] = f"occurred_at {when.isoformat()} is in the future; send UTC times"
        elif when < now - retention:
            batch.errors[index] = f"occurred_at {when.isoformat()} is older than the retention"
        else:
            event.occurred_at = when
            batch.events[index] = event
    return batch


def _month(when: datetime | None) -> datetime:
    assert when is not None
    return when.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _columns(
    tenant_id: str, events: list[EventIn], order: list[int], pending: set[int]
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "types": [e.type for e in events],
        "impression_ids": [e.impression_id for e in events],
        "item_ids": [e.item_id for e in events],
        "ranks": [e.rank for e in events],
        "occurred_at": [e.occurred_at for e in events],
        "seen": [i not in pending for i in order],
        "metadata": [Jsonb(e.metadata) for e in events],
    }


def _results(
    total: int, batch: _Batch, stored: dict[int, int], duplicates: set[int]
) -> list[EventResult]:
    results = []
    for index in range(total):
        if index in batch.errors:
            results.append(EventResult(index=index, status="error", error=batch.errors[index]))
            continue
        event = batch.events[index]
        results.append(
            EventResult(
                index=index,
                status="duplicate" if index in duplicates else "stored",
                event_id=stored.get(index),
                impression_id=event.impression_id,
                pending=index in batch.pending,
            )
        )
    return results

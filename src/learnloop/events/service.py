"""Recording events: validated one by one, checked against their impressions in one query,
and stored in one more round trip, each retried event once."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, get_args
from uuid import UUID

from psycopg import sql
from psycopg.rows import tuple_row

from learnloop._ids import created_at
from learnloop._sql import load_queries
from learnloop.errors import DatabaseError, InvalidInput, LearnLoopError
from learnloop.events.models import INTEGER, MAX_BATCH, EventIn, EventResult, EventType
from learnloop.ports import Connection, Store
from learnloop.validation import MAX_ID, parse, refuse_nul

Q = load_queries("learnloop.events")
FUTURE_SLACK = timedelta(minutes=5)
# An impression id that is unknown but was made this recently may still be committing.
PENDING_WINDOW = timedelta(minutes=10)
_PARTITION = re.compile(r"^events_(\d{4})_(\d{2})$")
# What _plain takes as is; anything else goes through EventIn.
_TYPES = frozenset(get_args(EventType))
_FIELDS = frozenset(EventIn.model_fields)
_CONTEXT = frozenset({"page_context", "referrer"})
_UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


@dataclass(slots=True)
class _Event:
    """A valid event while it is checked and stored: plain attributes, cheap to read and set."""

    type: str
    impression_id: str | None  # as text, the way str(UUID) writes it
    session: str | None
    item_id: int | None
    rank: int | None
    occurred_at: datetime | None  # set by _parse (when received, if the event has none)
    metadata: dict[str, Any]
    key: str | None
    page_context: dict[str, Any] | None = None
    referrer: str | None = None


@dataclass
class _Batch:
    """The events of one call while they are checked; ``errors`` by index."""

    events: dict[int, _Event]
    errors: dict[int, str] = field(default_factory=dict)
    pending: set[int] = field(default_factory=set)

    def fail(self, index: int, message: str) -> None:
        self.errors[index] = message
        self.events.pop(index, None)


@dataclass
class Recorded:
    """What became of each event of one call, by its index in the call."""

    total: int
    errors: dict[int, str]
    events: dict[int, _Event]  # every event that is not an error, its impression known
    stored: dict[int, int]  # the event id of every event stored
    duplicates: set[int]
    pending: set[int]

    def results(self) -> list[EventResult]:
        results = []
        for index in range(self.total):
            if index in self.errors:
                results.append(EventResult(index=index, status="error", error=self.errors[index]))
                continue
            results.append(
                EventResult(
                    index=index,
                    status="duplicate" if index in self.duplicates else "stored",
                    event_id=self.stored.get(index),
                    impression_id=UUID(self.events[index].impression_id),
                    pending=index in self.pending,
                )
            )
        return results

    def json(self) -> bytes:
        """The answer of ``POST /v1/events``: the JSON of ``{"stored": n, "duplicates": n,
        "errors": n, "results": [EventResult, ...]}``, as FastAPI wrote it, but written out
        directly: a model per event, validated again and serialised, cost ~3 us an event,
        a quarter of the server's time for a big batch (docs/benchmarks.md)."""
        parts = []
        for index in range(self.total):
            error = self.errors.get(index)
            if error is not None:
                parts.append(
                    f'{{"index":{index},"status":"error","event_id":null,"impression_id":null,'
                    f'"pending":false,"error":{json.dumps(error, ensure_ascii=False)}}}'
                )
                continue
            event_id = self.stored.get(index)
            status, stored = ("stored", event_id) if event_id is not None else ("duplicate", "null")
            pending = "true" if index in self.pending else "false"
            parts.append(
                f'{{"index":{index},"status":"{status}","event_id":{stored},'
                f'"impression_id":"{self.events[index].impression_id}","pending":{pending},'
                '"error":null}'
            )
        counts = (
            f'{{"stored":{len(self.stored)},"duplicates":{len(self.duplicates)},'
            f'"errors":{len(self.errors)},"results":['
        )
        return (counts + ",".join(parts) + "]}").encode()


class Events:
    def __init__(self, db: Store, *, retention_days: int = 730):
        self.db = db
        self.retention = timedelta(days=retention_days)

    def record(self, tenant_id: str, raw: Sequence[EventIn | dict[str, Any]]) -> list[EventResult]:
        """Store the good events of a call; every bad one gets its own error."""
        return self.record_all(tenant_id, raw).results()

    def record_all(self, tenant_id: str, raw: Sequence[EventIn | dict[str, Any]]) -> Recorded:
        """As ``record``, answered as a ``Recorded`` (which the HTTP API writes out as JSON).

        Round trips: the impressions named (with the items they showed), then the month
        partitions and the events with their claimed keys, pipelined; one more first when
        events name a session instead of an impression.
        """
        if (too_many := _too_many(raw)) is not None:
            raise too_many
        now = datetime.now(UTC)
        batch = _parse(raw, now, self.retention)
        stored: dict[int, int] = {}
        duplicates: set[int] = set()
        if batch.events:
            with self.db.connection() as conn:
                self._resolve_sessions(conn, tenant_id, batch)
                self._check_impressions(conn, tenant_id, batch, now)
                stored, duplicates = _store(conn, tenant_id, batch, now)
        return Recorded(
            total=len(raw),
            errors=batch.errors,
            events=batch.events,
            stored=stored,
            duplicates=duplicates,
            pending=batch.pending,
        )

    def record_many(self, calls: Sequence[Call]) -> list[Recorded | LearnLoopError]:
        """Several calls recorded as one group: checked and stored together, every tenant's
        events in one statement of its own, all in one transaction, so the group costs one
        commit. Each call is answered as ``record_all`` would answer it alone: its own
        errors, and of a key repeated in the group, the earliest call's event is stored
        and the later ones are its duplicates. Answered only once the group committed.

        A group the database refuses as a whole (a value that does not fit a column, a
        clash) is recorded again call by call, so one bad call fails alone; a database
        that is down fails every call of the group with its ``DatabaseError``.
        """
        if len(calls) == 1:
            return [self._record_alone(*calls[0])]
        now = datetime.now(UTC)
        parsed = [self._parse_call(raw, now) for _, raw in calls]
        merged, offsets = _merge(calls, parsed)
        try:
            stored, duplicates = self._store_group(merged, now)
        except DatabaseError as exc:
            return [exc for _ in calls]
        except LearnLoopError:  # refused as a whole: find the call it was, each alone
            return [self._record_alone(tenant_id, raw) for tenant_id, raw in calls]
        return [
            _split(merged[tenant_id], offset, len(raw), stored, duplicates)
            if isinstance(batch, _Batch)
            else batch
            for (tenant_id, raw), batch, offset in zip(calls, parsed, offsets, strict=True)
        ]

    def _record_alone(self, tenant_id: str, raw: Sequence[EventIn | dict[str, Any]]) -> Result:
        try:
            return self.record_all(tenant_id, raw)
        except LearnLoopError as exc:
            return exc

    def _parse_call(self, raw: Sequence[EventIn | dict[str, Any]], now: datetime) -> Parsed:
        return _too_many(raw) or _parse(raw, now, self.retention)

    def _store_group(
        self, merged: dict[str, _Batch], now: datetime
    ) -> tuple[dict[int, int], set[int]]:
        """Check and store each tenant's events of a group in one transaction. What it
        locks, it locks in one order, so overlapping groups cannot deadlock: the month
        partitions of all its events first (sorted; a lock only when one is new), then the
        keys, tenant by tenant in sorted order and sorted in each."""
        stored: dict[int, int] = {}
        duplicates: set[int] = set()
        tenants = [t for t in sorted(merged) if merged[t].events]
        with self.db.transaction() as conn:
            for tenant_id in tenants:
                self._resolve_sessions(conn, tenant_id, merged[tenant_id])
                self._check_impressions(conn, tenant_id, merged[tenant_id], now)
            times = [e.occurred_at or now for t in tenants for e in merged[t].events.values()]
            with conn.pipeline():
                for month in _months(times) if times else []:
                    conn.execute(Q["ensure_partition"], {"month": month})
            for tenant_id in tenants:
                fresh, again = _store(conn, tenant_id, merged[tenant_id], now, partitions=False)
                stored.update(fresh)
                duplicates |= again
        return stored, duplicates

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
        unresolved = [(i, e) for i, e in batch.events.items() if e.impression_id is None]
        if not unresolved:
            return
        sessions = {e.session for _, e in unresolved}
        params = {"tenant_id": tenant_id, "sessions": sorted(s for s in sessions if s)}
        latest = {
            r["session_id"]: r["impression_id"]
            for r in conn.execute(Q["latest_impressions"], params)
        }
        for index, event in unresolved:
            if event.session in latest:
                event.impression_id = str(latest[event.session])
            else:
                batch.fail(index, f"session {event.session!r} has no impression to attach to")

    def _check_impressions(
        self, conn: Connection, tenant_id: str, batch: _Batch, now: datetime
    ) -> None:
        """Refuse an event naming another tenant's impression or none at all, keep one whose
        impression may still be committing (pending), and check each item named against
        the items its impression showed, filling in the rank."""
        ids = {e.impression_id for e in batch.events.values() if e.impression_id}
        owners: dict[str, str] = {}
        shown: dict[tuple[str, int], int] = {}
        params = {"tenant_id": tenant_id, "impression_ids": _array(list(ids))}
        with conn.cursor(row_factory=tuple_row) as cur:
            for impression_id, owner, item_id, rank in cur.execute(Q["check_impressions"], params):
                owners[impression_id] = owner
                if item_id is not None:
                    shown[(impression_id, item_id)] = rank
        earliest, latest = now - PENDING_WINDOW, now + FUTURE_SLACK
        for index, event in list(batch.events.items()):
            assert event.impression_id is not None
            owner = owners.get(event.impression_id)
            if owner != tenant_id:
                made = created_at(UUID(event.impression_id))
                if owner is None and made is not None and earliest <= made <= latest:
                    batch.pending.add(index)  # not visible yet; kept, attached when it is
                else:
                    batch.fail(index, f"unknown impression {event.impression_id} in this tenant")
                continue
            if event.item_id is None:
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


Call = tuple[str, Sequence[EventIn | dict[str, Any]]]  # a tenant and the events it sent
Result = Recorded | LearnLoopError
Parsed = _Batch | InvalidInput


def _too_many(raw: Sequence[Any]) -> InvalidInput | None:
    """The error of a call with more events than one call may send; None if it may."""
    if len(raw) > MAX_BATCH:
        return InvalidInput(f"at most {MAX_BATCH:,} events a call, not {len(raw):,}")
    return None


def _merge(calls: Sequence[Call], parsed: list[Parsed]) -> tuple[dict[str, _Batch], list[int]]:
    """The parsed calls of a group as one batch per tenant, each call's events numbered
    after the calls before it; and where each call's numbers start."""
    merged: dict[str, _Batch] = {}
    offsets = []
    offset = 0
    for (tenant_id, raw), batch in zip(calls, parsed, strict=True):
        offsets.append(offset)
        if isinstance(batch, _Batch):
            into = merged.setdefault(tenant_id, _Batch(events={}))
            into.events.update({offset + i: event for i, event in batch.events.items()})
            into.errors.update({offset + i: error for i, error in batch.errors.items()})
        offset += len(raw)
    return merged, offsets


def _split(
    batch: _Batch, offset: int, total: int, stored: dict[int, int], duplicates: set[int]
) -> Recorded:
    """One call's share of its group, numbered from 0 again."""
    mine = range(offset, offset + total)

    def of(found: dict[int, Any]) -> dict[int, Any]:
        return {i - offset: found[i] for i in mine if i in found}

    return Recorded(
        total=total,
        errors=of(batch.errors),
        events=of(batch.events),
        stored=of(stored),
        duplicates={i - offset for i in mine if i in duplicates},
        pending={i - offset for i in mine if i in batch.pending},
    )


def _parse(raw: Sequence[EventIn | dict[str, Any]], now: datetime, retention: timedelta) -> _Batch:
    batch = _Batch(events={})
    latest, oldest = now + FUTURE_SLACK, now - retention
    known: set[str] = set()
    for index, data in enumerate(raw):
        event = _plain(data, known)
        if event is None:
            try:
                event = _from_model(parse(EventIn, data))
            except InvalidInput as exc:
                batch.errors[index] = exc.message
                continue
        when = event.occurred_at
        if when is None:  # received now: nothing to check
            event.occurred_at = now
            batch.events[index] = event
            continue
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        if when > latest:
            batch.errors[index] = f"occurred_at {when.isoformat()} is in the future; send UTC times"
        elif when < oldest:
            batch.errors[index] = f"occurred_at {when.isoformat()} is older than the retention"
        else:
            event.occurred_at = when
            batch.events[index] = event
    return batch


def _from_model(event: EventIn) -> _Event:
    return _Event(
        event.type,
        None if event.impression_id is None else str(event.impression_id),
        event.session,
        event.item_id,
        event.rank,
        event.occurred_at,
        event.metadata,
        event.idempotency_key,
        event.page_context,
        event.referrer,
    )


def _plain(data: Any, known: set[str]) -> _Event | None:
    """The event exactly as EventIn reads it, when ``data`` is plainly valid: only known
    fields, each of its exact type, text with nothing to strip and no NUL, ids and times in
    their canonical form. None for anything else, which EventIn then reads (or refuses
    with its own message): this is only a shortcut for what most calls send, four times
    cheaper than a model per event. ``known``: the impression ids of the call seen so far.
    """
    if type(data) is not dict or not _FIELDS.issuperset(data) or not _CONTEXT.isdisjoint(data):
        return None  # the page context and referrer are checked by EventIn
    get = data.get
    kind = get("type")
    if type(kind) is not str or kind not in _TYPES:
        return None
    impression_id = get("impression_id")
    if type(impression_id) is str:  # canonical: as EventIn's UUID and str(UUID) write it
        if impression_id not in known:
            if not _UUID_TEXT.fullmatch(impression_id):
                return None
            known.add(impression_id)
    elif type(impression_id) is UUID:
        impression_id = str(impression_id)
    elif impression_id is not None:
        return None
    session, key = get("session"), get("idempotency_key")
    if (session is not None and not _plain_text(session)) or (
        key is not None and not _plain_text(key)
    ):
        return None
    if impression_id is None and session is None:
        return None
    item_id, rank = get("item_id"), get("rank")
    if item_id is not None and not (type(item_id) is int and 1 <= item_id <= MAX_ID):
        return None
    if rank is not None and not (type(rank) is int and 1 <= rank <= INTEGER):
        return None
    when = get("occurred_at")
    if type(when) is str:
        if not _TIME_TEXT.fullmatch(when):
            return None
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            return None
        if abs(when.utcoffset() or _NO_OFFSET) > _STORABLE_OFFSET:
            return None  # EventIn reads it as UTC, which PostgreSQL can hold
    elif when is not None and type(when) is not datetime:
        return None
    metadata = get("metadata", _ABSENT)
    if metadata is _ABSENT:
        metadata = {}
    elif type(metadata) is not dict or not _plain_metadata(metadata):
        return None
    return _Event(kind, impression_id, session, item_id, rank, when, metadata, key)


_ABSENT: Any = object()
_NO_OFFSET, _STORABLE_OFFSET = timedelta(0), timedelta(hours=15, minutes=59)


def _plain_text(value: Any) -> bool:
    """Text EventIn keeps as it is: 1-200 characters, nothing to strip, no NUL."""
    return (
        type(value) is str
        and 1 <= len(value) <= 200
        and value == value.strip()
        and "\x00" not in value
    )


def _plain_metadata(metadata: dict[Any, Any]) -> bool:
    """Metadata EventIn keeps as it is: text keys with nothing to strip, no NUL anywhere."""
    for name in metadata:
        if type(name) is not str or name != name.strip():
            return False
    try:
        refuse_nul(metadata)
    except ValueError:
        return False
    return True


def _store(
    conn: Connection, tenant_id: str, batch: _Batch, now: datetime, *, partitions: bool = True
) -> tuple[dict[int, int], set[int]]:
    """Store the checked events; their event ids by index, and the indexes of duplicates.

    One statement claims the keys and inserts the events whose key is new (or that have
    none), after the month partitions they need (unless ``partitions`` is false: the
    caller ensured them in this transaction), all in one pipelined round trip. Each
    column travels as one array literal written here (psycopg's array dumper, value by
    value, cost more than the rest of the call).
    """
    events, pending = batch.events, batch.pending
    if not events:
        return {}, set()
    order = sorted(events)
    batch_events = [events[i] for i in order]
    params = {
        "tenant_id": tenant_id,
        "now": now,  # the time of the events that have none
        "types": _array([e.type for e in batch_events]),
        "impression_ids": _array([e.impression_id or "NULL" for e in batch_events]),
        "item_ids": _array(["NULL" if e.item_id is None else str(e.item_id) for e in batch_events]),
        "ranks": _array(["NULL" if e.rank is None else str(e.rank) for e in batch_events]),
        "occurred_at": _array(
            [
                "NULL"
                if e.occurred_at is now or e.occurred_at is None
                else e.occurred_at.isoformat()
                for e in batch_events
            ]
        ),
        "seen": _array(["f" if i in pending else "t" for i in order]),
        "metadata": _array(
            [_quoted(json.dumps(e.metadata)) if e.metadata else "NULL" for e in batch_events]
        ),
        "keys": _array(["NULL" if e.key is None else _quoted(e.key) for e in batch_events]),
        "page_contexts": _array(
            [
                "NULL" if e.page_context is None else _quoted(json.dumps(e.page_context))
                for e in batch_events
            ]
        ),
        "referrers": _array(
            ["NULL" if e.referrer is None else _quoted(e.referrer) for e in batch_events]
        ),
    }
    with conn.pipeline(), conn.cursor(row_factory=tuple_row) as cur:
        for month in _months([e.occurred_at or now for e in batch_events]) if partitions else []:
            conn.execute(Q["ensure_partition"], {"month": month})
        cur.execute(Q["store_events"], params)
        found = cur.fetchone()
    assert found is not None
    fresh = {order[n - 1] for n in found[0]}  # n: the place in the arrays, from 1
    duplicates = {i for i in order if events[i].key is not None and i not in fresh}
    kept = [i for i in order if i not in duplicates]
    return dict(zip(kept, found[1], strict=True)), duplicates


def _array(elements: list[str]) -> str:
    """A PostgreSQL array literal of elements already written as the literal needs them:
    NULL, bare words and numbers (types, uuids, timestamps), or ``_quoted`` text."""
    return "{" + ",".join(elements) + "}"


def _quoted(text: str) -> str:
    """Text as an element of an array literal: in double quotes, \\ and " escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _months(times: list[datetime]) -> list[datetime]:
    """The months the times fall in (UTC); most calls' times share one."""
    first, last = _month(min(times)), _month(max(times))
    if first == last:
        return [first]
    return sorted({_month(when) for when in times})


def _month(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)

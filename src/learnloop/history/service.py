"""Importing an existing assistant's history: its audit log (the solutions it presented,
with ranks and optional propensities, and what people chose) as impressions and events.

An entry becomes one impression (its solutions the candidates shown, in their ranks, with
their propensities) and its choices become events, so the learning statistics, the
analytics and the offline evaluation (``learnloop evaluate``) read the history as they read
what learnloop logged itself. A solution is the tenant's item of that kind and external id;
one the tenant does not have is created (kind and title from the log; the worker embeds it).

Idempotent: an entry is keyed by its source and id (the impression's idempotency key), and
one imported before stores nothing, so re-importing a log (or a longer one) adds only the
new entries. All or nothing unless ``skip_bad_rows``: every bad entry gets an error naming
its line and field.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb
from pydantic import ValidationError

from learnloop._ids import uuid7
from learnloop._sql import load_queries
from learnloop.errors import ImportRejected
from learnloop.history.models import (
    MAX_ERRORS_KEPT,
    HistoryOptions,
    HistoryReport,
    LogEntryIn,
    RowError,
    SolutionIn,
)
from learnloop.history.reading import Entry, format_of, read_log
from learnloop.knowledge import Items
from learnloop.learn import stats
from learnloop.ports import Connection, Store
from learnloop.validation import parse

Q = load_queries("learnloop.history")
FUTURE_SLACK = timedelta(minutes=5)
ItemKey = tuple[str, str]  # (kind, external id)


@dataclass
class _Valid:
    entry: LogEntryIn
    line: int
    # per solution: (rank, its choice events as (type, time))
    ranks: list[int]


class History:
    """Logs of an existing assistant into impressions and events."""

    def __init__(self, db: Store, items: Items, *, retention_days: int = 730):
        self.db = db
        self.items = items
        self.retention = timedelta(days=retention_days)

    def import_log(
        self,
        tenant_id: str,
        data: bytes,
        file_name: str,
        options: HistoryOptions | dict[str, Any] | None = None,
        *,
        format: str | None = None,
        now: datetime | None = None,
    ) -> HistoryReport:
        """Import a log file (JSON Lines or CSV; docs/ingest.md#history)."""
        opts = parse(HistoryOptions, options or {})
        started = time.perf_counter()
        fmt = format_of(file_name, format)
        entries, errors = read_log(data, fmt)
        report = HistoryReport(file_name=file_name, format=fmt, source=opts.source)
        valid = _validated(entries, errors)
        now = now or datetime.now(UTC)
        shift = _shift(valid, now) if opts.rebase else timedelta(0)
        report.rebased_by_seconds = shift.total_seconds() if opts.rebase else None
        valid = [v for v in valid if self._in_time(v, shift, now, errors)]
        report.entries = len(valid) + len({e.line for e in errors})
        report.bad_entries = len({e.line for e in errors})
        errors.sort(key=lambda e: e.line)
        report.errors = errors[:MAX_ERRORS_KEPT]
        if errors and not opts.skip_bad_rows:
            raise _rejected(report)
        report.status = "partial" if errors else "succeeded"
        with self.db.transaction() as conn:
            resolved = self._items(conn, tenant_id, valid, report)
            self._store(conn, tenant_id, valid, resolved, shift, opts, report)
        if opts.learn and report.impressions:
            report.learned = _learn(self.db, tenant_id)
        report.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        return report

    def _in_time(self, v: _Valid, shift: timedelta, now: datetime, errors: list[RowError]
                 ) -> bool:  # fmt: skip
        try:
            when = _utc(v.entry.created_at) + shift
        except OverflowError:  # a time that moved beyond the calendar: years 1 to 9999
            message = "created_at moves outside the years 1 to 9999 with rebase"
            errors.append(RowError(line=v.line, field="created_at", message=message))
            return False
        problem = None
        if when > now + FUTURE_SLACK:
            problem = f"created_at {when.isoformat()} is in the future; send UTC times"
        elif when < now - self.retention:
            problem = (
                f"created_at {when.isoformat()} is older than the event retention "
                f"({self.retention.days} days): import with rebase (--rebase) to move the "
                "log's times so its latest entry is now"
            )
        for choice in v.entry.choices:
            if choice.at is not None and _utc(choice.at) < _utc(v.entry.created_at):
                problem = f"a choice at {choice.at.isoformat()} is before the entry's created_at"
        if problem:
            errors.append(RowError(line=v.line, field="created_at", message=problem))
        return problem is None

    def _items(self, conn: Connection, tenant_id: str, valid: list[_Valid],
               report: HistoryReport) -> dict[ItemKey | int, tuple[int, int]]:  # fmt: skip
        """(item id, version) of every solution named: by item_id, or by kind and external
        id, the ones the tenant lacks created."""
        named = {(s.type, s.id) for v in valid for s in v.entry.solutions_presented
                 if s.item_id is None and s.id is not None}  # fmt: skip
        ids = sorted({s.item_id for v in valid for s in v.entry.solutions_presented if s.item_id})
        found: dict[ItemKey | int, tuple[int, int]] = {}
        params = {"tenant_id": tenant_id, "kinds": [k for k, _ in named],
                  "external_ids": [e for _, e in named], "item_ids": ids}  # fmt: skip
        for row in conn.execute(Q["items_by_external_id"], params):
            found[row["kind"], row["external_id"]] = (row["item_id"], row["version"])
        for row in conn.execute(Q["items_by_id"], params):
            found[row["item_id"]] = (row["item_id"], row["version"])
        missing_ids = [i for i in ids if i not in found]
        if missing_ids:
            raise _rejected(
                report,
                f"item_id {', '.join(map(str, missing_ids[:10]))} are not "
                "items of this tenant; name those solutions by id and type instead",
            )
        titles: dict[tuple[str, str], str] = {}
        for s in (s for v in valid for s in v.entry.solutions_presented):
            if s.id is not None and s.title:
                titles.setdefault((s.type, s.id), s.title)  # the first title the log gives
        new = [{"kind": kind, "external_id": key, "title": titles.get((kind, key)) or key,
                "body": "", "attrs": {"imported_from": report.source}}
               for kind, key in sorted(named) if (kind, key) not in found]  # fmt: skip
        if new:
            for item, _ in self.items.put_many(tenant_id, new, conn=conn, embed=False):
                assert item.external_id is not None
                found[item.kind, item.external_id] = (item.item_id, item.version)
            report.items_created = len(new)
        return found

    def _store(self, conn: Connection, tenant_id: str, valid: list[_Valid],
               items: dict[ItemKey | int, tuple[int, int]], shift: timedelta,
               opts: HistoryOptions, report: HistoryReport) -> None:  # fmt: skip
        keys = [f"log:{opts.source}:{v.entry.id}" for v in valid]
        times = [_utc(v.entry.created_at) + shift for v in valid]
        ids = [uuid7(int(t.timestamp() * 1000)) for t in times]
        params = {
            "tenant_id": tenant_id, "impression_ids": ids, "keys": keys,
            "queries": [v.entry.query for v in valid],
            "contexts": [Jsonb(v.entry.context) for v in valid],
            "user_ids": [v.entry.user_id for v in valid],
            "session_ids": [v.entry.session_id for v in valid],
            "account_ids": [v.entry.account_id for v in valid],
            "ks": [len(v.entry.solutions_presented) for v in valid],
            "policies": [v.entry.policy or opts.policy for v in valid],
            "versions": [opts.source] * len(valid),
            "strategies": [v.entry.strategy or _strategy(v.entry) for v in valid],
            "thresholds": [0.0] * len(valid), "created_at": times,
        }  # fmt: skip
        fresh = {row["idempotency_key"] for row in conn.execute(Q["insert_impressions"], params)}
        report.impressions, report.duplicates = len(fresh), len(valid) - len(fresh)
        new = [(v, i, t) for v, k, i, t in zip(valid, keys, ids, times, strict=True) if k in fresh]
        if new:
            _candidates(conn, tenant_id, new, items)
            report.events = _events(conn, tenant_id, new, items, shift, opts.source)


def _validated(entries: list[Entry], errors: list[RowError]) -> list[_Valid]:
    valid: list[_Valid] = []
    seen: dict[str, int] = {}
    for entry in entries:
        try:
            parsed = LogEntryIn.model_validate(entry.data)
        except ValidationError as exc:
            for e in exc.errors():
                where = ".".join(str(p) for p in e["loc"]) or None
                message = e["msg"].removeprefix("Value error, ")
                errors.append(RowError(line=entry.line_of(e["loc"]), field=where, message=message))
            continue
        problem = _consistent(parsed)
        if parsed.id in seen:
            first = seen[parsed.id]
            problem = ("id", f"the log id {parsed.id!r} appears again (first on line {first})")
        if problem:
            errors.append(RowError(line=entry.line, field=problem[0], message=problem[1]))
            continue
        seen[parsed.id] = entry.line
        ranks = [s.rank or n for n, s in enumerate(parsed.solutions_presented, 1)]
        valid.append(_Valid(parsed, entry.line, ranks))
    return valid


def _consistent(entry: LogEntryIn) -> tuple[str, str] | None:
    """(field, what is wrong) where the solutions or choices do not fit together."""
    ranks = [s.rank or n for n, s in enumerate(entry.solutions_presented, 1)]
    if len(set(ranks)) < len(ranks):
        return "solutions_presented", f"two solutions share a rank ({sorted(ranks)})"
    named = [_key(s) for s in entry.solutions_presented]
    if len(set(named)) < len(named):
        return "solutions_presented", "a solution is presented twice"
    for n, choice in enumerate(entry.choices):
        if _chosen(entry, ranks, choice.solution_id, choice.item_id, choice.rank) is None:
            wanted = choice.solution_id or choice.item_id or f"rank {choice.rank}"
            return f"choices.{n}", f"the choice names {wanted}, which the entry did not present"
    return None


def _key(s: SolutionIn) -> tuple[str, str] | int:
    return s.item_id if s.item_id is not None else (s.type, str(s.id))


def _chosen(entry: LogEntryIn, ranks: list[int], solution_id: str | None, item_id: int | None,
            rank: int | None) -> int | None:  # fmt: skip
    """The index of the solution a choice names, or None."""
    for n, s in enumerate(entry.solutions_presented):
        if (
            (solution_id is not None and s.id == solution_id)
            or (item_id is not None and s.item_id == item_id)
            or (solution_id is None and item_id is None and ranks[n] == rank)
        ):
            return n
    return None


def _strategy(entry: LogEntryIn) -> str:
    return "single_solution" if len(entry.solutions_presented) == 1 else "multiple_options"


def _item_of(s: SolutionIn, items: dict[ItemKey | int, tuple[int, int]]) -> tuple[int, int]:
    return items[s.item_id] if s.item_id is not None else items[s.type, str(s.id)]


def _candidates(conn: Connection, tenant_id: str, new: list[tuple[_Valid, Any, datetime]],
                items: dict[ItemKey | int, tuple[int, int]]) -> None:  # fmt: skip
    rows = [(i, rank, s, _item_of(s, items)) for v, i, _ in new
            for s, rank in zip(v.entry.solutions_presented, v.ranks, strict=True)]  # fmt: skip
    conn.execute(Q["insert_candidates"], {
        "tenant_id": tenant_id,
        "impression_ids": [r[0] for r in rows], "ranks": [r[1] for r in rows],
        "item_ids": [r[3][0] for r in rows], "item_versions": [r[3][1] for r in rows],
        "scores": [_score(r[2]) for r in rows],
        "confidences": [r[2].confidence if r[2].confidence is not None else 0.0 for r in rows],
        "propensities": [r[2].propensity if r[2].propensity is not None else 1.0 for r in rows],
    })  # fmt: skip
    settle = {"tenant_id": tenant_id, "impression_ids": [r[0] for r in rows],
              "item_ids": [r[3][0] for r in rows], "ranks": [r[1] for r in rows]}  # fmt: skip
    conn.execute(Q["settle_candidates"], settle)


def _score(s: SolutionIn) -> float:
    return s.score if s.score is not None else s.confidence if s.confidence is not None else 0.0


def _events(
    conn: Connection,
    tenant_id: str,
    new: list[tuple[_Valid, Any, datetime]],
    items: dict[ItemKey | int, tuple[int, int]],
    shift: timedelta,
    source: str,
) -> int:
    rows = []
    for v, impression_id, when in new:
        for choice in v.entry.choices:
            n = _chosen(v.entry, v.ranks, choice.solution_id, choice.item_id, choice.rank)
            assert n is not None  # checked by _consistent
            solution = v.entry.solutions_presented[n]
            at = when if choice.at is None else _utc(choice.at) + shift
            rows.append(
                (
                    choice.event,
                    impression_id,
                    _item_of(solution, items)[0],
                    v.ranks[n],
                    at,
                    Jsonb({"source": source, "action": choice.action}),
                )
            )
    if not rows:
        return 0
    for month in sorted({r[4].replace(day=1, hour=0, minute=0, second=0, microsecond=0)
                         for r in rows}):  # fmt: skip
        conn.execute(Q["ensure_partition"], {"month": month})
    names = ("types", "impression_ids", "item_ids", "ranks", "occurred_at", "metadata")
    params: dict[str, Any] = {name: [r[n] for r in rows] for n, name in enumerate(names)}
    conn.execute(Q["insert_events"], params | {"tenant_id": tenant_id})
    return len(rows)


def _learn(db: Store, tenant_id: str, limit: int = 20_000) -> int:
    """Bring the tenant's statistics up to date with what was imported (what the worker
    would do next): the items shown, their events, then the end of their waits."""
    done = 0
    while (n := stats.update_tenant(db, tenant_id, limit=limit)) > 0:
        done += n
    return done


def _shift(valid: list[_Valid], now: datetime) -> timedelta:
    times = [_utc(v.entry.created_at) for v in valid]
    times += [_utc(c.at) for v in valid for c in v.entry.choices if c.at is not None]
    return now - max(times) if times else timedelta(0)


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _rejected(report: HistoryReport, reason: str | None = None) -> ImportRejected:
    shown = "; ".join(
        f"line {e.line}" + (f", {e.field}" if e.field else "") + f": {e.message}"
        for e in report.errors[:10]
    )
    more = len(report.errors) - 10
    message = (
        f"{report.file_name}: {reason}" if reason else
        f"{report.file_name}: {report.bad_entries} bad entries of {report.entries}, nothing "
        f"stored: {shown}" + (f"; and {more} more" if more > 0 else "")
        + "; fix them, or import with skip_bad_rows (--skip-bad-rows) to store the rest"
    )  # fmt: skip
    return ImportRejected(message, report)

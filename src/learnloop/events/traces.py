"""Taking in OpenTelemetry spans: one execution per trace, its tool calls, and feedback.

Each span is taken in once, by (trace id, span id): the spans of a call are claimed in
``trace_spans`` and only those not seen before are stored, in the same transaction, so an
exporter that sends a batch again (a retry after a timeout) adds nothing.

Spans of one trace may come in several calls and in any order (an exporter sends spans as
they end, children before their parent). The trace's execution is made by the first of
them: from its run span, or, when tool spans come first, as a stand-in that spans them
(``spans.placeholder``) until the run span arrives and replaces what it says. Of several
run spans (nested agents), the root span wins, then the one that started first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from learnloop._ids import uuid7
from learnloop._sql import load_queries
from learnloop.errors import InvalidInput
from learnloop.events.feedback import feedback_params
from learnloop.events.spans import Reading, Span, placeholder, read_span, trace_key
from learnloop.events.tracking_models import ExecutionIn, ToolCallIn
from learnloop.ports import Connection, Store

Q = load_queries("learnloop.events", "traces.sql")
TRACKING = load_queries("learnloop.events", "tracking.sql")
EVENTS = load_queries("learnloop.events")
TRACE_ID, SPAN_ID = re.compile(r"^[0-9a-f]{32}$"), re.compile(r"^[0-9a-f]{16}$")


@dataclass
class Intake:
    """What became of the spans of one call."""

    received: int = 0
    ignored: int = 0  # in neither vocabulary
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)
    executions: int = 0
    tool_calls: int = 0
    feedback: int = 0


class Traces:
    def __init__(self, db: Store):
        self.db = db

    def take(self, tenant_id: str, spans: Iterable[Span]) -> Intake:
        """Store what the spans tell, each span once; see the module's docstring."""
        intake = Intake()
        readings = self._known_impressions(tenant_id, _read(spans, intake), intake)
        if not readings:
            return intake
        with self.db.transaction() as conn:
            fresh = _claim(conn, tenant_id, readings)
            intake.duplicates += len(readings) - len(fresh)
            traces: dict[str, list[Reading]] = {}
            for reading in fresh:
                traces.setdefault(reading.span.trace_id, []).append(reading)
            for trace_id in sorted(traces):  # one order in every call: no deadlock between two
                _store_trace(conn, tenant_id, trace_id, traces[trace_id], intake)
            for reading in fresh:
                for rating in reading.feedback:
                    params = feedback_params(tenant_id, rating)
                    row = conn.execute(EVENTS["insert_feedback"], params).fetchone()
                    intake.feedback += row is not None
        return intake

    def _known_impressions(
        self, tenant_id: str, readings: list[Reading], intake: Intake
    ) -> list[Reading]:
        """The readings whose impressions (if they name any) are this tenant's."""
        named = set().union(*(r.impression_ids for r in readings))
        if not named:
            return readings
        params = {"tenant_id": tenant_id, "impression_ids": list(named)}
        with self.db.connection() as conn:
            rows = conn.execute(Q["tenant_impressions"], params).fetchall()
        known = {UUID(str(row["impression_id"])) for row in rows}
        kept = []
        for reading in readings:
            unknown = reading.impression_ids - known
            if unknown:
                intake.rejected.append(
                    f"{_where(reading.span)}: no impression {min(unknown)} in this tenant"
                )
            else:
                kept.append(reading)
        return kept


def _read(spans: Iterable[Span], intake: Intake) -> list[Reading]:
    readings: dict[tuple[str, str], Reading] = {}
    for span in spans:
        intake.received += 1
        try:
            reading = _read_one(span)
        except InvalidInput as exc:
            intake.rejected.append(f"{_where(span)}: {exc}")
            continue
        if reading is None:
            intake.ignored += 1
        elif (span.trace_id, span.span_id) in readings:
            intake.duplicates += 1
        else:
            readings[span.trace_id, span.span_id] = reading
    return list(readings.values())


def _read_one(span: Span) -> Reading | None:
    if not TRACE_ID.match(span.trace_id) or span.trace_id == "0" * 32:
        raise InvalidInput("traceId must be 16 bytes (32 hex digits), not all zero")
    if not SPAN_ID.match(span.span_id) or span.span_id == "0" * 16:
        raise InvalidInput("spanId must be 8 bytes (16 hex digits), not all zero")
    return read_span(span)


def _where(span: Span) -> str:
    return f"span {span.span_id or '(none)'} of trace {span.trace_id or '(none)'}"


def _claim(conn: Connection, tenant_id: str, readings: list[Reading]) -> list[Reading]:
    params = {
        "tenant_id": tenant_id,
        "trace_ids": [r.span.trace_id for r in readings],
        "span_ids": [r.span.span_id for r in readings],
        "became": [r.became for r in readings],
    }
    claimed = {(row["trace_id"], row["span_id"]) for row in conn.execute(Q["claim_spans"], params)}
    return [r for r in readings if (r.span.trace_id, r.span.span_id) in claimed]


def _store_trace(
    conn: Connection, tenant_id: str, trace_id: str, group: list[Reading], intake: Intake
) -> None:
    runs = [r for r in group if r.run is not None]
    tools = sorted(
        ((r.span, r.tool_call) for r in group if r.tool_call is not None),
        key=lambda pair: pair[0].start_ns,
    )
    if not runs and not tools:
        return
    best = max(runs, key=_precedence) if runs else None
    run = best.run.execution if best and best.run else placeholder(trace_id, tools)
    params = _execution_params(tenant_id, uuid7(), run)
    inserted = conn.execute(TRACKING["insert_execution"], params).fetchone()
    if inserted is not None:
        execution_id = params["execution_id"]
        intake.executions += 1
    else:
        execution_id = _update(conn, tenant_id, trace_id, best, params, tools)
    if tools:
        _insert_tool_calls(conn, tenant_id, execution_id, [call for _, call in tools])
        intake.tool_calls += len(tools)


def _update(
    conn: Connection,
    tenant_id: str,
    trace_id: str,
    best: Reading | None,
    params: dict[str, Any],
    tools: list[tuple[Span, ToolCallIn]],
) -> UUID:
    """Bring the trace's stored execution up to date with this call's spans; its id."""
    key = {"tenant_id": tenant_id, "idempotency_key": trace_key(trace_id)}
    existing = conn.execute(Q["lock_execution"], key).fetchone()
    assert existing is not None  # the insert met it
    execution_id = UUID(str(existing["execution_id"]))
    held = existing["metadata"].get("otel", {})
    ours = {"tenant_id": tenant_id, "execution_id": execution_id}
    if best is not None and _replaces(best, held, existing["started_at"]):
        conn.execute(Q["set_run"], params | ours)
    elif "span_id" not in held and tools:
        extent = {
            "success": all(call.success for _, call in tools),
            "start": min(span.started_at for span, _ in tools),
            "end": max(span.ended_at for span, _ in tools),
        }
        conn.execute(Q["widen_placeholder"], extent | ours)
    conn.execute(Q["touch_execution"], ours)  # something of this call is new
    return execution_id


def _precedence(reading: Reading) -> tuple[bool, int]:
    return (reading.run is not None and reading.run.root, -reading.span.start_ns)


def _replaces(best: Reading, held: dict[str, Any], held_start: Any) -> bool:
    """Whether this run span says more of the trace than the one the execution holds."""
    if "span_id" not in held:
        return True  # a stand-in
    return (bool(best.run and best.run.root), -best.span.started_at.timestamp()) > (
        bool(held.get("root")),
        -held_start.timestamp(),
    )


def _execution_params(tenant_id: str, execution_id: UUID, run: ExecutionIn) -> dict[str, Any]:
    return run.model_dump(exclude={"tool_calls"}) | {
        "tenant_id": tenant_id,
        "execution_id": execution_id,
        "metadata": Jsonb(run.metadata),
    }


def _insert_tool_calls(
    conn: Connection, tenant_id: str, execution_id: UUID, calls: list[ToolCallIn]
) -> None:
    ours = {"tenant_id": tenant_id, "execution_id": execution_id}
    last = conn.execute(Q["last_seq"], ours).fetchone()
    first = int(last["seq"]) + 1 if last else 1
    rows = [
        call.model_dump()
        | ours
        | {
            "seq": seq,
            "parameters": Jsonb(call.parameters),
            "result": None if call.result is None else Jsonb(call.result),
        }
        for seq, call in enumerate(calls, first)
    ]
    with conn.cursor() as cur:
        cur.executemany(TRACKING["insert_tool_call"], rows)

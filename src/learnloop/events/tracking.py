"""Recording agent executions (with tool calls), tool creations and playbook reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from learnloop._ids import uuid7
from learnloop._sql import load_queries
from learnloop.errors import InvalidInput, NotFound
from learnloop.events.feedback import check_impression
from learnloop.events.tracking_models import (
    Execution,
    ExecutionIn,
    Report,
    ReportIn,
    ToolCreation,
    ToolCreationIn,
)
from learnloop.ports import Store
from learnloop.validation import parse

Q = load_queries("learnloop.events", "tracking.sql")
MAX_REPORTS = 500


class Tracking:
    def __init__(self, db: Store):
        self.db = db

    def execution(self, tenant_id: str, data: ExecutionIn | dict[str, Any]) -> tuple[UUID, bool]:
        """Store a run and its tool calls together; returns its id and whether it is new."""
        run = parse(ExecutionIn, data)
        execution_id = uuid7()
        started = run.started_at or datetime.now(UTC) - timedelta(milliseconds=run.duration_ms)
        params = run.model_dump(exclude={"tool_calls"}) | {
            "tenant_id": tenant_id,
            "execution_id": execution_id,
            "started_at": started,
            "metadata": Jsonb(run.metadata),
        }
        calls = [
            call.model_dump()
            | {
                "tenant_id": tenant_id,
                "execution_id": execution_id,
                "seq": seq,
                "parameters": Jsonb(call.parameters),
                "result": None if call.result is None else Jsonb(call.result),
            }
            for seq, call in enumerate(run.tool_calls, 1)
        ]
        with self.db.transaction() as conn:
            if run.impression_id is not None:
                check_impression(conn, tenant_id, run.impression_id)
            if conn.execute(Q["insert_execution"], params).fetchone() is None:
                seen = conn.execute(Q["execution_by_key"], params).fetchone()
                assert seen is not None
                return UUID(str(seen["execution_id"])), False
            if calls:
                with conn.cursor() as cur:
                    cur.executemany(Q["insert_tool_call"], calls)
        return execution_id, True

    def get_execution(self, tenant_id: str, execution_id: UUID) -> Execution:
        params = {"tenant_id": tenant_id, "execution_id": execution_id}
        with self.db.connection() as conn:
            row = conn.execute(Q["get_execution"], params).fetchone()
            if row is None:
                raise NotFound(f"no execution {execution_id} in this tenant")
            calls = conn.execute(Q["execution_tool_calls"], params).fetchall()
        return Execution.model_validate(row | {"tool_calls": calls})

    def tool_created(self, tenant_id: str, data: ToolCreationIn | dict[str, Any]) -> ToolCreation:
        creation = parse(ToolCreationIn, data)
        with self.db.connection() as conn:
            params = creation.model_dump() | {"tenant_id": tenant_id}
            row = conn.execute(Q["insert_tool_creation"], params).fetchone()
        return ToolCreation.model_validate(row)

    def report(self, tenant_id: str, data: ReportIn | dict[str, Any]) -> Report:
        """Store a playbook report; the same external_id again brings it up to date."""
        report = parse(ReportIn, data)
        params = report.model_dump() | {"tenant_id": tenant_id}
        for key in ("outcomes", "next_steps", "raci", "exit_criteria"):
            params[key] = Jsonb(params[key])
        with self.db.connection() as conn:
            row = conn.execute(Q["upsert_report"], params).fetchone()
        return Report.model_validate(row)

    def reports(
        self, tenant_id: str, *, account: str | None = None, limit: int = 50
    ) -> list[Report]:
        """The newest reports, of one account or all."""
        if not 1 <= limit <= MAX_REPORTS:
            raise InvalidInput(f"limit must be between 1 and {MAX_REPORTS}, not {limit}")
        params = {"tenant_id": tenant_id, "account": account, "limit": limit}
        with self.db.connection() as conn:
            rows = conn.execute(Q["list_reports"], params).fetchall()
        return [Report.model_validate(row) for row in rows]

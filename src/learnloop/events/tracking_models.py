"""Agent executions with their tool calls, tool creations, and playbook reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from learnloop.validation import INTEGER, MAX_DURATION_MS, MAX_ID, Input

ReportStatus = Literal["planned", "in_progress", "completed", "failed", "abandoned"]


class ToolCallIn(Input):
    tool: str = Field(min_length=1, max_length=200)
    item_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="the tool's item, if stored"
    )
    parameters: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    success: bool
    error: str | None = Field(default=None, max_length=10_000)
    duration_ms: float = Field(ge=0, le=MAX_DURATION_MS, description="at most a year")


class ExecutionIn(Input):
    """One agent run: its goal, whether it worked, how long it took, and its tool calls."""

    goal: str = Field(min_length=1, max_length=2000)
    intent: str | None = Field(default=None, max_length=200)
    success: bool
    error: str | None = Field(default=None, max_length=10_000)
    duration_ms: float = Field(ge=0, le=MAX_DURATION_MS, description="at most a year")
    started_at: datetime | None = Field(default=None, description="default: now less duration")
    impression_id: UUID | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    tool_calls: list[ToolCallIn] = Field(default_factory=list, max_length=1000)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class ToolCall(ToolCallIn):
    seq: int


class Execution(BaseModel):
    execution_id: UUID
    goal: str
    intent: str | None
    success: bool
    error: str | None
    duration_ms: float
    started_at: datetime
    impression_id: UUID | None
    metadata: dict[str, Any]
    tool_calls: list[ToolCall]
    created_at: datetime


class ToolCreationIn(Input):
    """An agent wrote a tool: its code, and whether it passed validation."""

    tool: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=200_000)
    validation_passed: bool
    validation_errors: str | None = Field(default=None, max_length=20_000)
    execution_id: UUID | None = None


class ToolCreation(ToolCreationIn):
    creation_id: int
    created_at: datetime


class Outcome(Input):
    """A metric before and after the playbook ran."""

    metric: str = Field(min_length=1, max_length=200)
    before: float | None = None
    after: float | None = None
    unit: str | None = Field(default=None, max_length=50)


class ReportIn(Input):
    """A playbook execution report; the same external_id again updates it."""

    external_id: str | None = Field(default=None, min_length=1, max_length=300)
    account: str = Field(min_length=1, max_length=300)
    playbook: str = Field(min_length=1, max_length=300)
    playbook_item_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    status: ReportStatus
    steps_completed: int = Field(default=0, ge=0, le=INTEGER)
    steps_total: int = Field(ge=0, le=INTEGER)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    executive_summary: str = Field(default="", max_length=50_000)
    outcomes: list[Outcome] = Field(default_factory=list, max_length=200)
    next_steps: list[str] = Field(default_factory=list, max_length=200)
    raci: dict[str, list[str] | str] = Field(
        default_factory=dict, description="responsible, accountable, consulted, informed"
    )
    exit_criteria: list[str] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> ReportIn:
        if self.steps_completed > self.steps_total:
            raise ValueError(
                f"steps_completed ({self.steps_completed}) is more than steps_total "
                f"({self.steps_total})"
            )
        if self.started_at and self.ended_at and self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self


class Report(ReportIn):
    report_id: int
    created_at: datetime
    updated_at: datetime

"""The shapes of a history import: one log entry of an existing assistant (what it
presented, with ranks and optional propensities, and what the person did), the options of an
import and its report."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from learnloop.knowledge.models import Kind
from learnloop.validation import MAX_ID, Input

EventType = Literal["viewed", "clicked", "executed", "succeeded", "failed", "dismissed"]
Strategy = Literal["single_solution", "multiple_options", "no_confident_match"]
MAX_SOLUTIONS = 100
MAX_CHOICES = 100
MAX_ERRORS_KEPT = 1000
# What logs call the actions people take, as learnloop's event types.
ACTIONS: dict[str, EventType] = {
    "viewed": "viewed", "view": "viewed", "viewed_detail": "viewed", "opened": "viewed",
    "clicked": "clicked", "click": "clicked", "clicked_link": "clicked", "chosen": "clicked",
    "selected": "clicked", "executed": "executed", "started_execution": "executed",
    "ran": "executed", "succeeded": "succeeded", "completed": "succeeded", "resolved": "succeeded",
    "success": "succeeded", "failed": "failed", "failure": "failed", "dismissed": "dismissed",
    "rejected": "dismissed",
}  # fmt: skip


class SolutionIn(Input):
    """One solution the assistant presented: a learnloop item (``item_id``), or the log's own
    id for it (``id``, stored as the item's external_id within its ``type``)."""

    read_from_text = True  # a CSV row

    id: str | None = Field(default=None, min_length=1, max_length=300)
    item_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    type: Kind = Field(default="document", description="the item kind: runbook, faq, ...")
    title: str | None = Field(default=None, min_length=1, max_length=500)
    rank: int | None = Field(default=None, ge=1, le=MAX_SOLUTIONS, description="default: its "
                             "place in the list")  # fmt: skip
    confidence: float | None = Field(default=None, ge=0, le=1)
    score: float | None = None
    propensity: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="the probability the assistant had of showing "
        "this solution where it showed it; without it, the logging policy is taken as "
        "deterministic",
    )

    @model_validator(mode="after")
    def _named(self) -> SolutionIn:
        if self.id is None and self.item_id is None:
            raise ValueError("name the solution: id (the log's id for it) or item_id")
        return self


class ChoiceIn(Input):
    """What the person did with one of the solutions presented."""

    read_from_text = True  # a CSV row

    solution_id: str | None = Field(default=None, min_length=1, max_length=300)
    item_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    rank: int | None = Field(default=None, ge=1, le=MAX_SOLUTIONS)
    action: str = Field(min_length=1, max_length=100, description=", ".join(sorted(ACTIONS)))
    at: datetime | None = Field(default=None, description="default: the entry's time")

    @model_validator(mode="after")
    def _known(self) -> ChoiceIn:
        if self.action.lower() not in ACTIONS:
            raise ValueError(
                f"action {self.action!r} is not one learnloop knows; use one of "
                + ", ".join(sorted(ACTIONS))
            )
        if self.solution_id is None and self.item_id is None and self.rank is None:
            raise ValueError("name the solution chosen: solution_id, item_id or rank")
        return self

    @property
    def event(self) -> EventType:
        return ACTIONS[self.action.lower()]


class LogEntryIn(Input):
    """One entry of the assistant's audit log."""

    read_from_text = True  # a CSV row

    id: str = Field(min_length=1, max_length=200, description="the entry's id in the log: a "
                    "second import of the same id (and source) stores nothing")  # fmt: skip
    created_at: datetime = Field(description="when the solutions were presented")
    query: str = Field(default="", max_length=2000)
    session_id: str | None = Field(default=None, min_length=1, max_length=200)
    user_id: str | None = Field(default=None, min_length=1, max_length=200)
    account_id: str | None = Field(default=None, min_length=1, max_length=300)
    context: dict[str, Any] = Field(default_factory=dict)
    policy: str | None = Field(default=None, min_length=1, max_length=200)
    strategy: Strategy | None = None
    solutions_presented: list[SolutionIn] = Field(min_length=1, max_length=MAX_SOLUTIONS)
    choices: list[ChoiceIn] = Field(default_factory=list, max_length=MAX_CHOICES)

    @model_validator(mode="before")
    @classmethod
    def _audit_log_shape(cls, data: Any) -> Any:
        """The audit-log shape too: ai_action_details {solutions_presented,
        presentation_strategy} and user_modifications {solution_chosen_id, user_action}."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        details = data.pop("ai_action_details", None)
        if isinstance(details, dict):
            data.setdefault("solutions_presented", details.get("solutions_presented"))
            if details.get("presentation_strategy") is not None:
                data.setdefault("strategy", details["presentation_strategy"])
        chosen = data.pop("user_modifications", None)
        if isinstance(chosen, dict) and chosen:
            choice = {"solution_id": chosen.get("solution_chosen_id"),
                      "rank": chosen.get("solution_chosen_rank"),
                      "action": chosen.get("user_action") or "clicked",
                      "at": chosen.get("timestamp") or chosen.get("chosen_at")}  # fmt: skip
            data.setdefault("choices", []).append({k: v for k, v in choice.items() if v})
        if "audit_log_id" in data and "id" not in data:
            data["id"] = data.pop("audit_log_id")
        return data


class HistoryOptions(Input):
    read_from_text = True  # a form field or a query
    source: str = Field(default="log", min_length=1, max_length=100, description="the "
                        "system the log comes from; ids are unique within it")  # fmt: skip
    policy: str = Field(default="imported", min_length=1, max_length=200, description="the "
                        "policy name of entries that name none")  # fmt: skip
    rebase: bool = Field(default=False, description="move every time so the log's latest "
                         "entry is now, keeping their spacing (for a log older than the event "
                         "retention)")  # fmt: skip
    skip_bad_rows: bool = Field(default=False, description="store the good entries and "
                                "report the bad ones, instead of storing nothing")  # fmt: skip
    learn: bool = Field(default=True, description="bring the learning statistics up to date "
                        "with what was imported before answering")  # fmt: skip


class RowError(BaseModel):
    line: int = Field(description="the line (JSON Lines) or row (CSV) of the file, from 1")
    field: str | None
    message: str


class HistoryReport(BaseModel):
    """One history import: what was read, what was stored, what was wrong."""

    file_name: str
    format: Literal["jsonl", "csv"]
    source: str
    status: Literal["succeeded", "partial"] = "succeeded"
    entries: int = 0
    bad_entries: int = 0
    impressions: int = Field(default=0, description="entries stored as new impressions")
    duplicates: int = Field(default=0, description="entries imported before: nothing stored")
    events: int = 0
    items_created: int = Field(default=0, description="solutions the tenant had no item for")
    rebased_by_seconds: float | None = None
    learned: int = Field(default=0, description="learning rows processed after the import")
    errors: list[RowError] = Field(default_factory=list)
    duration_ms: float = 0.0

"""What happened after an impression: events, feedback on answers, owners' corrections."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, Field, field_validator, model_validator

from learnloop.validation import MAX_ID, Input

EventType = Literal["viewed", "clicked", "executed", "succeeded", "failed", "dismissed"]
FeedbackKind = Literal["thumbs", "stars", "emoji", "helpfulness"]
Priority = Literal["low", "normal", "high", "urgent"]
MAX_BATCH = 10_000
INTEGER = 2**31 - 1
MAX_PAGE_CONTEXT_BYTES = 4096  # page_context as compact JSON
MAX_REFERRER = 2048


def _value_of(kind: str, value: dict[str, Any]) -> dict[str, Any]:
    when = {"properties": {"kind": {"const": kind}}, "required": ["kind"]}
    return {"if": when, "then": {"properties": {"value": value}}}


def _named(field: str) -> dict[str, Any]:
    return {"required": [field], "properties": {field: {"type": "string"}}}


class EventIn(Input):
    """One event; it names its impression, or a session (meaning its latest impression)."""

    json_schema_rules: ClassVar[dict[str, Any]] = {
        "anyOf": [_named("impression_id"), _named("session")]  # at least one of them
    }

    type: EventType
    impression_id: UUID | None = None
    session: str | None = Field(default=None, min_length=1, max_length=200)
    item_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    rank: int | None = Field(default=None, ge=1, le=INTEGER)
    occurred_at: datetime | None = Field(default=None, description="default: when received")
    metadata: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    page_context: dict[str, Any] | None = Field(
        default=None,
        description="where the person was: a JSON object such as {'path': '/alerts/42', "
        f"'title': 'Disk full'}}; at most {MAX_PAGE_CONTEXT_BYTES} bytes as JSON",
    )
    referrer: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_REFERRER,
        description="where the person came from: a label such as 'ai_chat', 'search' or "
        "'alert_page', or a URL; funnels are grouped by it",
    )

    @field_validator("page_context")
    @classmethod
    def _small_page_context(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            size = len(json.dumps(value, separators=(",", ":"), default=str).encode())
            if size > MAX_PAGE_CONTEXT_BYTES:
                raise ValueError(
                    f"{size} bytes as JSON; at most {MAX_PAGE_CONTEXT_BYTES}: keep the page's "
                    "path, title and a few labels, not its content"
                )
        return value

    @model_validator(mode="after")
    def _names_an_impression(self) -> EventIn:
        if self.impression_id is None and self.session is None:
            raise ValueError("name the impression_id, or the session whose latest impression it is")
        return self


class EventResult(BaseModel):
    """What became of one event of a call: stored, duplicate (its key was seen) or error."""

    index: int
    status: Literal["stored", "duplicate", "error"]
    event_id: int | None = None
    impression_id: UUID | None = None
    pending: bool = Field(
        default=False, description="its impression was not visible yet; kept all the same"
    )
    error: str | None = None


class FeedbackIn(Input):
    """A rating of an impression or of a response."""

    json_schema_rules: ClassVar[dict[str, Any]] = {
        "allOf": [  # the values each kind takes (events.feedback.score)
            _value_of("stars", {"type": "integer", "minimum": 1, "maximum": 5}),
            _value_of("thumbs", {"enum": ["up", "down"]}),
            _value_of("emoji", {"enum": ["😀", "🙂", "😐", "🙁", "😡"]}),
            _value_of("helpfulness", {"enum": ["helpful", "partially", "not_helpful"]}),
        ],
        "anyOf": [_named("impression_id"), _named("response_id")],  # at least one of them
    }

    impression_id: UUID | None = None
    response_id: str | None = Field(default=None, min_length=1, max_length=200)
    item_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    kind: FeedbackKind
    value: str | int
    reason: str | None = Field(default=None, max_length=5000)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("value", mode="before")
    @classmethod
    def _not_a_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):  # lax int would read true as 1 star
            raise ValueError(f"{value!r} is not a rating: stars take 1 to 5, the others a word")
        return value

    @model_validator(mode="after")
    def _names_its_subject(self) -> FeedbackIn:
        if self.impression_id is None and self.response_id is None:
            raise ValueError("name the impression_id or the response_id the feedback is about")
        return self


class Feedback(BaseModel):
    feedback_id: int
    impression_id: UUID | None
    response_id: str | None
    item_id: int | None
    kind: FeedbackKind
    value: str
    score: float = Field(description="-1 (bad) .. 1 (good)")
    negative: bool
    reason: str | None
    created_at: datetime


class CorrectionIn(Input):
    """An owner's corrected answer to a response."""

    impression_id: UUID | None = None
    response_id: str | None = Field(default=None, min_length=1, max_length=200)
    item_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    query: str | None = Field(default=None, max_length=2000)
    original_response: str = Field(min_length=1, max_length=100_000)
    corrected_answer: str = Field(min_length=1, max_length=100_000)
    priority: Priority = "normal"
    author: str | None = Field(default=None, max_length=200)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class Correction(BaseModel):
    correction_id: int
    impression_id: UUID | None
    response_id: str | None
    item_id: int | None
    query: str | None
    original_response: str
    corrected_answer: str
    priority: Priority
    author: str | None
    created_at: datetime

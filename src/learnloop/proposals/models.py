"""The shapes of the learning queue: proposals, reviews, the audit trail, the metrics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from learnloop.knowledge.models import (
    MAX_TAGS,
    MAX_TITLE,
    Kind,
    Tag,
    clean_tags,  # the items' own tag rule
)
from learnloop.schema_rules import NOT_BLANK
from learnloop.validation import MAX_ID, Input

Source = Literal["feedback", "correction", "transcript", "report", "manual"]
ProposalStatus = Literal["pending", "approved", "rejected", "applied", "rolled_back", "failed"]
Order = Literal["confidence", "age"]
MAX_BODY = 100_000
EMPTY = "the proposed content is empty; write what the item should say"


class ProposalIn(Input):
    """A knowledge change proposed by a person: a new item, or a new version of ``item_id``.

    Without a body it asks for the item to be written: a title (or the item) is enough, and
    a reviewer writes the content before approving it."""

    item_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="the item to revise")
    kind: Kind | None = Field(default=None, description="of a new item; default faq")
    title: str | None = Field(default=None, max_length=MAX_TITLE)
    body: str = Field(
        default="",
        max_length=MAX_BODY,
        description="the proposed content; left out (or blank), the proposal asks for it to "
        "be written",
    )
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    rationale: str = Field(default="", max_length=5000)
    confidence: int = Field(default=50, ge=0, le=100)
    author: str | None = Field(default=None, max_length=200)

    _tags = field_validator("tags")(clean_tags)
    json_schema_rules: ClassVar[dict[str, Any]] = {  # the item it revises, or a new one's title
        "anyOf": [
            {"required": ["item_id"], "properties": {"item_id": {"type": "integer"}}},
            {
                "required": ["title"],
                "properties": {"title": {"type": "string", "pattern": NOT_BLANK}},
            },
        ]
    }

    @model_validator(mode="after")
    def _names_what_it_changes(self) -> ProposalIn:
        if self.item_id is None and not self.title:
            raise ValueError("a new item needs a title (or name the item_id to revise)")
        return self


class Review(Input):
    """Who decided, and why."""

    reviewer: str = Field(min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=5000)


class DuplicateDecision(Review):
    """A reviewer's word on a duplicate pair: the proposal and the item or proposal it is
    linked to (or the one named here, for a duplicate the check missed)."""

    decision: Literal["merge", "distinct"] = Field(
        description="merge: they say the same (a new-item proposal becomes a revision of the "
        "item; otherwise it is rejected as a duplicate); distinct: they do not (the link goes)"
    )
    item_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="the item of the pair; default: the linked one"
    )
    proposal_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="the other proposal of the pair"
    )

    json_schema_rules: ClassVar[dict[str, Any]] = {
        "not": {  # not both
            "required": ["item_id", "proposal_id"],
            "properties": {"item_id": {"type": "integer"}, "proposal_id": {"type": "integer"}},
        }
    }

    @model_validator(mode="after")
    def _one_other(self) -> DuplicateDecision:
        if self.item_id is not None and self.proposal_id is not None:
            raise ValueError("name the item_id or the proposal_id of the pair, not both")
        return self


class ProposalEdit(Review):
    """New content for a proposal under review; fields left out stay as they are."""

    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE)
    body: str | None = Field(default=None, max_length=MAX_BODY)
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    rationale: str | None = Field(default=None, max_length=5000)
    confidence: int | None = Field(default=None, ge=0, le=100)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else clean_tags(tags)

    @field_validator("body")
    @classmethod
    def _has_content(cls, body: str | None) -> str | None:
        if body is not None and not body:
            raise ValueError(EMPTY)
        return body


class Duplicate(BaseModel):
    """What a proposal repeats: an existing item or another pending proposal."""

    kind: Literal["item", "proposal"]
    id: int
    title: str
    body: str
    similarity: float = Field(description="cosine similarity, 0..1")


class Proposal(BaseModel):
    proposal_id: int
    source: Source
    source_id: int | None = Field(description="the feedback, correction, transcript or report")
    item_id: int | None = Field(description="the item it revises; null: a new item")
    kind: Kind
    external_id: str | None
    title: str
    body: str
    tags: list[str]
    attrs: dict[str, Any]
    rationale: str
    confidence: int = Field(description="0..100")
    status: ProposalStatus
    embedded: bool = Field(description="its vector is computed and the duplicate check ran")
    duplicate: Duplicate | None
    reviewer: str | None
    review_note: str | None
    reviewed_at: datetime | None
    applied_item_id: int | None
    applied_version: int | None
    previous_version: int | None = Field(description="the item's version before it; null: new")
    applied_at: datetime | None
    rolled_back_at: datetime | None
    apply_error: str | None = Field(description="why applying it failed (status failed)")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Proposal:
        duplicate = None
        if row["duplicate_item_id"] is not None and row["duplicate_item_title"] is not None:
            duplicate = Duplicate(
                kind="item",
                id=row["duplicate_item_id"],
                title=row["duplicate_item_title"],
                body=row["duplicate_item_body"],
                similarity=row["similarity"],
            )
        elif row["duplicate_proposal_id"] is not None:
            duplicate = Duplicate(
                kind="proposal",
                id=row["duplicate_proposal_id"],
                title=row["duplicate_proposal_title"],
                body=row["duplicate_proposal_body"],
                similarity=row["similarity"],
            )
        return cls.model_validate(row | {"duplicate": duplicate})


class AuditEntry(BaseModel):
    audit_id: int
    proposal_id: int
    action: Literal[
        "created",
        "edited",
        "approved",
        "rejected",
        "applied",
        "rolled_back",
        "failed",
        "merged",
        "distinct",
    ]
    actor: str
    note: str | None
    detail: dict[str, Any]
    created_at: datetime


class LearningMetric(BaseModel):
    """Proposals of one day, source and status."""

    day: date
    source: Source
    status: ProposalStatus
    proposals: int
    avg_confidence: float
    duplicates: int
    avg_review_seconds: float | None


class ResponsePerformance(BaseModel):
    """One day of answers: shown, acted on, rated, corrected."""

    day: date
    impressions: int
    no_match: int
    viewed: int
    clicked: int
    executed: int
    succeeded: int
    failed: int
    dismissed: int
    feedback: int
    negative_feedback: int
    avg_score: float | None
    corrections: int
    success_rate: float | None

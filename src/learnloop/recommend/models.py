"""Recommendation requests and answers, and the impressions that record them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from learnloop.knowledge.models import Item, Kind
from learnloop.validation import MAX_ID, Input

Strategy = Literal["single_solution", "multiple_options", "no_confident_match"]


class Context(BaseModel):
    """Who asks and in what situation; any other attributes are kept as given."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    user: str | None = Field(default=None, max_length=200)
    session: str | None = Field(default=None, max_length=200)
    account: str | None = Field(default=None, max_length=200)
    intent: str | None = Field(default=None, max_length=200)
    segment: str | None = Field(default=None, max_length=200)


class RecommendRequest(Input):
    model_config = ConfigDict(strict=True)

    query: str = Field(min_length=1, max_length=2000)
    context: Context = Field(default_factory=Context)
    kinds: list[Kind] | None = None
    k: int = Field(default=3, ge=1, le=20)
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the same key again returns the first answer and logs nothing new",
    )
    dry_run: bool = Field(
        default=False,
        description=(
            "answer without logging: no impression is stored, so nothing is learned from it"
            " and offline evaluation never sees it; events naming its id teach nothing"
        ),
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=MAX_ID,
        description="seed of the policy's randomness: the same seed, candidates and state give"
        " the same ranking (for replay and tests); none: fresh randomness",
    )


class Recommendation(BaseModel):
    """One item shown, with its place and how sure the policy is."""

    rank: int
    item: Item
    score: float = Field(description="the policy's ranking score")
    similarity: float | None = Field(description="cosine similarity of item and query")
    confidence: float = Field(ge=0, le=1, description="estimated probability the item helps")
    propensity: float = Field(ge=0, le=1, description="probability the policy showed it here")


class RecommendResponse(BaseModel):
    impression_id: UUID
    strategy: Strategy
    recommendations: list[Recommendation]
    threshold: float
    policy: str
    policy_version: str
    created_at: datetime
    replayed: bool = Field(default=False, description="true when the idempotency key was seen")
    dry_run: bool = Field(default=False, description="true when nothing was logged")


class Candidate(BaseModel):
    """A candidate as the impression log keeps it (shown or not)."""

    rank: int
    item_id: int
    item_version: int
    score: float
    similarity: float | None
    confidence: float
    propensity: float
    shown: bool


class Impression(BaseModel):
    impression_id: UUID
    query: str
    context: dict[str, Any]
    kinds: list[str] | None
    k: int
    policy: str
    policy_version: str
    strategy: Strategy
    threshold: float
    experiment: str | None
    variant: str | None
    created_at: datetime
    candidates: list[Candidate]

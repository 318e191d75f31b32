"""Context requests and blocks, generated answers, and what each part cites."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from learnloop.knowledge.models import Kind
from learnloop.validation import Input

PartKind = Literal["correction", "item", "report", "trends"]


class ContextRequest(Input):
    """A question, and whose: an account, or a session whose account is looked up."""

    model_config = ConfigDict(strict=True)

    query: str = Field(min_length=1, max_length=2000)
    account: str | None = Field(default=None, min_length=1, max_length=300)
    session: str | None = Field(default=None, min_length=1, max_length=200)
    user: str | None = Field(default=None, min_length=1, max_length=200)
    token_budget: int | None = Field(
        default=None, ge=50, le=200_000, description="default: LEARNLOOP_CONTEXT_TOKEN_BUDGET"
    )
    k: int = Field(default=5, ge=1, le=20, description="recommended items asked for")
    kinds: list[Kind] | None = None
    reports: int = Field(default=3, ge=0, le=20, description="the account's newest reports")
    trend_days: int = Field(
        default=90,
        ge=0,
        le=3650,
        description="the account's KPI and health-score trends "
        "over this many days back from its newest value; 0 for none",
    )
    corrections: int = Field(default=3, ge=0, le=20, description="applied corrections, at most")


class Citation(BaseModel):
    """What a part of the context came from: an item at a version, or a report."""

    kind: PartKind
    item_id: int | None = None
    version: int | None = None
    report_id: int | None = None
    title: str
    attrs: dict[str, Any] = Field(default_factory=dict)


class Part(BaseModel):
    """One cited piece of the block, as the model reads it."""

    citation: Citation
    text: str
    tokens: int
    truncated: bool = False


class ContextBlock(BaseModel):
    query: str
    account: str | None
    session: str | None
    impression_id: UUID = Field(description="the recommendation logged for the items included")
    text: str = Field(description="the prompt-ready block: every part with its [ref]")
    tokens: int = Field(description="tokens of text, counted by the tokenizer named")
    token_budget: int
    tokenizer: str
    parts: list[Part]
    left_out: list[Citation] = Field(description="found, but over the budget")


class AnswerRequest(ContextRequest):
    instructions: str | None = Field(
        default=None, max_length=20_000, description="added to the default system prompt"
    )
    max_tokens: int | None = Field(default=None, ge=1, le=100_000)


class Response(BaseModel):
    """A generated answer as stored; feedback and corrections name its response_id."""

    response_id: UUID
    query: str
    account_id: str | None
    session_id: str | None
    impression_id: UUID | None
    answer: str
    provider: str
    model: str
    citations: list[Citation]
    context_tokens: int
    input_tokens: int | None
    output_tokens: int | None
    duration_ms: float
    created_at: datetime


class AnswerResult(BaseModel):
    """The context, and the answer when a model is configured (otherwise null)."""

    context: ContextBlock
    response: Response | None


class PlaybookRequest(Input):
    model_config = ConfigDict(strict=True)

    account: str = Field(min_length=1, max_length=300)
    k: int = Field(default=3, ge=1, le=20, description="playbooks to recommend")
    neighbours: int = Field(default=10, ge=1, le=200, description="similar accounts to learn from")
    include_tried: bool = Field(
        default=False, description="also recommend playbooks the account already ran"
    )


class SimilarAccount(BaseModel):
    account_id: str
    similarity: float = Field(description="cosine of the standardised KPI vectors, -1..1")
    shared_kpis: int


class Improvement(BaseModel):
    metric: str
    before: float
    after: float
    change: float = Field(description="relative change, positive when the metric got better")


class Evidence(BaseModel):
    """One report of a similar account: what ran, how it ended, and what improved."""

    report_id: int
    account_id: str
    similarity: float
    status: str
    effect: float = Field(description="-1 (failed or worse) .. 1 (every metric much better)")
    improvements: list[Improvement]
    summary: str


class PlaybookRecommendation(BaseModel):
    rank: int
    playbook: str
    playbook_item_id: int | None
    score: float = Field(description="similarity-weighted effect, shrunk towards 0")
    reports: int
    worked: int = Field(description="reports with a positive effect")
    tried_by_account: bool
    evidence: list[Evidence]


class PlaybookAdvice(BaseModel):
    account: str
    kpis: dict[str, float] = Field(description="the account's latest KPI values")
    similar_accounts: list[SimilarAccount]
    recommendations: list[PlaybookRecommendation]

"""Tool selection requests, candidates at each stage, and the selection as logged."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from learnloop.validation import Input

Stage = Literal["search", "statistics", "llm"]
DecidedBy = Literal["none", "statistics", "llm"]


class ToolSelectRequest(Input):
    """A goal; the tools are the tenant's items of kind 'tool'."""

    model_config = ConfigDict(strict=True)

    query: str = Field(min_length=1, max_length=2000, description="the agent's goal")
    context: dict[str, Any] = Field(default_factory=dict)
    candidates: int = Field(default=20, ge=1, le=100, description="tools semantic search keeps")
    shortlist: int = Field(default=5, ge=1, le=20, description="tools ranked for the last stage")
    use_llm: bool = Field(default=True, description="let the chat model pick, if one is set up")


class ToolCandidate(BaseModel):
    rank: int
    item_id: int
    item_version: int
    tool: str = Field(description="the tool's name: attrs.name, or the item's title")
    score: float = Field(description="the stage's score (similarity, or the ranking score)")
    similarity: float | None
    calls: int = Field(description="recorded calls of the tool")
    successes: int
    median_ms: float | None


class ToolSelection(BaseModel):
    selection_id: UUID
    query: str
    chosen: ToolCandidate | None
    decided_by: DecidedBy
    llm_model: str | None
    search: list[ToolCandidate] = Field(description="stage 1: what semantic search found")
    statistics: list[ToolCandidate] = Field(description="stage 2: ranked by outcomes")
    llm: list[ToolCandidate] = Field(description="stage 3: the model's pick, if it made one")
    created_at: datetime

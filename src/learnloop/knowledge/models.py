"""The shapes of knowledge items, with the rules every item obeys."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from learnloop.schema_rules import WHITESPACE
from learnloop.validation import Input

Kind = Literal[
    "runbook", "playbook", "faq", "kpi", "account", "report", "tool", "document", "correction"
]
Status = Literal["active", "draft", "deprecated", "archived"]
KINDS: tuple[str, ...] = get_args(Kind)
STATUSES: tuple[str, ...] = get_args(Status)

MAX_TITLE = 500
MAX_TAGS = 50
MAX_TAG = 100
# A tag as sent: its schema says what clean_tags checks once it is stripped.
Tag = Annotated[str, Field(min_length=1, max_length=MAX_TAG)]


class _Strict(Input):
    model_config = ConfigDict(strict=True)


def clean_tags(tags: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        tag = tag.strip(WHITESPACE)  # as pydantic strips text
        if not tag:
            raise ValueError("tags must not be empty strings")
        if len(tag) > MAX_TAG:
            raise ValueError(f"tag {tag[:20]!r}... is longer than {MAX_TAG} characters")
        seen.setdefault(tag, None)
    return list(seen)


class ItemIn(_Strict):
    """A new item, or a new version of the one with the same kind and external_id."""

    kind: Kind
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    body: str = ""
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    attrs: dict[str, Any] = Field(default_factory=dict)
    external_id: str | None = Field(default=None, min_length=1, max_length=300)
    status: Status = "active"

    _tags = field_validator("tags")(clean_tags)

    def content_hash(self) -> str:
        return content_hash(self.kind, self.title, self.body, self.tags, self.attrs)


class ItemPatch(_Strict):
    """Fields to change on an existing item; those left out stay as they are."""

    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE)
    body: str | None = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    attrs: dict[str, Any] | None = None
    status: Status | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else clean_tags(tags)


class Item(BaseModel):
    """An item as stored."""

    item_id: int
    kind: Kind
    external_id: str | None
    title: str
    body: str
    tags: list[str]
    attrs: dict[str, Any]
    status: Status
    version: int
    content_hash: str
    created_at: datetime
    updated_at: datetime


class ItemVersion(BaseModel):
    """One content version of an item, kept after later versions replace it."""

    item_id: int
    version: int
    kind: Kind
    external_id: str | None
    title: str
    body: str
    tags: list[str]
    attrs: dict[str, Any]
    status: Status
    content_hash: str
    created_at: datetime


class SearchHit(BaseModel):
    """An item found by search, with how it was found."""

    item: Item
    score: float = Field(
        description="fused score: cosine similarity + 0.3 x BM25 over the question's best BM25"
    )
    similarity: float | None = Field(description="cosine similarity to the query, -1..1")
    keyword_score: float | None = Field(
        description="Okapi BM25 score of the keyword side, when the words matched"
    )
    semantic_rank: int | None
    keyword_rank: int | None


def content_hash(kind: str, title: str, body: str, tags: list[str], attrs: dict[str, Any]) -> str:
    """A stable hash of everything that makes an item's content.

    >>> content_hash("faq", "t", "b", [], {}) == content_hash("faq", "t", "b", [], {})
    True
    """
    canonical = json.dumps(
        [kind, title, body, tags, attrs], sort_keys=True, ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def embedding_text(title: str, body: str) -> str:
    """The text an item is embedded from."""
    return f"{title}\n\n{body}" if body else title

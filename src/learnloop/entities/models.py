"""The shapes of entities: one found in a text, and a conversation or transcript holding it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from learnloop.validation import Input

Method = Literal["exact", "fuzzy", "pattern", "ner"]
Source = Literal["message", "transcript"]


class Entity(BaseModel):
    """One entity in a text: where it is (``text[start:end]``), what it is, what it means."""

    label: str = Field(
        description="account, kpi, tool, product, an item kind; email, phone, "
        "money, date, url, order_id, ticket_id; or a NER model's label"
    )
    text: str = Field(description="the text as written")
    start: int = Field(ge=0, description="offset of the first character, in characters")
    end: int = Field(ge=0, description="offset after the last character")
    value: str = Field(
        description="the normalised value: the record's name, the e-mail in "
        "lower case, the phone in E.164, 'USD 12400.00', an ISO date"
    )
    key: str = Field(description="the value case-folded: what a search matches")
    method: Method
    score: float = Field(ge=0, le=1, description="1 for exact and pattern matches")
    item_id: int | None = Field(default=None, description="the item it names, if any")
    account_id: str | None = Field(default=None, description="the account it names, if any")


class ExtractIn(Input):
    text: str = Field(min_length=1, max_length=500_000)


class EntityHit(BaseModel):
    """A message or transcript holding the entities searched for."""

    source: Source
    conversation_id: str | None
    seq: int | None = Field(description="the message's number in its conversation")
    transcript_id: int | None
    account_id: str | None
    created_at: datetime
    snippet: str = Field(description="the text around the first match")
    entities: list[Entity] = Field(description="the matching entities, with their offsets")


class EntityCount(BaseModel):
    label: str
    value: str
    key: str
    item_id: int | None
    account_id: str | None
    mentions: int
    conversations: int = Field(description="conversations and transcripts that mention it")
    last_seen: datetime

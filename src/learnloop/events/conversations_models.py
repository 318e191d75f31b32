"""Conversations, their messages, and voice transcripts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from learnloop.entities.models import Entity
from learnloop.events.sentiment import Label
from learnloop.validation import MAX_DURATION_MS, Input

Role = Literal["user", "assistant", "agent", "system"]
Channel = Literal["chat", "voice", "email"]


class MessageIn(Input):
    role: Role
    content: str = Field(min_length=1, max_length=100_000)
    impression_id: UUID | None = Field(default=None, description="what the assistant showed")


class ConversationIn(Input):
    """Messages to add to a conversation, made on first use."""

    channel: Channel = "chat"
    session: str | None = Field(default=None, max_length=200)
    user: str | None = Field(default=None, max_length=200)
    account: str | None = Field(default=None, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    messages: list[MessageIn] = Field(min_length=1, max_length=1000)


class Message(BaseModel):
    seq: int
    role: Role
    content: str
    impression_id: UUID | None
    sentiment: float
    entities: list[Entity] = Field(
        default_factory=list, description="what the message names, with offsets in content"
    )
    created_at: datetime


class Conversation(BaseModel):
    conversation_id: str
    channel: Channel
    session_id: str | None
    user_id: str | None
    account_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    messages: list[Message]


class TranscriptIn(Input):
    """A voice call's transcript; the same external_id again is stored once."""

    text: str = Field(min_length=1, max_length=500_000)
    external_id: str | None = Field(default=None, min_length=1, max_length=300)
    conversation_id: str | None = Field(default=None, max_length=300)
    account: str | None = Field(default=None, max_length=300)
    duration_s: float | None = Field(default=None, ge=0, le=MAX_DURATION_MS / 1000)


class Transcript(BaseModel):
    transcript_id: int
    external_id: str | None
    conversation_id: str | None
    account_id: str | None
    text: str
    duration_s: float | None
    sentiment: float = Field(description="VADER compound score, -1 .. 1")
    sentiment_label: Label
    sentences: list[dict[str, Any]]
    entities: list[Entity] = Field(
        default_factory=list, description="what the transcript names, with offsets in text"
    )
    created_at: datetime

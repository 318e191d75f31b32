"""Conversations (messages appended in order) and voice transcripts with their sentiment."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from learnloop._sql import load_queries
from learnloop.entities import Entities
from learnloop.errors import InvalidInput, NotFound
from learnloop.events import sentiment
from learnloop.events.conversations_models import (
    Conversation,
    ConversationIn,
    Transcript,
    TranscriptIn,
)
from learnloop.events.feedback import check_impression
from learnloop.ports import Store
from learnloop.validation import parse

Q = load_queries("learnloop.events", "conversations.sql")
MAX_ID = 300


class Conversations:
    def __init__(self, db: Store, entities: Entities | None = None):
        self.db = db
        self.entities = entities or Entities(db)

    def add(
        self, tenant_id: str, conversation_id: str, data: ConversationIn | dict[str, Any]
    ) -> Conversation:
        """Append messages (numbered in order) to a conversation, made on first use."""
        if not conversation_id.strip() or len(conversation_id) > MAX_ID:
            raise InvalidInput(f"conversation id: 1 to {MAX_ID} characters")
        convo = parse(ConversationIn, data)
        params = convo.model_dump(exclude={"messages"}) | {
            "tenant_id": tenant_id,
            "conversation_id": conversation_id,
            "metadata": Jsonb(convo.metadata),
        }
        with self.db.transaction() as conn:
            conn.execute(Q["ensure_conversation"], params)
            conn.execute(Q["lock_conversation"], params)  # appends from two callers queue up
            row = conn.execute(Q["next_seq"], params).fetchone()
            seq = int(row["seq"]) if row else 1
            for offset, message in enumerate(convo.messages):
                if message.impression_id is not None:
                    check_impression(conn, tenant_id, message.impression_id)
                conn.execute(
                    Q["insert_message"],
                    message.model_dump()
                    | {
                        "tenant_id": tenant_id,
                        "conversation_id": conversation_id,
                        "seq": seq + offset,
                        "sentiment": sentiment.sentiment(message.content),
                        "entities": self.entities.stored(tenant_id, message.content, conn),
                    },
                )
        return self.get(tenant_id, conversation_id)

    def get(self, tenant_id: str, conversation_id: str) -> Conversation:
        params = {"tenant_id": tenant_id, "conversation_id": conversation_id}
        with self.db.connection() as conn:
            row = conn.execute(Q["get_conversation"], params).fetchone()
            if row is None:
                raise NotFound(f"no conversation {conversation_id!r} in this tenant")
            messages = conn.execute(Q["conversation_messages"], params).fetchall()
        return Conversation.model_validate(row | {"messages": messages})

    def transcript(
        self, tenant_id: str, data: TranscriptIn | dict[str, Any]
    ) -> tuple[Transcript, bool]:
        """Store a transcript with its sentiment; returns it and whether it is new."""
        transcript = parse(TranscriptIn, data)
        score = sentiment.sentiment(transcript.text)
        params = transcript.model_dump() | {
            "tenant_id": tenant_id,
            "sentiment": score,
            "sentiment_label": sentiment.label(score),
            "sentences": Jsonb(sentiment.sentences(transcript.text)),
        }
        with self.db.connection() as conn:
            params["entities"] = self.entities.stored(tenant_id, transcript.text, conn)
            row = conn.execute(Q["insert_transcript"], params).fetchone()
            if row is None:
                row = conn.execute(Q["transcript_by_external_id"], params).fetchone()
                assert row is not None
                return Transcript.model_validate(row), False
        return Transcript.model_validate(row), True

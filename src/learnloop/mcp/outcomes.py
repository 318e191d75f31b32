"""record_outcome: what came of an impression, as an event, a feedback or a correction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from learnloop.client import AsyncClient
from learnloop.errors import InvalidInput
from learnloop.events.models import EventType, FeedbackKind, Priority

OutcomeKind = Literal["event", "feedback", "correction"]


@dataclass(frozen=True)
class Outcome:
    """The arguments of record_outcome; which of them are needed depends on ``kind``."""

    impression_id: str
    kind: OutcomeKind
    event: EventType | None = None
    item_id: int | None = None
    rating: FeedbackKind | None = None
    value: str | int | None = None
    reason: str | None = None
    original_response: str | None = None
    corrected_answer: str | None = None
    priority: Priority | None = None
    idempotency_key: str | None = None

    def require(self, *names: str) -> None:
        """InvalidInput naming the first of ``names`` that is not given."""
        for name in names:
            if getattr(self, name) is None:
                raise InvalidInput(f"{name}: kind {self.kind!r} needs {name} ({_HINTS[name]})")


_HINTS = {
    "event": "viewed, clicked, executed, succeeded, failed or dismissed",
    "rating": "thumbs, stars, emoji or helpfulness",
    "value": "up or down for thumbs, 1 to 5 for stars, an emoji, helpful, partially or not_helpful",
    "original_response": "the answer that was given",
    "corrected_answer": "the answer that should have been given",
}


async def record(client: AsyncClient, outcome: Outcome) -> dict[str, Any]:
    """Send the outcome; the answer says what was stored, with its id."""
    if outcome.kind == "event":
        return await _event(client, outcome)
    if outcome.kind == "feedback":
        return await _feedback(client, outcome)
    return await _correction(client, outcome)


async def _event(client: AsyncClient, o: Outcome) -> dict[str, Any]:
    o.require("event")
    assert o.event is not None
    fields = _given(item_id=o.item_id, idempotency_key=o.idempotency_key)
    result = await client.event(o.event, o.impression_id, **fields)
    return {"recorded": "event", "status": result.status, "event_id": result.event_id}


async def _feedback(client: AsyncClient, o: Outcome) -> dict[str, Any]:
    o.require("rating", "value")
    assert o.rating is not None and o.value is not None
    fields = _given(item_id=o.item_id, reason=o.reason, idempotency_key=o.idempotency_key)
    rating = await client.feedback(o.rating, o.value, impression_id=o.impression_id, **fields)
    return {"recorded": "feedback", "feedback_id": rating.feedback_id, "negative": rating.negative}


async def _correction(client: AsyncClient, o: Outcome) -> dict[str, Any]:
    o.require("original_response", "corrected_answer")
    assert o.original_response is not None and o.corrected_answer is not None
    fields = _given(
        impression_id=o.impression_id,
        item_id=o.item_id,
        priority=o.priority,
        idempotency_key=o.idempotency_key,
    )
    fixed = await client.correct(o.original_response, o.corrected_answer, **fields)
    return {"recorded": "correction", "correction_id": fixed.correction_id}


def _given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}

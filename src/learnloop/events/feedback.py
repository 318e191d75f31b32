"""Feedback on answers and owners' corrections, each stored once per idempotency key."""

from __future__ import annotations

from typing import Any, LiteralString
from uuid import UUID

from learnloop._sql import load_queries
from learnloop.errors import InvalidInput, NotFound
from learnloop.events.models import Correction, CorrectionIn, Feedback, FeedbackIn
from learnloop.ports import Connection, Store
from learnloop.validation import parse

Q = load_queries("learnloop.events")

# Every rating on one scale, -1 (bad) .. 1 (good); below 0 is negative feedback.
THUMBS = {"up": 1.0, "down": -1.0}
HELPFULNESS = {"helpful": 1.0, "partially": 0.0, "not_helpful": -1.0}
EMOJI = {"😀": 1.0, "🙂": 0.5, "😐": 0.0, "🙁": -0.5, "😡": -1.0}


def score(kind: str, value: str | int) -> float:
    """The rating on the common scale; InvalidInput names the values each kind takes.

    >>> score("stars", 5), score("stars", 2), score("thumbs", "down"), score("emoji", "🙂")
    (1.0, -0.5, -1.0, 0.5)
    """
    if kind == "stars":
        if not (isinstance(value, int) and 1 <= value <= 5):
            raise InvalidInput(f"value: stars take a whole number 1 to 5, not {value!r}")
        return (value - 3) / 2
    scale = {"thumbs": THUMBS, "helpfulness": HELPFULNESS, "emoji": EMOJI}[kind]
    if value not in scale:
        raise InvalidInput(f"value: {kind} takes one of {list(scale)}, not {value!r}")
    return scale[str(value)]


class Feedbacks:
    def __init__(self, db: Store):
        self.db = db

    def add(self, tenant_id: str, data: FeedbackIn | dict[str, Any]) -> tuple[Feedback, bool]:
        """Store a rating; returns it and whether it is new (False: its key was seen)."""
        fb = parse(FeedbackIn, data)
        params = feedback_params(tenant_id, fb)
        row = _insert_once(self.db, tenant_id, fb.impression_id, "feedback", params)
        return Feedback.model_validate(row[0]), row[1]

    def correct(
        self, tenant_id: str, data: CorrectionIn | dict[str, Any]
    ) -> tuple[Correction, bool]:
        """Store an owner's corrected answer; returns it and whether it is new."""
        correction = parse(CorrectionIn, data)
        params = correction.model_dump() | {"tenant_id": tenant_id}
        row = _insert_once(self.db, tenant_id, correction.impression_id, "correction", params)
        return Correction.model_validate(row[0]), row[1]


def feedback_params(tenant_id: str, fb: FeedbackIn) -> dict[str, Any]:
    """The row of a rating, scored on the common scale (InvalidInput for a bad value)."""
    rating = score(fb.kind, fb.value)
    return fb.model_dump() | {
        "tenant_id": tenant_id,
        "value": str(fb.value),
        "score": rating,
        "negative": rating < 0,
    }


def _insert_once(
    db: Store,
    tenant_id: str,
    impression_id: UUID | None,
    what: LiteralString,
    params: dict[str, Any],
) -> tuple[dict[str, Any], bool]:
    with db.transaction() as conn:
        if impression_id is not None:
            check_impression(conn, tenant_id, impression_id)
        row = conn.execute(Q["insert_" + what], params).fetchone()
        if row is not None:
            return row, True
        seen = conn.execute(Q[what + "_by_key"], params).fetchone()
    assert seen is not None
    return seen, False


def check_impression(conn: Connection, tenant_id: str, impression_id: UUID) -> None:
    """NotFound unless the impression is this tenant's."""
    params = {"tenant_id": tenant_id, "impression_id": impression_id}
    if conn.execute(Q["impression_tenant"], params).fetchone() is None:
        raise NotFound(f"no impression {impression_id} in this tenant")

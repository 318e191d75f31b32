"""The events' validation shortcut agrees with EventIn wherever it answers.

``events.service._plain`` reads plainly valid events without pydantic (four times cheaper for
big batches); anything it is unsure of goes to ``EventIn``. This differential test throws
random events, good and bad, at both: whenever the shortcut answers, EventIn must accept the
same event and read every field the same way. A change to EventIn that the shortcut does not
follow fails here.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from learnloop.events.models import EventIn
from learnloop.events.service import _from_model, _plain

U = str(uuid.UUID(int=random.Random(7).getrandbits(128)))
VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2**63 - 1, 2**63, 2**31 - 1, 2**31, 1.0, 1.5, "1", " 1", "",
    " ", "x", " x", "x ", "a\x00b", "\x1c", "\u00a0x", "\u3000", U, U.upper(), "{" + U + "}",
    U.replace("-", ""), "urn:uuid:" + U, uuid.UUID(U), "0190c2a4-8e5b-7c1d-9f00-1a2b3c4d5e6g",
    "2026-11-23T10:00:00Z", "2026-11-23T10:00:00+00:00", "2026-11-23T10:00:00.123456+05:30",
    "2026-11-23T10:00:00.1234567Z", "2026-11-23T10:00:00", "2026-11-23 10:00:00Z",
    "2026-13-23T10:00:00Z", "2026-11-23T24:00:00Z", "2026-02-30T10:00:00Z",
    "2026-11-23T10:00:60Z", "2026-11-23T10:00:00+24:00", "2026-11-23T10:00:00-23:59",
    "0000-01-01T00:00:00Z", "2026-11-23T10:00:00z", datetime(2026, 11, 23, tzinfo=UTC),
    datetime(2026, 11, 23), datetime(2026, 11, 23, tzinfo=timezone(timedelta(hours=3))),
    "x" * 200, "x" * 201, " " + "x" * 199, {}, {"a": 1}, {" a": 1}, {"a": "\x00"}, {1: 2},
    {"a": [1, {"b": "c\x00"}]}, {"a": {"b": [1, 2, "x"]}}, [], ["x"], "viewed", "clicked",
    "executed", "succeeded", "failed", "dismissed", "Viewed", " viewed", "hovered",
]  # fmt: skip
FIELDS = ["type", "impression_id", "session", "item_id", "rank", "occurred_at", "metadata",
          "idempotency_key", "extra"]  # fmt: skip


def random_event(rng: random.Random) -> dict[Any, Any]:
    if rng.random() < 0.5:  # a valid event, mutated
        event: dict[Any, Any] = {"type": rng.choice(["viewed", "clicked"]), "impression_id": U}
        for _ in range(rng.randint(0, 4)):
            field = rng.choice(FIELDS)
            if rng.random() < 0.2:
                event.pop(field, None)
            else:
                event[field] = rng.choice(VALUES)
        return event
    return {field: rng.choice(VALUES) for field in rng.sample(FIELDS, rng.randint(0, 5))}


def test_the_shortcut_reads_events_exactly_as_eventin_does() -> None:
    rng = random.Random(20261123)
    answered = 0
    for _ in range(30_000):
        event = random_event(rng)
        fast = _plain(event, set())
        if fast is None:
            continue
        answered += 1
        try:
            model = _from_model(EventIn.model_validate(event))
        except ValidationError as exc:
            raise AssertionError(f"the shortcut accepted what EventIn refuses: {event}") from exc
        for field in fast.__slots__:
            a, b = getattr(fast, field), getattr(model, field)
            assert (a, type(a)) == (b, type(b)), (field, event)
            if isinstance(a, datetime):
                assert a.isoformat() == b.isoformat(), (field, event)
    assert answered > 3_000  # the shortcut is really taken, not just always declining

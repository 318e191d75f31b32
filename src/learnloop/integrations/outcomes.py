"""What the integrations share: the metadata a retrieved document carries, and reporting
what the documents of a run led to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from learnloop.events import EventResult, Feedback
from learnloop.knowledge import Item, SearchHit
from learnloop.recommend import RecommendResponse

Mode = Literal["recommend", "search"]
# What a handler reports, as learnloop event types: a document "used" went into the answer.
OUTCOMES = {"used": "executed", "clicked": "clicked", "succeeded": "succeeded", "failed": "failed"}


@dataclass(frozen=True)
class Shown:
    """One item of an impression, as a retrieved document's metadata names it."""

    impression_id: str
    item_id: int
    rank: int | None = None

    @classmethod
    def of(cls, metadata: Mapping[str, Any]) -> Shown | None:
        """The item a document's metadata names, or None for a document not from an
        impression (a search result, another retriever's document)."""
        impression, item = metadata.get("impression_id"), metadata.get("item_id")
        if metadata.get("source") != "learnloop" or not impression or item is None:
            return None
        return cls(str(impression), int(item), metadata.get("rank"))


def recommended(answer: RecommendResponse) -> list[tuple[str, dict[str, Any]]]:
    """(text, metadata) of each recommended item, with the impression id."""
    return [
        (
            _text(r.item),
            _metadata(r.item)
            | {
                "impression_id": str(answer.impression_id),
                "rank": r.rank,
                "confidence": r.confidence,
                "score": r.score,
                "strategy": answer.strategy,
            },
        )
        for r in answer.recommendations
    ]


def found(hits: list[SearchHit]) -> list[tuple[str, dict[str, Any]]]:
    """(text, metadata) of each search hit; search logs no impression, so none is named."""
    return [(_text(h.item), _metadata(h.item) | {"score": h.score}) for h in hits]


def _metadata(item: Item) -> dict[str, Any]:
    return {
        "source": "learnloop",
        "item_id": item.item_id,
        "version": item.version,
        "kind": item.kind,
        "title": item.title,
        "external_id": item.external_id,
    }


def _text(item: Item) -> str:
    return f"{item.title}\n\n{item.body}".strip() if item.body else item.title


class Outcomes:
    """The documents of a handler's latest run, and what they led to, sent through
    ``client`` (a ``learnloop.Client``). Each report carries an idempotency key made of the
    run, the impression, the item and the outcome, so reporting twice stores once."""

    def __init__(self, client: Any, framework: str) -> None:
        self.client = client
        self.framework = framework
        self.run = ""
        self.shown: list[Shown] = []

    def remember(self, run: str, shown: list[Shown]) -> None:
        self.run, self.shown = run, _unique(shown)

    def report(self, outcome: str, shown: Iterable[Shown] | None = None) -> list[EventResult]:
        """One event of ``outcome`` (used, clicked, succeeded, failed) per item."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        kind = OUTCOMES[outcome]
        events = [
            {
                "type": kind,
                "impression_id": s.impression_id,
                "item_id": s.item_id,
                "rank": s.rank,
                "idempotency_key": self._key(s.impression_id, f"{s.item_id}:{kind}"),
                "metadata": {"via": self.framework},
            }
            for s in (self.shown if shown is None else _unique(list(shown)))
        ]
        return list(self.client.events(events)) if events else []

    def feedback(self, kind: str, value: str | int, reason: str | None = None) -> list[Feedback]:
        """A rating of each impression of the latest run."""
        impressions = dict.fromkeys(s.impression_id for s in self.shown)
        return [
            self.client.feedback(
                kind,
                value,
                impression_id=impression,
                reason=reason,
                idempotency_key=self._key(impression, f"feedback:{kind}"),
            )
            for impression in impressions
        ]

    def _key(self, impression: str, what: str) -> str:
        return f"{self.framework}:{self.run}:{impression}:{what}"[:200]


def _unique(shown: list[Shown]) -> list[Shown]:
    return list(dict.fromkeys(shown))

"""The JSON the MCP tools answer: what a model needs of each answer, with item URIs."""

from __future__ import annotations

from typing import Any

from learnloop.context import ContextBlock
from learnloop.knowledge import Item, SearchHit
from learnloop.recommend import RecommendResponse
from learnloop.tools import ToolCandidate, ToolSelection

ITEM_URI = "learnloop://items/{item_id}"
ITEMS_URI = "learnloop://items"


def item_uri(item_id: int) -> str:
    return ITEM_URI.format(item_id=item_id)


def item(item: Item) -> dict[str, Any]:
    """An item as a resource reads it."""
    return item.model_dump(mode="json", exclude={"content_hash"}) | {"uri": item_uri(item.item_id)}


def item_entry(item: Item) -> dict[str, Any]:
    """An item in a list: enough to choose which to read."""
    fields = ("item_id", "kind", "title", "version", "status", "tags")
    return {name: getattr(item, name) for name in fields} | {"uri": item_uri(item.item_id)}


def recommendation(answer: RecommendResponse) -> dict[str, Any]:
    return {
        "impression_id": str(answer.impression_id),
        "strategy": answer.strategy,
        "threshold": answer.threshold,
        "policy": answer.policy,
        "recommendations": [
            _shown(r.item) | {"rank": r.rank, "confidence": round(r.confidence, 4)}
            for r in answer.recommendations
        ],
    }


def hits(found: list[SearchHit]) -> dict[str, Any]:
    return {
        "hits": [
            _shown(h.item) | {"rank": rank, "score": round(h.score, 6)}
            for rank, h in enumerate(found, start=1)
        ]
    }


def context(block: ContextBlock) -> dict[str, Any]:
    return {
        "impression_id": str(block.impression_id),
        "text": block.text,
        "tokens": block.tokens,
        "token_budget": block.token_budget,
        "cited": [p.citation.model_dump(mode="json", exclude_none=True) for p in block.parts],
        "left_out": [c.model_dump(mode="json", exclude_none=True) for c in block.left_out],
    }


def tool_selection(selection: ToolSelection) -> dict[str, Any]:
    return {
        "selection_id": str(selection.selection_id),
        "chosen": None if selection.chosen is None else _candidate(selection.chosen),
        "decided_by": selection.decided_by,
        "ranked": [_candidate(c) for c in selection.statistics or selection.search],
    }


def _shown(item: Item) -> dict[str, Any]:
    return {
        "item_id": item.item_id,
        "version": item.version,
        "kind": item.kind,
        "title": item.title,
        "body": item.body,
        "uri": item_uri(item.item_id),
    }


def _candidate(candidate: ToolCandidate) -> dict[str, Any]:
    return {
        "tool": candidate.tool,
        "item_id": candidate.item_id,
        "score": round(candidate.score, 6),
        "uri": item_uri(candidate.item_id),
    }

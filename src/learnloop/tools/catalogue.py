"""Tool catalogues kept outside learnloop (a Chroma collection): read by tool selection's
first stage beside the tenant's tool items, and imported as tool items.

A catalogue's tool becomes an item of kind ``tool`` whose external_id is its id in the
catalogue, so importing again updates the same items, and each selection's candidates
carry statistics like any other tool. A tool item's status is learnloop's own: an import
never makes an archived tool active again, and selection leaves archived tools out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

from learnloop._sql import load_queries
from learnloop.knowledge import Item, Items
from learnloop.ports import Vectors

Q = load_queries("learnloop.tools")

BATCH = 200


@dataclass(frozen=True)
class CatalogueTool:
    """One tool of a catalogue; ``similarity`` when a query found it."""

    id: str
    name: str
    description: str
    metadata: Mapping[str, Any]
    similarity: float | None = None

    def item(self, collection: str, status: str = "active") -> dict[str, Any]:
        """The tool as a learnloop item (kind ``tool``, external_id its catalogue id)."""
        return {
            "status": status,
            "kind": "tool",
            "external_id": self.id,
            "title": self.name,
            "body": self.description,
            "attrs": {
                "name": self.name,
                "chroma": {"collection": collection, "id": self.id},
                "metadata": dict(self.metadata),
            },
        }


class ToolCatalogue(Protocol):
    """Where tool selection finds tools beside the tenant's items."""

    def collection_name(self, tenant_id: str) -> str: ...

    def nearest(self, tenant_id: str, vector: Vectors, limit: int) -> list[CatalogueTool]:
        """The tenant's tools nearest the query vector, with their similarity."""
        ...

    def tools(self, name: str) -> Iterator[CatalogueTool]:
        """Every tool of the collection ``name``."""
        ...


def import_tools(
    items: Items, tenant_id: str, tools: Iterable[CatalogueTool], collection: str
) -> dict[str, int]:
    """Store the tools as tool items, in batches; counts of created, updated, unchanged."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    tools = iter(tools)
    while batch := list(islice(tools, BATCH)):
        known = tool_items(items, tenant_id, [t.id for t in batch])
        rows = [
            t.item(collection, known[t.id].status if t.id in known else "active") for t in batch
        ]
        for _, outcome in items.put_many(tenant_id, rows):
            counts[outcome] += 1
    return counts


def tool_items(items: Items, tenant_id: str, external_ids: list[str]) -> dict[str, Item]:
    """The tenant's tool items of these catalogue ids, by id."""
    params = {"tenant_id": tenant_id, "external_ids": external_ids}
    with items.db.connection() as conn:
        rows = conn.execute(Q["tools_by_external_id"], params).fetchall()
    return {row["external_id"]: Item.model_validate(row) for row in rows}

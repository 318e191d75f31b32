"""Tool catalogues kept outside learnloop (a Chroma collection): read by tool selection's
first stage beside the tenant's tool items, and imported as tool items.

A catalogue's tool becomes an item of kind ``tool`` whose external_id is its id in the
catalogue, so importing again updates the same items, and each selection's candidates
carry statistics like any other tool.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

from learnloop.knowledge import Items
from learnloop.ports import Vectors

BATCH = 200


@dataclass(frozen=True)
class CatalogueTool:
    """One tool of a catalogue; ``similarity`` when a query found it."""

    id: str
    name: str
    description: str
    metadata: Mapping[str, Any]
    similarity: float | None = None

    def item(self, collection: str) -> dict[str, Any]:
        """The tool as a learnloop item (kind ``tool``, external_id its catalogue id)."""
        return {
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
        for _, outcome in items.put_many(tenant_id, [t.item(collection) for t in batch]):
            counts[outcome] += 1
    return counts

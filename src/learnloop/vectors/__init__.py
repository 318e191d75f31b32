"""Vector indexes for search's semantic side (adapters of ``ports.VectorIndex``).

- ``pgvector`` (the default): the items' own column, in the items' transactions;
- ``qdrant``: a Qdrant collection kept in step by the worker from the change log
  (``pip install 'learnloop[qdrant]'``; docs/vector-stores.md);

and ``chroma``, a tool catalogue tool selection reads (``pip install 'learnloop[chroma]'``).
"""

from __future__ import annotations

from learnloop.errors import ConfigurationError
from learnloop.ports import Store, VectorIndex
from learnloop.settings import Settings
from learnloop.tools.catalogue import ToolCatalogue
from learnloop.vectors.agreement import VectorCheck, check, resync, tenants
from learnloop.vectors.pgvector import PgVectorIndex

__all__ = [
    "PgVectorIndex",
    "VectorCheck",
    "check",
    "make_tool_catalogue",
    "make_vector_index",
    "resync",
    "tenants",
]


def make_vector_index(settings: Settings, db: Store, dimension: int) -> VectorIndex:
    """The index LEARNLOOP_VECTOR_STORE names."""
    if settings.vector_store == "pgvector":
        return PgVectorIndex(db)
    try:
        from learnloop.vectors.qdrant import QdrantIndex
    except ImportError as exc:
        raise ConfigurationError(
            "LEARNLOOP_VECTOR_STORE=qdrant needs qdrant-client: pip install 'learnloop[qdrant]'"
        ) from exc
    return QdrantIndex.from_settings(settings, dimension)


def make_tool_catalogue(settings: Settings) -> ToolCatalogue | None:
    """The Chroma tool catalogue LEARNLOOP_CHROMA names, or None."""
    if not settings.chroma:
        return None
    from learnloop.vectors.chroma import ChromaCatalogue, chroma_client

    return ChromaCatalogue(chroma_client(settings.chroma), settings.chroma_collection)

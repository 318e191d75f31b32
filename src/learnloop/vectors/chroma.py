"""Chroma tool catalogues: a collection of tools read by tool selection and imported as items.

Agent platforms keep their tools in a Chroma collection: one record per tool, its
description as the document, its name in the metadata, its vector beside it. learnloop never
lets Chroma embed anything (its default embedding function would download a model): queries
carry learnloop's own query vector (``query_embeddings``), and an import takes the
documents and embeds them with learnloop's embedder like any other item.

``chroma_client("path/to/folder")`` opens an embedded ``PersistentClient``;
``chroma_client("http://host:8000")`` a server (``pip install chromadb-client`` is enough
for that one).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx

from learnloop.errors import ConfigurationError, EmbeddingMismatchError, VectorStoreError
from learnloop.ports import Vectors
from learnloop.tools.catalogue import CatalogueTool

PAGE = 500
NAME_KEYS = ("name", "tool", "tool_name", "title")
DESCRIPTION_KEYS = ("description", "summary")


def chroma_client(where: str) -> Any:
    """An embedded client for a folder, an HTTP client for an http(s):// URL."""
    try:
        import chromadb
        from chromadb.config import Settings as ChromaSettings
    except ImportError as exc:
        raise ConfigurationError(
            "reading Chroma needs chromadb: pip install 'learnloop[chroma]'"
        ) from exc
    quiet = ChromaSettings(anonymized_telemetry=False)
    with _translated(f"Chroma at {where}"):
        if where.startswith(("http://", "https://")):
            url = urlsplit(where)
            ssl = url.scheme == "https"
            port = url.port or (443 if ssl else 8000)
            return chromadb.HttpClient(
                host=url.hostname or "localhost", port=port, ssl=ssl, settings=quiet
            )
        return chromadb.PersistentClient(path=where, settings=quiet)


class ChromaCatalogue:
    """The tool collection of each tenant in one Chroma (``template``: ``{tenant}`` its id)."""

    def __init__(self, client: Any, template: str = "{tenant}-tools"):
        self.client = client
        self.template = template

    def collection_name(self, tenant_id: str) -> str:
        return self.template.format(tenant=tenant_id)

    def nearest(self, tenant_id: str, vector: Vectors, limit: int) -> list[CatalogueTool]:
        """The tools nearest the query vector; none when the tenant has no collection."""
        collection = self._collection(self.collection_name(tenant_id), missing_ok=True)
        if collection is None:
            return []
        with _mismatch(collection.name, len(vector)), _translated("Chroma query"):
            found = collection.query(
                query_embeddings=[[float(x) for x in vector]],
                n_results=limit,
                include=["documents", "metadatas", "distances"],
            )
        similarity = _similarity(_space(collection))
        rows = zip(
            found["ids"][0],
            (found["documents"] or [[]])[0],
            (found["metadatas"] or [[]])[0],
            (found["distances"] or [[]])[0],
            strict=True,
        )
        return [_tool(i, doc, meta, similarity(d)) for i, doc, meta, d in rows]

    def tools(self, name: str) -> Iterator[CatalogueTool]:
        """Every record of the collection ``name``, a page at a time."""
        collection = self._collection(name, missing_ok=False)
        assert collection is not None
        offset = 0
        while True:
            with _translated("Chroma read"):
                page = collection.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
            ids = page["ids"]
            docs = page["documents"] or [None] * len(ids)
            metas = page["metadatas"] or [None] * len(ids)
            yield from (_tool(i, d, m) for i, d, m in zip(ids, docs, metas, strict=True))
            if len(ids) < PAGE:
                return
            offset += PAGE

    def _collection(self, name: str, *, missing_ok: bool) -> Any:
        from chromadb.errors import NotFoundError

        try:
            # embedding_function=None: Chroma must never embed (nor download a model).
            return self.client.get_collection(name, embedding_function=None)
        except NotFoundError as exc:
            if missing_ok:
                return None
            raise VectorStoreError(f"Chroma has no collection {name!r}") from exc
        except _errors() as exc:
            raise VectorStoreError(f"Chroma collection {name!r}: {exc}") from exc


def _tool(
    tool_id: str,
    document: str | None,
    metadata: Mapping[str, Any] | None,
    similarity: float | None = None,
) -> CatalogueTool:
    meta = dict(metadata or {})
    name = next((str(meta[k]) for k in NAME_KEYS if meta.get(k)), tool_id)
    description = document or next((str(meta[k]) for k in DESCRIPTION_KEYS if meta.get(k)), "")
    return CatalogueTool(tool_id, name, description, meta, similarity)


def _space(collection: Any) -> str:
    configuration = getattr(collection, "configuration_json", None) or {}
    hnsw = configuration.get("hnsw") or {}
    space = hnsw.get("space") or (collection.metadata or {}).get("hnsw:space") or "l2"
    return str(space)


def _similarity(space: str) -> Any:
    """Chroma's distance as a cosine similarity (the vectors are unit length)."""
    if space == "l2":  # squared Euclidean: |a - b|^2 = 2 - 2 cos
        return lambda d: 1.0 - float(d) / 2.0
    return lambda d: 1.0 - float(d)  # cosine distance, or ip: 1 - a.b


@contextmanager
def _mismatch(collection: str, dimension: int) -> Iterator[None]:
    try:
        yield
    except VectorStoreError as exc:
        if "dimension" in str(exc).lower():
            raise EmbeddingMismatchError(
                f"the Chroma collection {collection!r} holds vectors of another dimension than "
                f"learnloop's embedder ({dimension}); import it with `learnloop tools "
                "import-chroma` and select from the items instead"
            ) from exc
        raise


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except _errors() as exc:
        raise VectorStoreError(f"{what} failed: {exc}") from exc


def _errors() -> tuple[type[Exception], ...]:
    """What chromadb raises: its own errors, ValueError for a server it cannot reach."""
    from chromadb.errors import ChromaError

    return (ChromaError, ValueError, OSError, httpx.HTTPError)

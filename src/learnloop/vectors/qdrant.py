"""Qdrant: the items' vectors mirrored in one collection, one point per item.

Every point carries its tenant (a keyword payload index marked ``is_tenant``, so a server
keeps each tenant's points together and searches only them), the item id, kind, status and
tags; search filters on them in Qdrant, and PostgreSQL checks them again when it fuses the
candidates with the keyword side. PostgreSQL stays the system of record: the vectors are
still written to the items, and the worker copies them here from the change log
(``sync``). ``learnloop vectors resync`` rebuilds a tenant's points, ``learnloop vectors
check`` compares them with the items (``vectors/agreement.py``).

Local mode (``QdrantClient(path=...)`` or ``":memory:"``) searches exactly and has no
payload indexes; one process at a time may open a local folder.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.common.client_exceptions import QdrantException
from qdrant_client.http.exceptions import ApiException

from learnloop._sql import load_queries
from learnloop.errors import EmbeddingMismatchError, VectorStoreError
from learnloop.ports import Connection, VectorFilter, Vectors, as_array
from learnloop.settings import Settings

Q = load_queries("learnloop.vectors")
# Point ids: a UUID of (tenant, item), so two tenants' items never share a point.
POINTS = uuid.UUID("6f0a3c1e-52d4-4d8e-9a61-3b7c2f1d0e55")
KEYWORD_FIELDS = ("kind", "status", "tags")
HNSW = models.HnswConfigDiff(m=24, ef_construct=200)  # pgvector's index: m=24 (docs)
PAGE = 1000


def point_id(tenant_id: str, item_id: int) -> str:
    """
    >>> point_id("acme", 1) == point_id("acme", 1) != point_id("other", 1)
    True
    """
    return str(uuid.uuid5(POINTS, f"{tenant_id}/{item_id}"))


class QdrantIndex:
    name = "qdrant"
    in_database = False

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        dimension: int,
        *,
        local: bool,
        hnsw_ef: int = 200,
    ):
        self.client = client
        self.collection = collection
        self.dimension = dimension
        self.local = local
        self.hnsw_ef = hnsw_ef
        self._ready = False
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, dimension: int) -> QdrantIndex:
        url, path = settings.qdrant_url, settings.qdrant_path
        if not url and not path:
            raise VectorStoreError(
                "LEARNLOOP_VECTOR_STORE=qdrant needs LEARNLOOP_QDRANT_URL (a server) or "
                "LEARNLOOP_QDRANT_PATH (local mode: a folder, or ':memory:')"
            )
        with _translated(f"Qdrant at {url or path}"):
            if url:
                client = QdrantClient(url=url, api_key=settings.qdrant_api_key)
            elif path == ":memory:":
                client = QdrantClient(location=":memory:")
            else:
                client = QdrantClient(path=path)
        return cls(
            client,
            settings.qdrant_collection,
            dimension,
            local=not url,
            hnsw_ef=settings.hnsw_ef_search,
        )

    def nearest(
        self, vector: Vectors, where: VectorFilter, *, limit: int, exact: bool
    ) -> list[tuple[int, float]]:
        self._ensure()
        params = None if self.local else models.SearchParams(hnsw_ef=self.hnsw_ef, exact=exact)
        with _translated("Qdrant search"):
            found = self.client.query_points(
                self.collection,
                query=np.asarray(vector, dtype=np.float32).tolist(),
                query_filter=_filter(where),
                limit=limit,
                search_params=params,
                with_payload=["item_id"],
            )
        return [(int(_payload(p)["item_id"]), float(p.score)) for p in found.points]

    def sync(self, conn: Connection, tenant_id: str, item_ids: Sequence[int]) -> int:
        if not item_ids:
            return 0
        self._ensure()
        params = {"tenant_id": tenant_id, "item_ids": list(item_ids)}
        rows = conn.execute(Q["vector_rows"], params).fetchall()
        points = [_point(tenant_id, row) for row in rows]
        gone = sorted(set(item_ids) - {int(r["item_id"]) for r in rows})
        with _translated("Qdrant write"):
            if points:
                self.client.upsert(self.collection, points=points, wait=True)
            if gone:
                ids: list[models.ExtendedPointId] = [point_id(tenant_id, i) for i in gone]
                self.client.delete(
                    self.collection, points_selector=models.PointIdsList(points=ids), wait=True
                )
        return len(points) + len(gone)

    def stored(self, tenant_id: str) -> dict[int, str]:
        self._ensure()
        found: dict[int, str] = {}
        offset: Any = None
        with _translated("Qdrant scroll"):
            while True:
                points, offset = self.client.scroll(
                    self.collection,
                    scroll_filter=_tenant(tenant_id),
                    limit=PAGE,
                    offset=offset,
                    with_payload=["item_id", "status"],
                )
                found.update((int(_payload(p)["item_id"]), _payload(p)["status"]) for p in points)
                if offset is None:
                    return found

    def vectors(self, tenant_id: str, item_ids: Sequence[int]) -> dict[int, Vectors]:
        self._ensure()
        with _translated("Qdrant read"):
            points = self.client.retrieve(
                self.collection,
                ids=[point_id(tenant_id, i) for i in item_ids],
                with_payload=["item_id"],
                with_vectors=True,
            )
        return {int(_payload(p)["item_id"]): np.asarray(p.vector, dtype=np.float32) for p in points}

    def forget_tenant(self, tenant_id: str) -> None:
        self._ensure()
        with _translated("Qdrant delete"):
            self.client.delete(
                self.collection,
                points_selector=models.FilterSelector(filter=_tenant(tenant_id)),
                wait=True,
            )

    def rebuild_if_other_dimension(self) -> bool:
        """Make the collection again (every tenant's points dropped) when it holds vectors of
        another dimension than the embedder's; True if it did. A matching one is kept as it
        is, with the sharding and replication it was made with."""
        try:
            self._ensure()
        except EmbeddingMismatchError:
            with self._lock, _translated("Qdrant collection"):
                self.client.delete_collection(self.collection)
                self._create()
                self._ready = True
            return True
        return False

    def close(self) -> None:
        self.client.close()

    def _ensure(self) -> None:
        if self._ready:
            return
        with self._lock, _translated("Qdrant collection"):
            if not self.client.collection_exists(self.collection):
                self._create()
            else:
                self._check_dimension()
            self._ready = True

    def _create(self) -> None:
        self.client.create_collection(
            self.collection,
            vectors_config=models.VectorParams(
                size=self.dimension, distance=models.Distance.COSINE
            ),
            hnsw_config=HNSW,
        )
        if self.local:
            return  # local mode has no payload indexes (it scans)
        tenant = models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
        self.client.create_payload_index(self.collection, "tenant_id", tenant, wait=True)
        for name in KEYWORD_FIELDS:
            self.client.create_payload_index(
                self.collection, name, models.PayloadSchemaType.KEYWORD, wait=True
            )

    def _check_dimension(self) -> None:
        params = self.client.get_collection(self.collection).config.params.vectors
        size = params.size if isinstance(params, models.VectorParams) else None
        if size != self.dimension:
            raise EmbeddingMismatchError(
                f"the Qdrant collection {self.collection!r} holds vectors of {size} "
                f"dimensions, the embedder makes {self.dimension}; run "
                "`learnloop vectors resync --all` to rebuild it"
            )


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except (ApiException, QdrantException, OSError, RuntimeError, ValueError) as exc:
        raise VectorStoreError(f"{what} failed: {exc}") from exc


def _payload(point: models.ScoredPoint | models.Record) -> dict[str, Any]:
    return point.payload or {}


def _tenant(tenant_id: str) -> models.Filter:
    return models.Filter(must=[_match("tenant_id", tenant_id)])


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _filter(where: VectorFilter) -> models.Filter:
    must: list[models.Condition] = [_match("tenant_id", where.tenant_id)]
    must.append(
        models.FieldCondition(key="status", match=models.MatchAny(any=list(where.statuses)))
    )
    if where.kinds:
        must.append(models.FieldCondition(key="kind", match=models.MatchAny(any=list(where.kinds))))
    must += [_match("tags", tag) for tag in where.tags]  # every tag, as tags @> in SQL
    return models.Filter(must=must)


def _point(tenant_id: str, row: dict[str, Any]) -> models.PointStruct:
    return models.PointStruct(
        id=point_id(tenant_id, int(row["item_id"])),
        vector=as_array(row["embedding"]).tolist(),
        payload={
            "tenant_id": tenant_id,
            "item_id": int(row["item_id"]),
            "kind": row["kind"],
            "status": row["status"],
            "tags": list(row["tags"]),
            "embedder": row["embedder"],
        },
    )

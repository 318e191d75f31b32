"""What the domain needs from the outside world, as protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import psycopg

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns text into unit-length vectors of a fixed dimension.

    ``name`` identifies the model exactly (it is stored beside the vectors it made).
    """

    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text, L2-normalised, dtype float32."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """One vector for a search query, L2-normalised, dtype float32."""
        ...

    def close(self) -> None:
        """Release what the embedder holds (connections); the model cache stays."""
        ...


Connection = psycopg.Connection[dict[str, Any]]


class Store(Protocol):
    """Connections to the one database, rows as dicts, autocommit unless in a transaction."""

    def connection(self) -> AbstractContextManager[Connection]:
        """A pooled connection; use ``conn.transaction()`` to group writes."""
        ...

    def transaction(self) -> AbstractContextManager[Connection]:
        """A pooled connection inside one transaction: all of it commits, or none."""
        ...


@dataclass(frozen=True)
class VectorFilter:
    """The filters of one search, as an external vector index applies them."""

    tenant_id: str
    kinds: Sequence[str] | None
    statuses: Sequence[str]
    tags: Sequence[str]


class VectorIndex(Protocol):
    """Where search's semantic candidates come from.

    ``in_database`` is True when the vectors are the items' own column (pgvector): search
    then ranks them in the same SQL statement as the keyword side. Otherwise ``nearest``
    gives the candidates and ``sync`` keeps the index in step with the items: the worker
    calls it with the item ids of each batch of the change log, inside the batch's
    transaction, so a failed write leaves the batch to be claimed again.
    """

    name: str
    in_database: bool

    def nearest(
        self, vector: Vectors, where: VectorFilter, *, limit: int, exact: bool
    ) -> list[tuple[int, float]]:
        """(item_id, cosine similarity) of the closest vectors that pass the filters."""
        ...

    def sync(self, conn: Connection, tenant_id: str, item_ids: Sequence[int]) -> int:
        """Write the named items' current vectors (or their absence); return how many."""
        ...

    def stored(self, tenant_id: str) -> dict[int, str]:
        """item_id -> the item's status, for every vector the index holds for the tenant."""
        ...

    def vectors(self, tenant_id: str, item_ids: Sequence[int]) -> dict[int, Vectors]:
        """The stored vectors of the named items (those it holds)."""
        ...

    def forget_tenant(self, tenant_id: str) -> None:
        """Drop every vector of the tenant."""
        ...

    def close(self) -> None: ...


def as_array(vector: object) -> Vectors:
    """A vector read from the database (pgvector's ``Vector``, or a sequence) as float32."""
    to_numpy = getattr(vector, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy else vector, dtype=np.float32)

"""What the domain needs from the outside world, as protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
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

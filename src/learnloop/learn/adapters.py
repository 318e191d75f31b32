"""The store side of the embedding adapter: fitting it on a tenant's clicked pairs, keeping
it (``learn_models``, name ``adapter``, with its version and embedder), reporting and
dropping it, and loading it for a request (``AdapterCache``).

The adapter in use is always one that beat the unadapted ranking on the tenant's held-out
pairs; a refused fit leaves the stored one (if any) as it was. The vectors it was fitted
on are those of the embedder that made the items' vectors now; a request whose question
vector comes from another embedder (or dimension) gets no adapter, so vectors of two
embedders never meet.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from learnloop._sql import load_queries
from learnloop.errors import InvalidInput
from learnloop.learn import adapter as fitting
from learnloop.learn.adapter import Adapter
from learnloop.learn.config import LearningConfig, examine
from learnloop.ports import Connection, Store

Q = load_queries("learnloop.learn")
NAME = "adapter"
RECHECK = 1.0  # seconds a loaded adapter is used before its version is checked


class Adapters:
    """``learning adapter train / status / drop`` for one store."""

    def __init__(self, db: Store):
        self.db = db

    def train(
        self, tenant_id: str, config: LearningConfig, *, force: bool = True
    ) -> dict[str, Any]:
        """Fit, judge on held-out pairs, keep when it wins. Unless ``force``, only when the
        clicked pairs grew by ``adapter.refit_growth`` since the adapter in use was fitted
        (a scheduled refit)."""
        settings = config.adapter
        with self.db.connection() as conn:
            space = conn.execute(Q["embedding_space"]).fetchone()
            if space is None:
                raise InvalidInput("no item has been embedded yet: add items first")
            embedder = str(space["embedder"])
            current = load(conn, tenant_id)
            count = _pairs(conn, tenant_id, embedder)
            if not force and not _due(current, count, embedder, settings.refit_growth):
                return {"kept": False, "reason": "not due", "pairs": count, **_summary(current)}
            x, y, ranks = _training(conn, tenant_id, embedder, settings.max_pairs)
            ids, vectors = _items(conn, tenant_id, embedder)
        version = 1 if current is None else current.version + 1
        verdict = fitting.fit(
            x,
            y,
            ids,
            vectors,
            embedder=embedder,
            version=version,
            min_pairs=settings.min_pairs,
            holdout=settings.holdout,
            regularization=settings.regularization,
            scale=settings.prototype_scale,
            weights=np.array([1.0 / examine(r, config.position_bias) for r in ranks]),
        )
        answer: dict[str, Any] = {"kept": verdict.adapter is not None, "reason": verdict.reason}
        answer["fit"] = verdict.figures
        if verdict.adapter is None:
            return {**answer, **_summary(current)}
        kept = verdict.adapter
        kept.meta["total_pairs"] = count
        with self.db.transaction() as conn:
            conn.execute(Q["lock_model"], {"tenant_id": tenant_id, "name": NAME})
            params = {"tenant_id": tenant_id, "name": NAME, "state": kept.to_bytes()}
            conn.execute(Q["put_model"], {**params, "examples": len(y)})
        return {**answer, **_summary(kept)}

    def status(self, tenant_id: str) -> dict[str, Any]:
        """The adapter in use (version, embedder, held-out figures), or ``adapter`` None."""
        with self.db.connection() as conn:
            return _summary(load(conn, tenant_id))

    def drop(self, tenant_id: str) -> bool:
        """Remove the tenant's adapter; the memory policy ranks unadapted again."""
        with self.db.transaction() as conn:
            params = {"tenant_id": tenant_id, "name": NAME}
            gone = conn.execute(Q["drop_model"], params).fetchone()
        return gone is not None


def adapter_tenants(db: Store) -> list[str]:
    """The tenants whose adapter the worker refits when due (policy or shadow memory)."""
    with db.connection() as conn:
        return [r["tenant_id"] for r in conn.execute(Q["adapter_tenants"])]


def load(conn: Connection, tenant_id: str) -> Adapter | None:
    row = conn.execute(Q["get_model"], {"tenant_id": tenant_id, "name": NAME}).fetchone()
    return None if row is None else Adapter.from_bytes(bytes(row["state"]))


def _summary(adapter: Adapter | None) -> dict[str, Any]:
    if adapter is None:
        return {"adapter": None}
    about = {"version": adapter.version, "embedder": adapter.embedder, "items": len(adapter.items)}
    return {"adapter": {**about, **adapter.meta}}


def _due(current: Adapter | None, count: int, embedder: str, growth: float) -> bool:
    if current is None or current.embedder != embedder:
        return True
    before = int(current.meta.get("total_pairs", current.meta.get("pairs", 0)))
    return count >= before * (1.0 + growth)


def _pairs(conn: Connection, tenant_id: str, embedder: str) -> int:
    params = {"tenant_id": tenant_id, "embedder": embedder}
    row = conn.execute(Q["adapter_pair_count"], params).fetchone()
    return int(row["pairs"]) if row else 0


def _training(
    conn: Connection, tenant_id: str, embedder: str, limit: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], list[int | None]]:
    """Question vectors, clicked items and the ranks they were clicked at, oldest first."""
    params = {"tenant_id": tenant_id, "embedder": embedder, "limit": limit}
    rows = conn.execute(Q["adapter_pairs"], params).fetchall()[::-1]
    if not rows:
        return np.zeros((0, 1), dtype=np.float32), np.zeros(0, dtype=np.int64), []
    x = np.stack([_array(r["query_vector"]) for r in rows]).astype(np.float32)
    y = np.array([r["item_id"] for r in rows], dtype=np.int64)
    return x, y, [r["rank"] for r in rows]


def _items(
    conn: Connection, tenant_id: str, embedder: str
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rows = conn.execute(Q["adapter_items"], {"tenant_id": tenant_id, "embedder": embedder})
    found = rows.fetchall()
    ids = np.array([r["item_id"] for r in found], dtype=np.int64)
    vectors = np.stack([_array(r["embedding"]) for r in found]) if found else np.zeros((0, 1))
    return ids, vectors.astype(np.float32)


def _array(value: Any) -> np.ndarray[Any, Any]:
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value)


@dataclass(frozen=True)
class _Loaded:
    version: datetime | None
    adapter: Adapter | None
    checked: float


class AdapterCache:
    """Each tenant's adapter, loaded again when the store holds a newer one (checked at
    most every RECHECK seconds)."""

    def __init__(self) -> None:
        self._held: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    def get(
        self, conn: Connection, tenant_id: str, embedder: str, dimension: int
    ) -> Adapter | None:
        """The tenant's adapter if it was fitted on vectors of ``embedder`` (and
        ``dimension``), else None: the caller ranks unadapted."""
        found = self._current(conn, tenant_id)
        if found is None or found.embedder != embedder or found.dimension != dimension:
            return None
        return found

    def _current(self, conn: Connection, tenant_id: str) -> Adapter | None:
        with self._lock:
            cached = self._held.get(tenant_id)
        now = time.monotonic()
        if cached is not None and now - cached.checked < RECHECK:
            return cached.adapter
        row = conn.execute(Q["model_version"], {"tenant_id": tenant_id, "name": NAME}).fetchone()
        version = None if row is None else row["updated_at"]
        if cached is not None and cached.version == version:
            adapter = cached.adapter
        else:
            adapter = None if row is None else load(conn, tenant_id)
        with self._lock:
            self._held[tenant_id] = _Loaded(version, adapter, now)
        return adapter

"""The memory policy's nearest past questions, found in process, with their outcomes.

The question vectors stay in ``impression_vectors`` (the truth, in the transaction of each
impression). Each server keeps, per tenant, the latest ``memory.window`` of them as one
preallocated matrix (new rows are written after the last, the oldest leave by moving the
start; the rows are copied only when the spare room runs out, every quarter window or
so), and finds the nearest by one matrix product: a few milliseconds for 20,000
questions, where an exact scan in SQL took tens.

One round trip per request (``memory_read``) brings the matrix up to date and reads the
outcomes at once: the nearest held questions are found first, and the query returns the
rows logged since the newest held (an index range scan that is empty most of the time)
together with the settled outcomes of those nearest and of the newest rows it returns.
The nearest of all are among them, so their outcomes are there, except where a nearest
held question just left the window or more rows arrived than ``FRESH`` (the first
request): then a second query reads the outcomes missing. Every ``OVERLAP`` (10 s) the
read goes back that far before the newest row seen, so an impression whose transaction
committed late is not missed (ids already held are skipped). The rows come in binary:
parsing 20,000 vectors from text took 12 times as long.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from learnloop._sql import load_queries
from learnloop.ports import Connection, Vectors

Q = load_queries("learnloop.learn")
OVERLAP = timedelta(seconds=10)  # re-read this far back: late commits are not missed
TENANTS = 64  # tenants whose memory a server keeps; the least recently used goes first
FRESH = 256  # new rows whose outcomes the read brings along
EPOCH = datetime(1970, 1, 1).astimezone()
Near = list[tuple[str, float]]
Outcome = dict[str, Any]  # impression_id, item_id, rank, reward


@dataclass
class _Held:
    """One tenant's latest question vectors: rows ``start .. start + count`` of ``rows``
    (oldest first), the impression id of each at the same place of ``ids``."""

    embedder: str
    rows: np.ndarray[Any, Any] | None = None
    ids: list[str] = field(default_factory=list)
    start: int = 0
    count: int = 0
    seen: set[str] = field(default_factory=set)
    newest: datetime = EPOCH
    looked_back: float = 0.0  # time.monotonic() of the last read that went back OVERLAP
    lock: threading.Lock = field(default_factory=threading.Lock)

    def similarities(self, vector: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if self.rows is None or not self.count:
            return np.zeros(0, dtype=np.float32)
        return _dot(self.rows[self.start : self.start + self.count], vector)

    def id_at(self, n: int) -> str:
        return self.ids[self.start + n]

    def append(self, new: np.ndarray[Any, Any], ids: list[str]) -> None:
        """Writes ``new`` after the last row: into the spare room, else after moving the
        held rows to the front (and growing the matrix when they do not fit)."""
        end = self.start + self.count
        if self.rows is None or end + len(new) > len(self.rows):
            needed = self.count + len(new)
            if self.rows is None or needed > len(self.rows):
                grown = np.empty((needed + max(needed // 4, 256), new.shape[1]), np.float32)
            else:
                grown = self.rows
            grown[: self.count] = self.rows[self.start : end] if self.rows is not None else 0
            self.rows, self.ids, self.start, end = grown, self.ids[self.start : end], 0, self.count
        self.rows[end : end + len(new)] = new
        self.ids[end:] = ids
        self.count += len(new)

    def drop_oldest(self, cut: int) -> None:
        self.seen.difference_update(self.ids[self.start : self.start + cut])
        self.start += cut
        self.count -= cut


class Recall:
    """Per tenant, the latest question vectors, and the nearest of them to a question."""

    def __init__(self, tenants: int = TENANTS) -> None:
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._tenants = tenants
        self._lock = threading.Lock()

    def nearest(
        self,
        conn: Connection,
        tenant_id: str,
        vector: Vectors,
        embedder: str,
        *,
        k: int,
        window: int,
    ) -> Near:
        """The ``k`` nearest past questions: (impression id, cosine similarity), best first."""
        return self.recall(conn, tenant_id, vector, embedder, k=k, window=window)[0]

    def recall(
        self,
        conn: Connection,
        tenant_id: str,
        vector: Vectors,
        embedder: str,
        *,
        k: int,
        window: int,
    ) -> tuple[Near, list[Outcome]]:
        """The ``k`` nearest past questions, best first, and the outcomes of their
        impressions that are settled or rewarded (in the same order, then by item)."""
        held = self._tenant(tenant_id, embedder)
        question = np.asarray(vector, dtype=np.float32)
        with held.lock:
            sims = held.similarities(question)
            asked = {held.id_at(n) for n in _top(sims, k)}
            params = self._params(tenant_id, held, window, asked)
            # binary: 20,000 vectors arrive in a tenth of the time text takes to parse
            rows = conn.execute(Q["memory_read"], params, binary=True)
            fresh, outcomes = _split(rows.fetchall())
            asked.update(str(r["impression_id"]) for r in fresh if r["place"] <= FRESH)
            sims = self._add(held, fresh, sims, question, window)
            near = [(held.id_at(n), float(sims[n])) for n in _top(sims, k)]
            missing = [i for i, _ in near if i not in asked]
            if missing:
                params = {"tenant_id": tenant_id, "impression_ids": missing}
                outcomes += conn.execute(Q["memory_outcomes"], params).fetchall()
        place = {i: n for n, (i, _) in enumerate(near)}
        kept = [o for o in outcomes if str(o["impression_id"]) in place]
        return near, sorted(kept, key=lambda o: (place[str(o["impression_id"])], o["item_id"]))

    def _params(self, tenant_id: str, held: _Held, window: int, asked: set[str]) -> dict[str, Any]:
        now = time.monotonic()
        back = now - held.looked_back >= OVERLAP.total_seconds()
        if back:
            held.looked_back = now
        return {
            "tenant_id": tenant_id,
            "embedder": held.embedder,
            "since": held.newest - OVERLAP if back else held.newest,
            "window": window,
            "impression_ids": sorted(asked),
            "fresh": FRESH,
        }

    def _add(
        self,
        held: _Held,
        rows: list[dict[str, Any]],
        sims: np.ndarray[Any, Any],
        question: np.ndarray[Any, Any],
        window: int,
    ) -> np.ndarray[Any, Any]:
        """Adds the rows not held yet (oldest first); the oldest leave beyond ``window``.
        Returns the similarity of every row held, in their order."""
        fresh = [r for r in rows if str(r["impression_id"]) not in held.seen]
        if not fresh:
            return sims
        new = np.stack([_array(r["query_vector"]) for r in fresh]).astype(np.float32)
        ids = [str(r["impression_id"]) for r in fresh]
        held.append(new, ids)
        held.seen.update(ids)
        held.newest = max(held.newest, max(r["created_at"] for r in fresh))
        sims = np.concatenate([sims, _dot(new, question)])
        if held.count > window:
            cut = held.count - window
            held.drop_oldest(cut)
            sims = sims[cut:]
        return sims

    def _tenant(self, tenant_id: str, embedder: str) -> _Held:
        with self._lock:
            held = self._held.get(tenant_id)
            if held is None or held.embedder != embedder:
                held = _Held(embedder)
                self._held[tenant_id] = held
            self._held.move_to_end(tenant_id)
            while len(self._held) > self._tenants:
                self._held.popitem(last=False)
            return held


def _dot(rows: np.ndarray[Any, Any], vector: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Each row's dot product with ``vector``, in this thread alone: numpy's own loop, not
    BLAS. OpenBLAS splits a product this size over its threads, which then spin waiting
    for the next one and take the cores from the database's work on the same request (at
    20,000 rows, what memory adds to a recommendation fell from about 11 ms to 5 ms at the
    median when the product left BLAS: docs/learning.md, "Speed")."""
    sims: np.ndarray[Any, Any] = np.einsum("ij,j->i", rows, vector)
    return sims


def _top(sims: np.ndarray[Any, Any], k: int) -> list[int]:
    """The places of the ``k`` highest similarities, highest first."""
    if not len(sims):
        return []
    top = np.argpartition(-sims, min(k, len(sims)) - 1)[:k]
    return [int(n) for n in top[np.argsort(-sims[top], kind="stable")]]


def _split(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Outcome]]:
    """The rows of ``memory_read``: the new vectors, oldest first, and the outcomes."""
    vectors = [r for r in rows if r["item_id"] is None]
    outcomes = [r for r in rows if r["item_id"] is not None]
    return sorted(vectors, key=lambda r: -r["place"]), outcomes


def _array(value: Any) -> np.ndarray[Any, Any]:
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value)

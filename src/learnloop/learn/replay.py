"""The ``memory`` policy replayed on the log, for offline evaluation.

Live, the memory policy ranks a question by the settled outcomes of the nearest past
questions (``learn.memory``). To evaluate it on the logged impressions, each impression
gets the memory it would have had when it was logged: its ``neighbours`` nearest among
the questions logged *before* it (at most ``memory.window`` back), with the outcomes
those impressions got (``memory_outcomes``: settled or rewarded). Its own outcome is
never part of it, nor that of any impression logged at the same time or later.

The vectors of the window (and of the ``memory.window`` questions before it) are one
matrix; each block of impressions is compared with all of them by one product, and a mask
by position in time keeps only the earlier ones. Thousands of impressions take a second.

Limits: the outcome of an earlier impression is read as it is now, so one reported after
the later impression was shown counts too (the log does not keep when each outcome
arrived); the items the live policy adds as candidates (``suggested``) are not replayed,
only the candidates the log kept; only the vectors of the embedder of the latest
impression are read (an impression of another embedder gets no memory).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from learnloop._sql import load_queries
from learnloop.learn.config import MemoryConfig
from learnloop.learn.memory import MemoryPolicy, Neighbour
from learnloop.learn.policies import Arm, Ranking
from learnloop.learn.recall import EPOCH, _array
from learnloop.ports import Connection

Q = load_queries("learnloop.learn")
BLOCK = 256  # impressions compared with the whole memory at once


class MemoryReplay:
    """The memory policy as it would have ranked each logged impression: ``prepare`` with
    the impressions of the window, then ``at(impression_id)``. Called as a policy (``rank``,
    ``first``), or for an impression it was not prepared for, it has no memory: the
    baseline's order."""

    name = MemoryPolicy.name
    version = MemoryPolicy.version

    def __init__(self, settings: MemoryConfig):
        self.settings = settings
        self.memories: dict[str, list[Neighbour]] = {}

    def prepare(self, conn: Connection, tenant_id: str, impression_ids: Sequence[str]) -> None:
        self.memories = memories(conn, tenant_id, impression_ids, self.settings)

    def at(self, impression_id: str) -> MemoryPolicy:
        return MemoryPolicy(self.memories.get(impression_id, []), self.settings)

    def rank(
        self,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        query: str,
        rng: np.random.Generator,
        threshold: float | None = None,
    ) -> Ranking:
        return self.at("").rank(arms, context, query, rng, threshold)

    def first(
        self,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        query: str,
        rng: np.random.Generator,
        threshold: float | None = None,
    ) -> list[float]:
        return self.at("").first(arms, context, query, rng, threshold)


def memories(
    conn: Connection, tenant_id: str, impression_ids: Sequence[str], settings: MemoryConfig
) -> dict[str, list[Neighbour]]:
    """For each impression named, the outcomes of its nearest earlier questions."""
    wanted = set(impression_ids)
    ids, vectors, times = _vectors(conn, tenant_id, list(wanted), settings.window)
    if not ids:
        return {}
    rows = [n for n, i in enumerate(ids) if i in wanted]
    near = nearest_earlier(vectors, times, rows, k=settings.neighbours, window=settings.window)
    used = sorted({ids[j] for pairs in near.values() for j, _ in pairs})
    outcomes = _outcomes(conn, tenant_id, used)
    return {
        ids[row]: [
            Neighbour(ids[j], similarity, item, rank, reward)
            for j, similarity in pairs
            for item, rank, reward in outcomes.get(ids[j], [])
        ]
        for row, pairs in near.items()
    }


def nearest_earlier(
    vectors: np.ndarray[Any, Any],
    times: np.ndarray[Any, Any],
    rows: Sequence[int],
    *,
    k: int,
    window: int,
) -> dict[int, list[tuple[int, float]]]:
    """For each row named, the ``k`` most similar rows logged strictly before it and at
    most ``window`` rows back: (row, cosine similarity), best first. ``vectors`` and
    ``times`` are in time order.

    >>> v = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> nearest_earlier(v, np.array([1, 2, 2]), [0, 1, 2], k=2, window=10)
    {0: [], 1: [(0, 1.0)], 2: [(0, 0.0)]}
    """
    found: dict[int, list[tuple[int, float]]] = {}
    ordered = sorted(rows)
    for start in range(0, len(ordered), BLOCK):
        block = np.asarray(ordered[start : start + BLOCK])
        lo, hi = max(int(block[0]) - window, 0), int(block[-1])  # the columns any can see
        if hi <= lo:
            found.update({int(row): [] for row in block})
            continue
        sims = vectors[block] @ vectors[lo:hi].T
        position = np.arange(lo, hi)
        earlier = (times[None, lo:hi] < times[block, None]) & (
            position[None, :] >= block[:, None] - window
        )
        sims = np.where(earlier, sims, -np.inf)
        top = min(k, hi - lo)
        best = np.argpartition(-sims, top - 1, axis=1)[:, :top]
        for n, row in enumerate(block):
            chosen = best[n][np.argsort(-sims[n, best[n]], kind="stable")]
            found[int(row)] = [
                (lo + int(j), float(sims[n, j])) for j in chosen if np.isfinite(sims[n, j])
            ]
    return found


def _vectors(
    conn: Connection, tenant_id: str, impression_ids: list[str], window: int
) -> tuple[list[str], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The vectors of the impressions named and of the ``window`` before the oldest (one
    embedder's: the latest impression's), normalised, in time order."""
    params = {"tenant_id": tenant_id, "impression_ids": impression_ids}
    named = conn.execute(Q["replay_vectors"], params).fetchall()
    if not named:
        return [], np.zeros((0, 0)), np.zeros(0)
    embedder = max(named, key=lambda r: r["created_at"])["embedder"]
    named = [r for r in named if r["embedder"] == embedder]
    before = {
        "tenant_id": tenant_id,
        "embedder": embedder,
        "before": min(r["created_at"] for r in named),
        "window": window,
    }
    rows = named + conn.execute(Q["replay_vectors_before"], before).fetchall()
    rows.sort(key=lambda r: (r["created_at"], str(r["impression_id"])))
    vectors = np.stack([_array(r["query_vector"]) for r in rows]).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    times = np.array([_micros(r["created_at"]) for r in rows], dtype=np.int64)
    return [str(r["impression_id"]) for r in rows], vectors, times


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _outcomes(
    conn: Connection, tenant_id: str, impression_ids: list[str]
) -> dict[str, list[tuple[int, int | None, float]]]:
    params = {"tenant_id": tenant_id, "impression_ids": impression_ids}
    found: dict[str, list[tuple[int, int | None, float]]] = {}
    for r in conn.execute(Q["memory_outcomes"], params):
        found.setdefault(str(r["impression_id"]), []).append(
            (r["item_id"], r["rank"], float(r["reward"]))
        )
    return found

"""The store side of the policies: what each needs read for a request, and the training of
the contextual model from settled outcomes (called inside ``stats.update``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from learnloop._sql import load_queries
from learnloop.learn.adapters import AdapterCache
from learnloop.learn.config import LearningConfig
from learnloop.learn.contextual import ContextualPolicy, Example
from learnloop.learn.memory import Neighbour
from learnloop.learn.policies import Arm, Policy
from learnloop.learn.recall import Recall
from learnloop.learn.tally import Stat, StatKey, segments
from learnloop.ports import Connection, Vectors

Q = load_queries("learnloop.learn")
CONTEXTUAL = "contextual"
RECHECK = 1.0  # seconds a loaded contextual model is used before its version is checked


class Policies:
    """Builds the policy a request asks for; keeps each tenant's contextual model loaded."""

    def __init__(self) -> None:
        self.recall = Recall()
        self.adapters = AdapterCache()
        self._models: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    def build(
        self,
        conn: Connection,
        tenant_id: str,
        name: str,
        config: LearningConfig,
        arms: Sequence[Arm],
        context: Mapping[str, Any],
        question: Question | None = None,
    ) -> Policy:
        from learnloop.learn.registry import Request, entry  # the registry imports this module

        return entry(name).live(Request(conn, tenant_id, config, arms, context, question, self))

    def contextual(self, conn: Connection, tenant_id: str, config: LearningConfig) -> Policy:
        """The tenant's model, loaded again when the store holds a newer one (checked at
        most every RECHECK seconds)."""
        with self._lock:
            cached = self._models.get(tenant_id)
        now = time.monotonic()
        if cached and cached.epsilon == config.epsilon and now - cached.checked < RECHECK:
            return cached.model
        row = conn.execute(Q["model_version"], {"tenant_id": tenant_id, "name": CONTEXTUAL})
        found = row.fetchone()
        version = None if found is None else found["updated_at"]
        if cached and cached.version == version and cached.epsilon == config.epsilon:
            model = cached.model
        else:
            state = None if found is None else load_model(conn, tenant_id, CONTEXTUAL)
            model = _contextual(state, config)
        with self._lock:
            self._models[tenant_id] = _Loaded(version, config.epsilon, model, now)
        return model


@dataclass(frozen=True)
class Question:
    """The question's vector and the embedder that made it (the memory is searched with it)."""

    vector: Vectors
    embedder: str


def neighbours(
    conn: Connection,
    tenant_id: str,
    question: Question,
    config: LearningConfig,
    recall: Recall,
) -> list[Neighbour]:
    """The settled outcomes of the nearest past questions (``learn.recall``)."""
    near, outcomes = recall.recall(
        conn,
        tenant_id,
        question.vector,
        question.embedder,
        k=config.memory.neighbours,
        window=config.memory.window,
    )
    similarity = dict(near)
    return [
        Neighbour(
            str(r["impression_id"]),
            similarity[str(r["impression_id"])],
            r["item_id"],
            r["rank"],
            float(r["reward"]),
        )
        for r in outcomes
    ]


@dataclass(frozen=True)
class _Loaded:
    version: datetime | None
    epsilon: float
    model: ContextualPolicy
    checked: float


def _contextual(state: bytes | None, config: LearningConfig) -> ContextualPolicy:
    return ContextualPolicy(state, exploration=config.epsilon, segment_by=config.segment_by)


def item_stats(
    conn: Connection,
    tenant_id: str,
    arms: Sequence[Arm],
    context: Mapping[str, Any],
    config: LearningConfig,
) -> dict[StatKey, Stat]:
    pairs = segments(context, config.segment_by)
    params = {
        "tenant_id": tenant_id,
        "dimensions": [d for d, _ in pairs],
        "values": [v for _, v in pairs],
        "item_ids": [a.item_id for a in arms],
    }
    return {
        (r["dimension"], r["value"], r["item_id"]): Stat(
            r["trials"], r["exposure"], r["reward"], r["positive"]
        )
        for r in conn.execute(Q["item_stats"], params)
    }


def load_model(conn: Connection, tenant_id: str, name: str) -> bytes | None:
    row = conn.execute(Q["get_model"], {"tenant_id": tenant_id, "name": name}).fetchone()
    return None if row is None else bytes(row["state"])


def train(
    conn: Connection, tenant_id: str, impression_ids: list[UUID], config: LearningConfig
) -> None:
    """Teach the tenant's contextual model the first item of each settled impression,
    while the contextual policy is the tenant's live or shadow policy."""
    if CONTEXTUAL not in (config.policy, config.shadow):
        return
    params = {"tenant_ids": [tenant_id] * len(impression_ids), "impression_ids": impression_ids}
    rows = conn.execute(Q["training_examples"], params).fetchall()
    examples = [e for e in (_example(row) for row in rows) if e is not None]
    if not examples:
        return
    conn.execute(Q["lock_model"], {"tenant_id": tenant_id, "name": CONTEXTUAL})
    model = _contextual(load_model(conn, tenant_id, CONTEXTUAL), config)
    model.learn(examples)
    previous = conn.execute(Q["get_model"], {"tenant_id": tenant_id, "name": CONTEXTUAL})
    seen = (previous.fetchone() or {"examples": 0})["examples"]
    conn.execute(
        Q["put_model"],
        {
            "tenant_id": tenant_id,
            "name": CONTEXTUAL,
            "state": model.to_bytes(),
            "examples": seen + len(examples),
        },
    )


def _example(row: dict[str, Any]) -> Example | None:
    candidates = row["candidates"] or []
    arms = [Arm(c["item_id"], c["similarity"], c["kind"]) for c in candidates]
    chosen = next((n for n, a in enumerate(arms) if a.item_id == row["chosen"]), None)
    if chosen is None:
        return None
    context, query = row["context"], row["query"]
    return Example(arms, context, query, chosen, row["probability"], row["reward"])

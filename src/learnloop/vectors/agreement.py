"""Re-sync an external vector index from the items, and check that the two agree.

The items in PostgreSQL are the truth: ``resync`` writes every item's current vector (or its
absence) to the index, a page at a time, then drops the points of items that no longer
exist, so search keeps working while it runs. ``check`` compares, per tenant, the items that
have a vector with what the index holds: the ids on each side, the statuses the index
filters on, and a sample of the vectors themselves.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
from pydantic import BaseModel, Field

from learnloop._sql import load_queries
from learnloop.ports import Store, VectorIndex, as_array

Q = load_queries("learnloop.vectors")
PAGE = 500
SAME = 0.9999  # cosine of a stored vector with the item's own: float32 round trips only
SHOWN = 20


class VectorCheck(BaseModel):
    """How one tenant's items and the vector index compare."""

    tenant_id: str
    store: str
    items: int = Field(description="items with a vector in PostgreSQL")
    stored: int = Field(description="vectors the index holds for the tenant")
    missing: list[int] = Field(description="item ids the index lacks (the first 20)")
    extra: list[int] = Field(description="ids the index holds of no item with a vector")
    status_differs: list[int] = Field(description="ids whose status differs in the index")
    sampled: int = Field(description="vectors compared")
    vectors_differ: list[int] = Field(description="sampled ids whose vector differs")

    @property
    def agree(self) -> bool:
        return not (self.missing or self.extra or self.status_differs or self.vectors_differ)


def tenants(db: Store) -> list[str]:
    with db.connection() as conn:
        return [r["tenant_id"] for r in conn.execute(Q["all_tenants"])]


def resync(
    db: Store, index: VectorIndex, tenant_id: str, on_page: Callable[[int], None] | None = None
) -> int:
    """Write every item of the tenant to the index; drop the points of others. Returns the
    number of points written or dropped."""
    done, after = 0, 0
    while True:
        with db.transaction() as conn:
            params = {"tenant_id": tenant_id, "after": after, "limit": PAGE}
            ids = [int(r["item_id"]) for r in conn.execute(Q["item_ids_after"], params)]
            if not ids:
                break
            done += index.sync(conn, tenant_id, ids)
        after = ids[-1]
        if on_page:
            on_page(len(ids))
    with db.transaction() as conn:
        orphans = sorted(set(index.stored(tenant_id)) - set(_statuses(db, tenant_id)))
        done += index.sync(conn, tenant_id, orphans)
    return done


def check(db: Store, index: VectorIndex, tenant_id: str, *, sample: int = 50) -> VectorCheck:
    """Compare the tenant's items with the index; ``sample`` vectors are compared exactly."""
    truth = _statuses(db, tenant_id)
    held = index.stored(tenant_id)
    both = sorted(set(truth) & set(held))
    picked = sorted(random.Random(tenant_id).sample(both, min(sample, len(both))))
    return VectorCheck(
        tenant_id=tenant_id,
        store=index.name,
        items=len(truth),
        stored=len(held),
        missing=sorted(set(truth) - set(held))[:SHOWN],
        extra=sorted(set(held) - set(truth))[:SHOWN],
        status_differs=[i for i in both if truth[i] != held[i]][:SHOWN],
        sampled=len(picked),
        vectors_differ=_differing(db, index, tenant_id, picked)[:SHOWN],
    )


def _statuses(db: Store, tenant_id: str) -> dict[int, str]:
    with db.connection() as conn:
        rows = conn.execute(Q["vector_statuses"], {"tenant_id": tenant_id}).fetchall()
    return {int(r["item_id"]): r["status"] for r in rows}


def _differing(db: Store, index: VectorIndex, tenant_id: str, item_ids: list[int]) -> list[int]:
    if not item_ids:
        return []
    params = {"tenant_id": tenant_id, "item_ids": item_ids}
    with db.connection() as conn:
        rows = conn.execute(Q["item_vectors"], params).fetchall()
    truth = {int(r["item_id"]): as_array(r["embedding"]) for r in rows}
    held = index.vectors(tenant_id, item_ids)
    return [i for i in item_ids if i not in held or _cosine(truth[i], held[i]) < SAME]


def _cosine(a: object, b: object) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y) or 1.0))

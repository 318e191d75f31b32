"""Proposal vectors and the duplicate check: similar to known knowledge, or to another proposal.

A trigger cannot embed, so proposals arise without a vector; ``embed_pending`` (run by the
worker every second, safe from many workers at once) computes what is missing and links each
proposal to the item or pending proposal it repeats, when the cosine similarity reaches the
tenant's threshold (tenant setting ``duplicate_threshold``, default 0.85).
"""

from __future__ import annotations

from typing import Any

from learnloop._sql import load_queries
from learnloop.knowledge.duplicates import DEFAULT_THRESHOLD, threshold
from learnloop.knowledge.models import embedding_text
from learnloop.ports import Connection, Embedder, Store

Q = load_queries("learnloop.proposals")
__all__ = ["DEFAULT_THRESHOLD", "embed_pending", "nearest", "store_vector", "threshold"]


def embed_pending(db: Store, embedder: Embedder, *, limit: int = 100) -> int:
    """Embed up to ``limit`` proposals that have no vector yet and check them; return how many.

    Rows are claimed with FOR UPDATE SKIP LOCKED, so concurrent workers share the work.
    """
    with db.transaction() as conn:
        rows = conn.execute(Q["claim_unembedded"], {"limit": limit}).fetchall()
        if not rows:
            return 0
        vectors = embedder.embed([embedding_text(row["title"], row["body"]) for row in rows])
        thresholds: dict[str, float] = {}
        for row, vector in zip(rows, vectors, strict=True):
            tenant_id = row["tenant_id"]
            if tenant_id not in thresholds:
                thresholds[tenant_id] = threshold(conn, tenant_id)
            store_vector(conn, row, vector, thresholds[tenant_id])
    return len(rows)


def store_vector(conn: Connection, row: dict[str, Any], vector: Any, limit: float) -> None:
    """Store a proposal's vector with the nearest item or pending proposal it duplicates."""
    found = nearest(conn, row["tenant_id"], row["proposal_id"], row["item_id"], vector)
    kind, target, similarity = found if found and found[2] >= limit else (None, None, None)
    conn.execute(
        Q["set_embedding"],
        {
            "tenant_id": row["tenant_id"],
            "proposal_id": row["proposal_id"],
            "vector": vector,
            "duplicate_item_id": target if kind == "item" else None,
            "duplicate_proposal_id": target if kind == "proposal" else None,
            "similarity": similarity,
        },
    )


def nearest(
    conn: Connection, tenant_id: str, proposal_id: int, item_id: int | None, vector: Any
) -> tuple[str, int, float] | None:
    """The most similar item (the proposal's own target left out) or pending proposal.

    ``conn`` must be in a transaction: the narrower vector search is set for its rest.
    """
    params = {
        "tenant_id": tenant_id,
        "proposal_id": proposal_id,
        "item_id": item_id,
        "vector": vector,
    }
    conn.execute(Q["duplicate_search_breadth"])
    item = conn.execute(Q["nearest_item"], params).fetchone()
    other = conn.execute(Q["nearest_pending"], params).fetchone()
    found = [
        ("item", int(item["item_id"]), float(item["similarity"])) if item else None,
        ("proposal", int(other["proposal_id"]), float(other["similarity"])) if other else None,
    ]
    candidates = [f for f in found if f is not None]
    return max(candidates, key=lambda f: f[2]) if candidates else None

"""Keeping vectors in step with content: the change log (outbox), the embedding worker's
work, the index status per tenant, and the full re-embed after an embedder change.

Every insert, content change, status change and delete of an item writes a row to
``item_changes`` in the same transaction (triggers, migration 0006), and queues one
embedding job per tenant on the job queue. ``Indexer.embed_changes`` is that job: it claims
a batch of the log (``FOR UPDATE SKIP LOCKED``), embeds the items whose vector is missing or
older than their content, writes the vectors only where the content is still the one that
was embedded, counts them, and deletes the batch's log rows, all in one transaction. A
worker killed mid-batch therefore leaves the batch as it was, to be claimed again; nothing
is lost and no vector is written twice.

With an external vector index (Qdrant, ``vectors/``), the same transaction also writes the
batch's items to it (their vectors, or their absence) before the log rows go: a failed write
rolls the batch back, to be claimed again, and a write whose commit then fails is repeated,
which changes nothing (points are keyed by tenant and item).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from learnloop._sql import load_queries
from learnloop.errors import NotFound
from learnloop.knowledge.models import embedding_text
from learnloop.ports import Connection, Embedder, Store, VectorIndex

Q = load_queries("learnloop.knowledge", "indexing.sql")

IndexState = Literal["building", "ready", "error"]


class IndexStatus(BaseModel):
    """Where a tenant's index stands.

    ``state`` is ``error`` when the last embedding attempt failed (``error`` says why),
    ``building`` while some items have no vector for their current content (``pending``),
    else ``ready``.
    """

    tenant_id: str
    state: IndexState
    items: int
    pending: int
    queued_changes: int
    embedded_total: int
    last_embedded_at: datetime | None
    error: str | None
    error_at: datetime | None


class Indexer:
    """Embeds what changed, in batches, and reports the index status of each tenant."""

    def __init__(
        self,
        db: Store,
        embedder: Embedder,
        *,
        batch: int = 64,
        index: VectorIndex | None = None,
    ):
        self.db = db
        self.embedder = embedder
        self.batch = batch
        self.index = index

    def embed_changes(self, tenant_id: str, *, max_batches: int | None = None) -> int:
        """Work through a tenant's change log; return how many items got a new vector."""
        embedded = 0
        batches = 0
        try:
            while max_batches is None or batches < max_batches:
                done, claimed = self._embed_batch(tenant_id)
                embedded += done
                batches += 1
                if claimed < self.batch:
                    break
        except Exception as exc:
            with self.db.connection() as conn:
                conn.execute(Q["record_error"], {"tenant_id": tenant_id, "error": str(exc)[:2000]})
            raise
        return embedded

    def _embed_batch(self, tenant_id: str) -> tuple[int, int]:
        with self.db.transaction() as conn:
            claimed = conn.execute(
                Q["claim_changes"], {"tenant_id": tenant_id, "limit": self.batch}
            ).fetchall()
            if not claimed:
                return 0, 0
            item_ids = sorted({row["item_id"] for row in claimed})
            stale = conn.execute(
                Q["stale_items"], {"tenant_id": tenant_id, "item_ids": item_ids}
            ).fetchall()
            written = self._write(conn, tenant_id, stale)
            self._sync(conn, tenant_id, item_ids)
            change_ids = [row["change_id"] for row in claimed]
            conn.execute(Q["forget_changes"], {"tenant_id": tenant_id, "change_ids": change_ids})
            conn.execute(Q["record_embedded"], {"tenant_id": tenant_id, "embedded": written})
        return written, len(claimed)

    def _write(self, conn: Connection, tenant_id: str, rows: Sequence[dict[str, Any]]) -> int:
        if not rows:
            return 0
        vectors = self.embedder.embed([embedding_text(r["title"], r["body"]) for r in rows])
        params = {
            "tenant_id": tenant_id,
            "embedder": self.embedder.name,
            "item_ids": [r["item_id"] for r in rows],
            "hashes": [r["content_hash"] for r in rows],
            "embeddings": list(np.asarray(vectors, dtype=np.float32)),
        }
        return len(conn.execute(Q["write_vectors"], params).fetchall())

    def _sync(self, conn: Connection, tenant_id: str, item_ids: Sequence[int]) -> None:
        if self.index is not None and not self.index.in_database:
            self.index.sync(conn, tenant_id, item_ids)

    def status(self, tenant_id: str) -> IndexStatus:
        with self.db.connection() as conn:
            row = conn.execute(Q["index_status"], {"tenant_id": tenant_id}).fetchone()
        if row is None:
            raise NotFound(f"no tenant {tenant_id!r}")
        state: IndexState = "error" if row["error"] else "building" if row["pending"] else "ready"
        return IndexStatus.model_validate(row | {"state": state})

    def tenants_with_changes(self) -> list[str]:
        with self.db.connection() as conn:
            return [row["tenant_id"] for row in conn.execute(Q["tenants_with_changes"])]

    def queue_pending(self) -> list[str]:
        """Queue an embedding job for every tenant with a change log (one per tenant at most).

        The triggers queue jobs as changes commit; this is the safety net for a job that
        was lost with a crashed worker.
        """
        tenants = self.tenants_with_changes()
        if tenants:
            with self.db.connection() as conn:
                conn.execute(Q["queue_embedding"], {"tenants": tenants})
        return tenants

    def unembedded(self) -> int:
        """Items of every tenant without a vector for their current content."""
        with self.db.connection() as conn:
            row = conn.execute(Q["count_unembedded"]).fetchone()
        return int(row["n"]) if row else 0

    def reembed(
        self,
        *,
        on_batch: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> int:
        """Embed every item without a current vector, in committed batches; return the count.

        Interrupting it loses at most the batch in flight; running it again goes on from
        there. Several can run at once: each claims its batch with ``SKIP LOCKED``.
        """
        total = 0
        while not (should_stop and should_stop()):
            with self.db.transaction() as conn:
                rows = conn.execute(Q["claim_unembedded"], {"limit": self.batch}).fetchall()
                if not rows:
                    break
                done = 0
                for tenant_id in sorted({r["tenant_id"] for r in rows}):
                    mine = [r for r in rows if r["tenant_id"] == tenant_id]
                    written = self._write(conn, tenant_id, mine)
                    self._sync(conn, tenant_id, [r["item_id"] for r in mine])
                    conn.execute(
                        Q["record_embedded"], {"tenant_id": tenant_id, "embedded": written}
                    )
                    done += written
            total += done
            if on_batch:
                on_batch(len(rows))
        return total

"""pgvector: the vectors are the items' own column, written in the items' transactions.

Search ranks them inside its one SQL statement (``in_database``), so there is nothing to
sync; ``nearest`` and the read methods serve the agreement check and callers of the port.
"""

from __future__ import annotations

from collections.abc import Sequence

from learnloop._sql import load_queries
from learnloop.ports import Connection, Store, VectorFilter, Vectors, as_array

Q = load_queries("learnloop.vectors")


class PgVectorIndex:
    name = "pgvector"
    in_database = True

    def __init__(self, db: Store):
        self.db = db

    def nearest(
        self, vector: Vectors, where: VectorFilter, *, limit: int, exact: bool
    ) -> list[tuple[int, float]]:
        params = {
            "tenant_id": where.tenant_id,
            "query_vector": vector,
            "kinds": list(where.kinds) if where.kinds else None,
            "statuses": list(where.statuses),
            "tags": list(where.tags),
            "limit": limit,
        }
        with self.db.transaction() as conn:
            if exact:
                conn.execute("SET LOCAL enable_indexscan = off")
            rows = conn.execute(Q["nearest"], params, prepare=False).fetchall()
        return [(int(r["item_id"]), float(r["similarity"])) for r in rows]

    def sync(self, conn: Connection, tenant_id: str, item_ids: Sequence[int]) -> int:
        return 0  # the vectors were written with the items

    def stored(self, tenant_id: str) -> dict[int, str]:
        with self.db.connection() as conn:
            rows = conn.execute(Q["vector_statuses"], {"tenant_id": tenant_id}).fetchall()
        return {int(r["item_id"]): r["status"] for r in rows}

    def vectors(self, tenant_id: str, item_ids: Sequence[int]) -> dict[int, Vectors]:
        params = {"tenant_id": tenant_id, "item_ids": list(item_ids)}
        with self.db.connection() as conn:
            rows = conn.execute(Q["item_vectors"], params).fetchall()
        return {int(r["item_id"]): as_array(r["embedding"]) for r in rows}

    def forget_tenant(self, tenant_id: str) -> None:
        """Nothing to drop: the vectors go with the items."""

    def close(self) -> None:
        """Nothing held beyond the database's pool."""

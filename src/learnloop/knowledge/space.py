"""The embedding space: which embedder made the stored vectors, and their dimension.

Vectors of different models are never mixed: a database claimed by one embedder refuses
another until everything is re-embedded.
"""

from __future__ import annotations

from psycopg import sql

from learnloop._sql import load_queries
from learnloop.errors import EmbeddingMismatchError
from learnloop.ports import Connection, Embedder, Store

Q = load_queries("learnloop.knowledge", "space.sql")


def ensure_space(db: Store, embedder: Embedder) -> None:
    """Claim an empty database for ``embedder``, or check it is the one that claimed it."""
    with db.transaction() as conn:
        conn.execute("LOCK TABLE embedding_space IN EXCLUSIVE MODE")
        row = conn.execute(Q["get_space"]).fetchone()
        if row is None:
            _claim(conn, embedder)
            return
    if (row["embedder"], row["dimension"]) != (embedder.name, embedder.dimension):
        raise EmbeddingMismatchError(
            f"the stored vectors were made by {row['embedder']} ({row['dimension']} dimensions) "
            f"but the configured embedder is {embedder.name} ({embedder.dimension}); "
            "set LEARNLOOP_EMBEDDER back, or re-embed everything with the new one"
        )


def _claim(conn: Connection, embedder: Embedder) -> None:
    column = conn.execute(Q["column_dimension"]).fetchone()
    if column and column["dimension"] != embedder.dimension:
        vectors = conn.execute(Q["count_vectors"]).fetchone()
        if vectors and vectors["n"]:
            raise EmbeddingMismatchError(
                f"items hold {vectors['n']} vectors of {column['dimension']} dimensions "
                f"from an unknown embedder; {embedder.name} makes {embedder.dimension}"
            )
        conn.execute(Q["drop_vector_index"])
        conn.execute(
            sql.SQL(Q["set_dimension"]).format(dimension=sql.Literal(int(embedder.dimension)))
        )
        conn.execute(Q["create_vector_index"])
    conn.execute(Q["claim_space"], {"embedder": embedder.name, "dimension": embedder.dimension})

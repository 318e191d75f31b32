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


def current_space(db: Store) -> tuple[str, int] | None:
    """The embedder name and dimension the stored vectors belong to (None: not claimed yet)."""
    with db.connection() as conn:
        row = conn.execute(Q["get_space"]).fetchone()
    return None if row is None else (row["embedder"], row["dimension"])


def switch_space(db: Store, embedder: Embedder) -> int:
    """Make ``embedder`` the one the stored vectors belong to, dropping every vector of the
    previous one (the items stay; ``Indexer.reembed`` computes their new vectors).

    Returns how many vectors were dropped; 0 when ``embedder`` already owns the space.
    """
    with db.transaction() as conn:
        conn.execute("LOCK TABLE embedding_space IN EXCLUSIVE MODE")
        row = conn.execute(Q["get_space"]).fetchone()
        if row is not None and (row["embedder"], row["dimension"]) == (
            embedder.name,
            embedder.dimension,
        ):
            return 0
        dropped = conn.execute(Q["drop_vectors"]).rowcount
        conn.execute(Q["forget_space"])
        _claim(conn, embedder)
    return max(dropped, 0)


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

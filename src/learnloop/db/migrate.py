"""Numbered .sql migrations, applied in order, once, under an advisory lock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, LiteralString

import psycopg
from procrastinate.schema import SchemaManager

from learnloop._sql import load_queries

_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")
_LOCK_KEY = 0x1EA51001  # any constant; every learnloop process takes the same lock


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """Every migration shipped with the package, lowest number first."""
    folder = resources.files("learnloop.db").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def migrate(conn: psycopg.Connection[Any]) -> list[int]:
    """Apply what is missing; return the versions applied. Safe to run from many processes.

    ``conn`` must be in autocommit mode: each migration runs in a transaction of its own.
    """
    q = load_queries("learnloop.db")
    conn.execute(q["lock"], {"key": _LOCK_KEY})
    try:
        conn.execute(q["create_migrations_table"])
        _job_queue_schema(conn, q)
        done = {row[0] for row in conn.execute(q["applied"]).fetchall()}
        applied = []
        for migration in available():
            if migration.version in done:
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(q["record"], {"version": migration.version, "name": migration.name})
            applied.append(migration.version)
        return applied
    finally:
        conn.execute(q["unlock"], {"key": _LOCK_KEY})


def _job_queue_schema(conn: psycopg.Connection[Any], q: dict[str, LiteralString]) -> None:
    """The job queue's own tables (procrastinate), created once, before our migrations.

    The version is pinned in pyproject.toml; moving to another one means applying
    procrastinate's own migrations (``procrastinate schema --migrations-path``) first.
    """
    row = conn.execute(q["job_queue_present"]).fetchone()
    if row is not None and row[0]:
        return
    with conn.transaction():
        conn.execute(SchemaManager.get_schema().encode())

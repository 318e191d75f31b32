"""Databases of a test's own on the shared embedded server: made empty, or cloned from the
migrated template, and dropped after (the fixtures in conftest.py use these)."""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql

from learnloop.db import Database

TEMPLATE = "learnloop_template"
# Durability the test server does without: its data dir is a temporary one, thrown away after
# the run, so a commit need not wait for the disk (never set for a real server).
NO_DURABILITY = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def _admin(url: str) -> str:
    """The URL of the server's ``postgres`` database, where databases are made and dropped."""
    return psycopg.conninfo.make_conninfo(url, dbname="postgres")


def without_durability(url: str) -> None:
    """Turn off the settings of :data:`NO_DURABILITY` on the server of ``url`` (written to its
    data dir's postgresql.auto.conf and reloaded: none needs a restart)."""
    with psycopg.connect(_admin(url), autocommit=True) as conn:
        for name, value in NO_DURABILITY.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), value))
        conn.execute("SELECT pg_reload_conf()")


def create_database(url: str, prefix: str, template: str | None = None) -> str:
    """A new database named ``prefix`` plus a random suffix, on the server of ``url``:
    empty, or a copy of ``template``; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(_admin(url), autocommit=True) as conn:
        conn.execute(statement)
    return psycopg.conninfo.make_conninfo(url, dbname=name)


def drop_database(url: str) -> None:
    """Drop the database of ``url``, closing whatever connections are still open to it."""
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(_admin(url), autocommit=True) as conn:
        conn.execute(statement)


def build_template(url: str) -> str:
    """Make :data:`TEMPLATE` on the server of ``url`` anew and migrate it as a server does
    (``Database(url)``: check the server, apply every migration); then close it to
    connections, so that nothing changes it and ``CREATE DATABASE ... TEMPLATE`` may copy it
    (PostgreSQL refuses to copy a database that has a session open). Returns its name."""
    name = sql.Identifier(TEMPLATE)
    with psycopg.connect(_admin(url), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,)).fetchone():
            conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(name))
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        Database(psycopg.conninfo.make_conninfo(url, dbname=TEMPLATE)).close()
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(name)
        )
    return TEMPLATE

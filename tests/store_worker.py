"""A helper process for tests/test_store.py: each test drives one or more of these.

    python store_worker.py migrate URL          connect, print "ready", wait for a line on
                                                stdin, migrate, print {"applied": [...]}
    python store_worker.py hold PGDATA NOTE     start or join the embedded server, write NOTE,
                                                print what it saw, hold until a line on stdin
    python store_worker.py visit PGDATA NOTE    join (or start) the server, read every note,
                                                write NOTE, print what it saw, exit
    python store_worker.py join PGDATA          print "ready", wait for a line on stdin, start
                                                or join the server, print {"url": ...} (or
                                                {"error": ...}), hold until a line on stdin

Every result is one JSON line on stdout. Exiting normally matters: the embedded server's
handle is released by an atexit hook, and the last one stops the server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import psycopg


def _emit(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, default=str), flush=True)


def _migrate(url: str) -> None:
    from learnloop.db import migrate

    with psycopg.connect(url, autocommit=True) as conn:
        _emit({"ready": True})
        sys.stdin.readline()  # the go signal: every worker starts migrating at once
        applied = migrate(conn)
    _emit({"applied": applied})


def _join(pgdata: Path) -> None:
    from learnloop.db.embedded import embedded_url

    _emit({"ready": True})
    sys.stdin.readline()  # the go signal: every worker asks for the server at once
    try:
        url = embedded_url(pgdata)
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT current_database(), pg_postmaster_start_time()::text")
            database, started_at = row.fetchone() or (None, None)
    except Exception as exc:  # reported, not raised: the test shows every worker's outcome
        _emit({"error": f"{type(exc).__name__}: {exc}"})
    else:
        _emit({"url": url, "database": database, "started_at": started_at})
    sys.stdin.readline()  # hold the server until every worker has joined
    _emit({"released": True})


def _note(pgdata: Path, note: str) -> tuple[psycopg.Connection[Any], dict[str, Any]]:
    from learnloop.db.embedded import embedded_url

    url = embedded_url(pgdata)
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, note text NOT NULL)")
    seen = [row[0] for row in conn.execute("SELECT note FROM notes ORDER BY id").fetchall()]
    conn.execute("INSERT INTO notes (note) VALUES (%s)", (note,))
    row = conn.execute(
        "SELECT current_setting('data_directory'), pg_postmaster_start_time()::text"
    ).fetchone()
    assert row is not None
    info = {"url": url, "seen": seen, "data_directory": row[0], "started_at": row[1]}
    return conn, info


def main(argv: list[str]) -> None:
    mode, target = argv[0], argv[1]
    if mode == "migrate":
        _migrate(target)
    elif mode == "join":
        _join(Path(target))
    elif mode in ("hold", "visit"):
        conn, info = _note(Path(target), argv[2])
        _emit(info)
        if mode == "hold":
            sys.stdin.readline()  # hold the server until told to let go
        conn.close()
        if mode == "hold":
            _emit({"released": True})
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""The store on a real embedded PostgreSQL: migrations (alone and racing), the schema the
queries expect, and the embedded server shared between processes.

Helper processes run tests/store_worker.py with this interpreter, so they are real, separate
processes with their own connections and their own handle on the embedded server.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
from psycopg import sql

import learnloop
from learnloop._sql import load_queries
from learnloop.db import available, migrate
from learnloop.db.embedded import postmaster_pid, starting
from learnloop.db.migrate import Migration
from tests.databases import create_database, drop_database

# learnloop.db re-exports the function migrate, which hides the module of the same name
migrate_module = importlib.import_module("learnloop.db.migrate")
WORKER = Path(__file__).resolve().with_name("store_worker.py")
PACKAGE_DIR = Path(learnloop.__file__).resolve().parent
TIMEOUT = 60.0


# ---------------------------------------------------------------- helpers


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_json(proc: subprocess.Popen[str], timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next JSON line a worker prints, or a failure with its stderr."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"worker {proc.args!r} printed nothing (rc={proc.returncode}):\n{err}")
    result: dict[str, Any] = json.loads(line)
    return result


def _finish(proc: subprocess.Popen[str], stdin: str = "") -> dict[str, Any]:
    """Send ``stdin``, wait for the worker to exit cleanly, return its last JSON line."""
    try:
        out, err = proc.communicate(stdin, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"worker {proc.args!r} did not finish:\n{err}")
    assert proc.returncode == 0, f"worker {proc.args!r} failed (rc={proc.returncode}):\n{err}"
    lines = out.strip().splitlines()
    assert lines, f"worker {proc.args!r} printed nothing:\n{err}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def _migrations(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
    ).fetchall()


def _schema(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """What the migrations made: tables and columns, constraints, indexes, extensions."""
    return {
        "columns": conn.execute(
            "SELECT table_name, ordinal_position, column_name, data_type, is_nullable,"
            " column_default FROM information_schema.columns WHERE table_schema = 'public'"
            " ORDER BY 1, 2"
        ).fetchall(),
        "constraints": conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2"
        ).fetchall(),
        "indexes": conn.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = 'public' ORDER BY 1, 2"
        ).fetchall(),
        "extensions": conn.execute(
            "SELECT extname, extversion FROM pg_extension ORDER BY 1"
        ).fetchall(),
        # Functions, views, triggers and enums of ours and of the job queue (not those of
        # the extensions, which their versions above stand for).
        "functions": conn.execute(
            "SELECT proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)"
            " FROM pg_proc p WHERE pronamespace = 'public'::regnamespace AND prokind IN ('f', 'p')"
            " AND NOT EXISTS (SELECT 1 FROM pg_depend d"
            "   WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')"
            " ORDER BY 1, 2"
        ).fetchall(),
        "views": conn.execute(
            "SELECT relname, relkind, pg_get_viewdef(oid) FROM pg_class"
            " WHERE relnamespace = 'public'::regnamespace AND relkind IN ('v', 'm') ORDER BY 1"
        ).fetchall(),
        "triggers": conn.execute(
            "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE c.relnamespace = 'public'::regnamespace AND NOT tgisinternal ORDER BY 1, 2"
        ).fetchall(),
        "enums": conn.execute(
            "SELECT typname, enumsortorder, enumlabel FROM pg_enum e"
            " JOIN pg_type t ON t.oid = e.enumtypid"
            " WHERE typnamespace = 'public'::regnamespace ORDER BY 1, 2"
        ).fetchall(),
        # Settings a migration gave the database itself (ALTER DATABASE ... SET): a copy
        # made with CREATE DATABASE ... TEMPLATE would not have them.
        "database settings": conn.execute(
            "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
            " WHERE datname = current_database()"
        ).fetchall(),
    }


def _row_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """How many rows each table of the schema holds (what the migrations inserted)."""
    tables = conn.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        " AND relkind = 'r' ORDER BY 1"
    ).fetchall()
    count = sql.SQL("SELECT count(*) FROM {}")
    return {
        table: conn.execute(count.format(sql.Identifier(table))).fetchall()[0][0]
        for (table,) in tables
    }


@pytest.fixture(scope="module")
def scratch_url(database_url: str) -> Iterator[str]:
    """A database of this module's own, migrated from empty once, dropped at the end: the
    reference the template's clones are compared with."""
    url = create_database(database_url, "schema")
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    yield url
    drop_database(url)


# ---------------------------------------------------------------- migrations


def test_available_migrations_are_numbered_once() -> None:
    versions = [m.version for m in available()]
    assert versions, "no migrations shipped with the package"
    assert versions == sorted(set(versions)), f"duplicate or unordered versions: {versions}"
    assert all(m.sql.strip() for m in available())


def test_migrate_applies_every_migration_once_and_then_nothing(fresh_db_url: str) -> None:
    expected = [(m.version, m.name) for m in available()]
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,)

        assert migrate(conn) == [version for version, _ in expected]
        recorded = _migrations(conn)
        assert [(version, name) for version, name, _ in recorded] == expected
        schema = _schema(conn)
        assert {row[0] for row in schema["columns"]} > {"schema_migrations"}
        assert {"vector", "pg_trgm"} <= {name for name, _ in schema["extensions"]}

        assert migrate(conn) == []
        assert _migrations(conn) == recorded  # same rows, same applied_at
        assert _schema(conn) == schema
        # migrate left no advisory lock behind on this session
        locks = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        ).fetchone()
        assert locks == (0,)

    with psycopg.connect(fresh_db_url, autocommit=True) as conn:  # a later process: same
        assert migrate(conn) == []
        assert _migrations(conn) == recorded


def test_a_failing_migration_is_rolled_back_and_releases_the_lock(
    fresh_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = available()
    broken = Migration(9999, "broken", "CREATE TABLE broken_probe (x int);\nSELECT 1 / 0;\n")
    monkeypatch.setattr(migrate_module, "available", lambda: [*real, broken])
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            migrate(conn)
        # the good ones committed, each in its own transaction; the broken one left nothing
        assert [row[0] for row in _migrations(conn)] == [m.version for m in real]
        assert conn.execute("SELECT to_regclass('broken_probe')").fetchone() == (None,)
        locks = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        ).fetchone()
        assert locks == (0,), "migrate kept its advisory lock after a failure"

        monkeypatch.setattr(migrate_module, "available", lambda: real)
        assert migrate(conn) == []


def test_racing_processes_apply_each_migration_exactly_once(fresh_db_url: str) -> None:
    workers = [_spawn("migrate", fresh_db_url) for _ in range(4)]
    try:
        for worker in workers:  # every worker connected and waiting
            assert _read_json(worker) == {"ready": True}
        for worker in workers:  # then all go at once
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = [_finish(worker) for worker in workers]
    finally:
        for worker in workers:
            _kill(worker)

    expected = [m.version for m in available()]
    applied = sorted(version for result in results for version in result["applied"])
    assert applied == expected, f"migrations applied per process: {results}"
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version"
        ).fetchall()
    assert rows == [(version, 1) for version in expected]


def test_a_clone_of_the_template_is_a_database_migrated_from_scratch(
    scratch_url: str, migrated_db_url: str, template_db: str
) -> None:
    """The ``migrated_db_url`` fixture (a copy of the template, see conftest.py) gives what
    migrating an empty database gives: the same migrations recorded, the same schema, the
    same rows; and nothing can connect to the template to change what later copies get."""
    with psycopg.connect(scratch_url) as scratch, psycopg.connect(migrated_db_url) as clone:
        expected = [(m.version, m.name) for m in available()]
        assert [(version, name) for version, name, _ in _migrations(clone)] == expected
        assert [(version, name) for version, name, _ in _migrations(scratch)] == expected
        assert _schema(clone) == _schema(scratch)
        assert _row_counts(clone) == _row_counts(scratch)
    with psycopg.connect(migrated_db_url, autocommit=True) as clone:
        assert migrate(clone) == []
    template_url = psycopg.conninfo.make_conninfo(migrated_db_url, dbname=template_db)
    with pytest.raises(psycopg.OperationalError, match="not currently accepting connections"):
        psycopg.connect(template_url)


# ---------------------------------------------------------------- the schema the code expects

_PARAM = re.compile(r"%\((\w+)\)s")
_FORMAT = re.compile(r"\{(\w+)\}")
# What a {name} placeholder of a utility statement is filled with (default: the number 8).
_FILLERS: dict[str, sql.Composable] = {"partition": sql.Identifier("events_default")}
_PLANNABLE = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES", "MERGE"}
_UTILITY = {"SET", "CREATE", "DROP", "ALTER", "LOCK"}


def _query_files() -> list[tuple[str, str]]:
    """Every (package, file) of named queries shipped: each .sql outside migrations/."""
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.sql")):
        rel = path.relative_to(PACKAGE_DIR)
        if "migrations" in rel.parts:
            continue
        found.append((".".join(["learnloop", *rel.parent.parts]), rel.name))
    return found


def _all_queries() -> list[tuple[str, str]]:
    return [
        (f"{package}/{filename}:{name}", query)
        for package, filename in _query_files()
        for name, query in load_queries(package, filename).items()
    ]


def _keyword(query: str) -> str:
    lines = [line for line in query.splitlines() if not line.lstrip().startswith("--")]
    return " ".join(lines).split()[0].upper()


def _positional(query: str) -> str:
    """``%(name)s`` placeholders as ``$n``, the same name getting the same number."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    return _PARAM.sub(number, query).rstrip().rstrip(";")


def _check_query(conn: psycopg.Connection[Any], query: str) -> None:
    """Fail unless ``query`` parses, resolves every name, and plans against this schema.

    Queries are PREPAREd (parse analysis: tables, columns, functions, parameter types) and
    EXPLAINed as a generic plan (planning: e.g. ON CONFLICT must match a unique index);
    statements that cannot be prepared (SET, DDL) run in a transaction that is rolled back.
    """
    keyword = _keyword(query)
    if keyword in _PLANNABLE:
        text = _positional(query)
        conn.execute(f"PREPARE learnloop_check AS {text}".encode())
        try:
            conn.execute(f"EXPLAIN (GENERIC_PLAN) {text}".encode())
        finally:
            conn.execute(b"DEALLOCATE learnloop_check")
    elif keyword in _UTILITY:
        assert not _PARAM.search(query), "utility statements cannot take parameters"
        fillers = {name: _FILLERS.get(name, sql.Literal(8)) for name in _FORMAT.findall(query)}
        statement = sql.SQL(query).format(**fillers) if fillers else sql.SQL(query)
        with conn.transaction(force_rollback=True):
            conn.execute(statement)
    else:
        pytest.fail(f"unknown kind of statement {keyword}; teach _check_query about it")


def test_every_query_file_is_found() -> None:
    files = set(_query_files())
    assert {
        ("learnloop.db", "queries.sql"),
        ("learnloop.knowledge", "queries.sql"),
        ("learnloop.knowledge", "space.sql"),
        ("learnloop.tenants", "queries.sql"),
    } <= files


def test_every_query_the_code_names_exists() -> None:
    """A ``Q["name"]`` (or ``_one(conn, "name")``) naming no query is a KeyError at run time."""
    names = {query_id.rsplit(":", 1)[1] for query_id, _ in _all_queries()}
    used = re.compile(r"""\b[Qq]\[["'](\w+)["']\]|\b_(?:one|run)\(conn, ["'](\w+)["']""")
    missing = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for match in used.finditer(path.read_text("utf-8")):
            name = match[1] or match[2]
            if name not in names:
                missing.append(f"{path.relative_to(PACKAGE_DIR)}: {name}")
    assert not missing, f"queries used but defined in no .sql file: {missing}"


@pytest.mark.parametrize(
    "query", [pytest.param(query, id=query_id) for query_id, query in _all_queries()]
)
def test_query_matches_the_migrated_schema(scratch_url: str, query: str) -> None:
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        _check_query(conn, query)


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (
            "SELECT no_such_column FROM items WHERE tenant_id = %(t)s",
            psycopg.errors.UndefinedColumn,
        ),
        ("SELECT 1 FROM no_such_table WHERE tenant_id = %(t)s", psycopg.errors.UndefinedTable),
        (
            "UPDATE items SET no_such_column = %(v)s WHERE tenant_id = %(t)s",
            psycopg.errors.UndefinedColumn,
        ),
        (  # parses, but no unique index matches: only planning finds it
            "INSERT INTO embedding_space (embedder, dimension) VALUES (%(e)s, %(d)s)"
            " ON CONFLICT (embedder) DO NOTHING",
            psycopg.errors.InvalidColumnReference,
        ),
        (
            "ALTER TABLE items ALTER COLUMN no_such_column TYPE vector({dimension})",
            psycopg.errors.UndefinedColumn,
        ),
        ("DROP INDEX no_such_index", psycopg.errors.UndefinedObject),
    ],
)
def test_the_query_check_catches_a_wrong_schema(
    scratch_url: str, query: str, error: type[Exception]
) -> None:
    with psycopg.connect(scratch_url, autocommit=True) as conn, pytest.raises(error):
        _check_query(conn, query)


def test_the_vector_index_the_code_rebuilds_is_the_one_migrations_made(scratch_url: str) -> None:
    """space.sql drops and recreates the vector index by name; a renamed index would be kept
    (DROP ... IF EXISTS) and a second one built beside it."""
    q = load_queries("learnloop.knowledge", "space.sql")
    count_hnsw = (
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'items'"
        " AND indexdef LIKE '%USING hnsw%'"
    )
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        assert conn.execute(count_hnsw).fetchone() == (1,)
        with conn.transaction(force_rollback=True):
            conn.execute(q["drop_vector_index"])
            assert conn.execute(count_hnsw).fetchone() == (0,)
            conn.execute(q["create_vector_index"])
            assert conn.execute(count_hnsw).fetchone() == (1,)
        row = conn.execute(q["column_dimension"]).fetchone()
        assert row is not None and row[0] > 0, "items.embedding is not a vector(n) column"


def test_every_tenant_table_keys_on_tenant_id_first(scratch_url: str) -> None:
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        rows = conn.execute(
            """
            SELECT c.relname, a.attname
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
            LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            ORDER BY c.relname
            """
        ).fetchall()
    first_key: dict[str, str | None] = {table: column for table, column in rows}
    assert {"tenants", "api_keys", "items", "item_versions"} <= set(first_key)
    wrong = {
        table: column
        for table, column in first_key.items()
        if table not in ("schema_migrations", "embedding_space")
        # the job queue's own tables (procrastinate): jobs name their tenant in their args
        and not table.startswith("procrastinate_")
        and column != "tenant_id"
    }
    assert not wrong, f"primary keys not starting with tenant_id (None: no primary key): {wrong}"


# ---------------------------------------------------------------- the embedded server


def _server_running(pgdata: Path) -> bool:
    """Whether a live PostgreSQL process holds ``pgdata`` (a clean stop removes
    postmaster.pid): a file still being written counts as one starting."""
    pid = postmaster_pid(pgdata)
    if pid is None:
        return (pgdata / "postmaster.pid").exists()
    try:  # negative: a single-user backend
        return bool(psutil.Process(abs(pid)).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _stop_leftover(pgdata: Path) -> None:
    """After a failed test: stop the postmaster this test started, if it still runs."""
    pid = postmaster_pid(pgdata)
    if pid is not None and _server_running(pgdata):
        process = psutil.Process(abs(pid))
        process.terminate()
        process.wait(10)


def _postmaster_file(pgdata: Path, pid: int, status: str, lines: int = 8) -> None:
    fields = [str(pid), str(pgdata), "1712346200", "5432", "/tmp", "", "0 0", status]
    pgdata.mkdir(parents=True, exist_ok=True)
    (pgdata / "postmaster.pid").write_text("".join(f"{f}\n" for f in fields[:lines]))


def test_a_postmaster_pid_file_is_read_in_every_state_postgresql_leaves_it(
    tmp_path: Path,
) -> None:
    """pgserver fails reading postmaster.pid while it is written, or while a single-user
    backend holds the data dir; a start waits out those states and no others."""
    pgdata = tmp_path / "pgdata"
    assert (postmaster_pid(pgdata), starting(pgdata)) == (None, False)  # no server
    pgdata.mkdir()
    (pgdata / "postmaster.pid").write_text("")  # created, nothing written yet
    assert (postmaster_pid(pgdata), starting(pgdata)) == (None, True)
    (pgdata / "postmaster.pid").write_text(str(os.getpid()))  # the first line half written
    assert (postmaster_pid(pgdata), starting(pgdata)) == (None, True)
    _postmaster_file(pgdata, -os.getpid(), "", lines=7)  # a single-user backend (initdb)
    assert (postmaster_pid(pgdata), starting(pgdata)) == (-os.getpid(), True)
    _postmaster_file(pgdata, os.getpid(), "starting")
    assert (postmaster_pid(pgdata), starting(pgdata)) == (os.getpid(), True)
    _postmaster_file(pgdata, os.getpid(), "ready")
    assert (postmaster_pid(pgdata), starting(pgdata)) == (os.getpid(), False)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _postmaster_file(pgdata, gone.pid, "starting")  # stale: its process is gone
    assert starting(pgdata) is False


@pytest.fixture
def pgdata() -> Iterator[Path]:
    """A data dir of this test's own server, outside pytest's temp root: the server runs as
    another user when tests run as root, and a concurrent pytest resets that root to 0700."""
    path = Path(tempfile.mkdtemp(prefix="learnloop-store-"))
    yield path / "pgdata"
    _stop_leftover(path / "pgdata")
    shutil.rmtree(path, ignore_errors=True)


def test_embedded_server_is_shared_and_stops_with_its_last_process(pgdata: Path) -> None:
    holder = _spawn("hold", str(pgdata), "from the holder")
    try:
        held = _read_json(holder)
        assert held["seen"] == []
        assert Path(held["data_directory"]) == pgdata.resolve()
        assert _server_running(pgdata)

        visitor = _finish(_spawn("visit", str(pgdata), "from the visitor"))
        assert visitor["url"] == held["url"]
        assert visitor["started_at"] == held["started_at"], "a second server was started"
        assert visitor["seen"] == ["from the holder"]

        # the visitor has exited; the holder still holds the server
        assert _server_running(pgdata), "the visitor's exit stopped the holder's server"
        with psycopg.connect(held["url"], autocommit=True) as conn:
            notes = conn.execute("SELECT note FROM notes ORDER BY id").fetchall()
        assert notes == [("from the holder",), ("from the visitor",)]

        assert _finish(holder, "let go\n") == {"released": True}
    finally:
        _kill(holder)
    assert not _server_running(pgdata), "the server outlived every process using it"

    later = _finish(_spawn("visit", str(pgdata), "from a later run"))
    assert later["seen"] == ["from the holder", "from the visitor"]
    assert later["started_at"] != held["started_at"]
    assert not _server_running(pgdata)


def test_processes_starting_a_new_embedded_server_at_once_all_share_it(pgdata: Path) -> None:
    workers = [_spawn("join", str(pgdata)) for _ in range(4)]
    try:
        for worker in workers:
            assert _read_json(worker) == {"ready": True}
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        joined = [_read_json(worker) for worker in workers]  # each now holds the server
        for worker in workers:
            assert _finish(worker, "let go\n") == {"released": True}
    finally:
        for worker in workers:
            _kill(worker)
    errors = [result["error"] for result in joined if "error" in result]
    assert not errors, f"embedded_url failed in {len(errors)} of 4 processes: {errors}"
    assert {result["database"] for result in joined} == {"learnloop"}
    assert len({result["url"] for result in joined}) == 1
    assert len({result["started_at"] for result in joined}) == 1, "more than one server started"
    assert not _server_running(pgdata), "the server outlived every process using it"


def test_concurrent_first_events_of_a_month_share_one_partition(migrated_db_url: str) -> None:
    """Several transactions create the same month's partition at once: none fails."""
    months = [f"2031-{m:02d}-15" for m in range(1, 7)]
    errors: list[BaseException] = []
    names: list[str] = []

    def create(month: str, barrier: threading.Barrier) -> None:
        try:
            with psycopg.connect(migrated_db_url) as conn:
                barrier.wait()
                row = conn.execute("SELECT learnloop_event_partition(%s)", (month,)).fetchone()
                assert row is not None
                names.append(row[0])
                conn.commit()
        except BaseException as exc:
            errors.append(exc)

    for month in months:
        barrier = threading.Barrier(6)
        threads = [threading.Thread(target=create, args=(month, barrier)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert sorted(set(names)) == [f"events_2031_{m:02d}" for m in range(1, 7)]

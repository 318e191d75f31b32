"""The server recovers by itself when PostgreSQL restarts (issue 19): while the database is
down a request answers 503 quickly, naming the cause; once it is back, /health and the API
answer again without a restart of the server.

The test runs its own embedded PostgreSQL in a data dir of its own, so stopping it touches no
other test's (or person's) server.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pgserver._commands import pg_ctl

from learnloop.api import create_app
from learnloop.db.embedded import _server, embedded_url
from learnloop.embedders import LocalEmbedder
from learnloop.service import LearnLoop
from learnloop.settings import Settings


@pytest.fixture
def own_server() -> Iterator[tuple[Any, str]]:
    """An embedded PostgreSQL of this test alone, and the URL of its learnloop database."""
    root = Path(tempfile.mkdtemp(prefix="learnloop-restart-"))
    pgdata = root / "pgdata"
    url = embedded_url(pgdata)
    server = _server(pgdata)
    yield server, url
    server._cleanup()
    shutil.rmtree(root, ignore_errors=True)


def _stop(server: Any) -> None:
    """Stop PostgreSQL the hard way (as a crash or ``kill -9`` would)."""
    pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata, user=server.system_user)


def _start(server: Any) -> None:
    with server._lock:
        server.ensure_postgres_running()


def _timed(client: TestClient, path: str) -> tuple[int, float, dict[str, Any]]:
    start = time.monotonic()
    answer = client.get(path)
    return answer.status_code, time.monotonic() - start, answer.json()


def test_requests_answer_503_while_postgres_is_down_and_the_server_recovers(
    own_server: tuple[Any, str], embedder: LocalEmbedder, tmp_path: Path
) -> None:
    server, url = own_server
    settings = Settings(data_dir=tmp_path, database_url=url, pool_timeout_seconds=3.0)
    ll = LearnLoop.open(settings, embedder)
    try:
        tenant = ll.tenants.create("restart").tenant_id
        key = ll.keys.create(tenant, "test").key
        with TestClient(create_app(ll)) as client:
            client.headers["Authorization"] = f"Bearer {key}"
            assert client.get("/health").status_code == 200
            assert client.get("/v1/items").status_code == 200

            _stop(server)
            for path in ("/health", "/v1/items", "/health"):
                status, took, body = _timed(client, path)
                assert status == 503, body
                assert body["error"]["code"] == "database_unavailable"
                assert took < 5.0, (path, took)  # at most the pool timeout, not a hang
            assert "cannot be reached" in body["error"]["message"]
            assert (body["status"], body["database"]) == ("down", "down")  # /health's last
            status, took, _ = _timed(client, "/health")
            assert status == 503 and took < 2.0  # known down: no more queueing

            _start(server)
            back = time.monotonic()
            while client.get("/health").status_code != 200:
                assert time.monotonic() - back < 10, "the server did not recover"
                time.sleep(0.2)
            assert client.get("/health").json()["database"] == "ok"
            assert client.get("/v1/items").status_code == 200
            made = client.post("/v1/items", json={"kind": "faq", "title": "After", "body": "x"})
            assert made.status_code == 201, made.text

            _stop(server)  # a quick restart, with no request in between
            _start(server)
            status, took, body = _timed(client, "/health")
            assert (status, took < 2.0) == (200, True), (body, took)
    finally:
        ll.close()

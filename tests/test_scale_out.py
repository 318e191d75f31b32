"""Two API servers and two workers on one database, as separate processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from learnloop import LearnLoop
from learnloop.embedders import LocalEmbedder
from learnloop.settings import Settings
from tests.test_learn_stats import ITEMS, QUESTION
from tests.test_learn_stats_tenants import assert_counted_once, pending

LEARNLOOP = str(Path(sys.executable).parent / "learnloop")
RECOMMENDS = 12  # per tenant, through the two servers in turn


@pytest.fixture
def own(migrated_db_url: str, settings: Settings, embedder: LocalEmbedder) -> Iterator[LearnLoop]:
    with LearnLoop.open(
        settings.model_copy(update={"database_url": migrated_db_url}), embedder
    ) as ll:
        yield ll


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(args: list[str], url: str, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {"DATABASE_URL": url, "LEARNLOOP_EMBED_QUERY_THREADS": "1"}
    with log.open("wb") as out:
        return subprocess.Popen([LEARNLOOP, *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _burst(servers: list[str], key: str) -> list[int]:
    """Recommends, single events and a batch, through both servers at once; the statuses."""
    headers = {"Authorization": f"Bearer {key}"}
    clients = [httpx.Client(base_url=b, headers=headers, timeout=60) for b in servers]

    def one(n: int) -> list[int]:
        client = clients[n % 2]
        shown = client.post("/v1/recommend", json={"query": QUESTION, "k": 3})
        body = shown.json()
        clicks = [
            {
                "type": "clicked",
                "impression_id": body["impression_id"],
                "item_id": r["item"]["item_id"],
            }
            for r in body["recommendations"]
        ]
        statuses = [shown.status_code]
        other = clients[(n + 1) % 2]  # the events go through the other server
        statuses += [other.post("/v1/events", json=clicks[0]).status_code]
        statuses += [other.post("/v1/events", json={"events": clicks[1:]}).status_code]
        added = client.post("/v1/items", json={"kind": "faq", "title": f"Added {n}"})
        return [*statuses, added.status_code]

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for found in pool.map(one, range(RECOMMENDS)) for s in found]
    for client in clients:
        client.close()
    return statuses


def test_two_servers_and_two_workers_share_one_database(
    own: LearnLoop, migrated_db_url: str, tmp_path: Path
) -> None:
    ports = [_port(), _port()]
    servers = [f"http://127.0.0.1:{p}" for p in ports]
    # Two servers and two workers in three processes (one model load fewer): the first
    # server runs a worker in its own event loop (--worker), the other worker runs alone.
    procs = [
        _start(
            ["serve", "--port", str(ports[0]), "--no-access-log", "--worker"],
            migrated_db_url,
            tmp_path / "serve-a.log",
        ),
        _start(
            ["serve", "--port", str(ports[1]), "--no-access-log"],
            migrated_db_url,
            tmp_path / "serve-b.log",
        ),
        _start(["worker"], migrated_db_url, tmp_path / "worker.log"),
    ]
    tenants = [own.tenants.create(f"scale-{n}").tenant_id for n in range(2)]
    keys = {}
    for tenant in tenants:
        own.items.put_many(tenant, ITEMS)
        own.recommender.set_threshold(tenant, 0.0)
        keys[tenant] = own.keys.create(tenant, "scale").key
    try:
        _wait(lambda: all(_up(b) for b in servers), 180, "the two servers")
        with ThreadPoolExecutor(2) as pool:
            statuses = list(pool.map(lambda t: _burst(servers, keys[t]), tenants))
        assert {s for found in statuses for s in found} <= {200, 201}, statuses

        def settled() -> bool:
            return all(
                pending(own, t) == 0 and own.indexer.status(t).state == "ready" for t in tenants
            )

        _wait(settled, 120, "the workers to count the events and embed the new items")
        for tenant in tenants:
            assert_counted_once(own, tenant)  # every event counted once, by one of the workers
            status = own.indexer.status(tenant)  # every change log job done
            assert (status.items, status.pending, status.queued_changes) == (
                len(ITEMS) + RECOMMENDS,
                0,
                0,
            )
        # The dashboard's figures: the same from either server.
        for tenant in tenants:
            headers = {"Authorization": f"Bearer {keys[tenant]}"}
            refresh = httpx.post(servers[0] + "/v1/analytics/refresh", headers=headers)
            assert refresh.status_code == 200
            seen = [
                [httpx.get(b + path, headers=headers, timeout=30).json() for b in servers]
                for path in ("/v1/analytics/metrics", "/v1/analytics/funnel")
            ]
            for first, second in seen:
                assert first == second
            assert seen[0][0]["totals"]["counts"]["impressions"] == RECOMMENDS
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    logs = " ".join(p.read_text(errors="replace") for p in tmp_path.iterdir())
    assert "deadlock detected" not in logs and "Traceback" not in logs, logs[-3000:]

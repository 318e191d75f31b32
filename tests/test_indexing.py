"""The change log (outbox), the embedding worker, the index status and the re-embed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from learnloop.embedders import LocalEmbedder
from learnloop.errors import EmbeddingMismatchError
from learnloop.knowledge.models import embedding_text
from learnloop.knowledge.space import current_space, switch_space
from learnloop.service import LearnLoop
from learnloop.settings import Settings

LEARNLOOP = str(Path(sys.executable).with_name("learnloop"))


def _changes(ll: LearnLoop, tenant: str) -> list[tuple[int, str]]:
    with ll.db.connection() as conn:
        rows = conn.execute(
            "SELECT item_id, op FROM item_changes WHERE tenant_id = %s ORDER BY change_id",
            (tenant,),
        ).fetchall()
    return [(row["item_id"], row["op"]) for row in rows]


def _queued_jobs(ll: LearnLoop, tenant: str) -> int:
    with ll.db.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'todo' "
            "AND task_name = 'learnloop.embed_changes' AND args->>'tenant_id' = %s",
            (tenant,),
        ).fetchone()
    assert row is not None
    return int(row["n"])


def test_every_change_is_logged_with_it_and_queues_one_job(ll: LearnLoop, tenant: str) -> None:
    ((item, _),) = ll.items.put_many(tenant, [{"kind": "faq", "title": "Reset a password"}])
    ll.items.update(tenant, item.item_id, {"body": "Use the link on the sign-in page."})
    ll.items.archive(tenant, item.item_id)
    ll.items.update(tenant, item.item_id, {"status": "active"})
    ll.items.delete(tenant, item.item_id)
    assert _changes(ll, tenant) == [
        (item.item_id, "insert"),
        (item.item_id, "update"),
        (item.item_id, "status"),
        (item.item_id, "status"),
        (item.item_id, "delete"),
    ]
    assert _queued_jobs(ll, tenant) == 1  # one waiting job per tenant, however many changes


def test_a_rolled_back_write_leaves_no_change_and_no_item(ll: LearnLoop, tenant: str) -> None:
    with pytest.raises(RuntimeError), ll.db.transaction() as conn:
        ll.items.put_many(tenant, [{"kind": "faq", "title": "Half written"}], conn=conn)
        raise RuntimeError("the import failed after the items")
    assert ll.items.list(tenant)[0] == []
    assert _changes(ll, tenant) == []


def test_unembedded_items_are_found_by_keywords_then_embedded_by_the_log(
    ll: LearnLoop, tenant: str
) -> None:
    rows = [
        {
            "kind": "runbook",
            "external_id": f"rb-{n}",
            "title": f"Rotate the quartz key {n}",
            "body": "Steps to rotate the signing key of the quartz service.",
        }
        for n in range(5)
    ]
    ll.items.put_many(tenant, rows, embed=False)
    status = ll.indexer.status(tenant)
    assert (status.state, status.items, status.pending, status.queued_changes) == (
        "building",
        5,
        5,
        5,
    )
    hits = ll.search.search(tenant, "quartz", k=10)
    assert len(hits) == 5 and all(hit.similarity is None for hit in hits)

    assert ll.indexer.embed_changes(tenant) == 5
    status = ll.indexer.status(tenant)
    assert (status.state, status.pending, status.queued_changes, status.embedded_total) == (
        "ready",
        0,
        0,
        5,
    )
    hits = ll.search.search(tenant, "how do I change the signing key", k=10)
    assert len(hits) == 5 and all(hit.similarity is not None for hit in hits)
    # Nothing changed: a second pass embeds nothing.
    assert ll.indexer.embed_changes(tenant) == 0


def test_the_vector_is_of_the_latest_content(ll: LearnLoop, tenant: str) -> None:
    first = {"kind": "faq", "external_id": "f", "title": "Opening hours", "body": "9 to 5."}
    ll.items.put_many(tenant, [first], embed=False)
    latest = first | {"body": "Open around the clock, every day of the year."}
    ((item, outcome),) = ll.items.put_many(tenant, [latest], embed=False)
    assert outcome == "updated"
    assert ll.indexer.embed_changes(tenant) == 1
    with ll.db.connection() as conn:
        row = conn.execute(
            "SELECT embedding, embedded_hash, content_hash FROM items "
            "WHERE tenant_id = %s AND item_id = %s",
            (tenant, item.item_id),
        ).fetchone()
    assert row is not None and row["embedded_hash"] == row["content_hash"]
    expected = ll.embedder.embed([embedding_text(latest["title"], latest["body"])])[0]
    assert float(np.dot(row["embedding"].to_numpy(), expected)) > 0.999


def test_an_updated_item_keeps_its_old_vector_until_the_new_one(ll: LearnLoop, tenant: str) -> None:
    ((item, _),) = ll.items.put_many(
        tenant, [{"kind": "faq", "external_id": "k", "title": "Parking", "body": "Level 2."}]
    )
    ll.items.put_many(
        tenant,
        [{"kind": "faq", "external_id": "k", "title": "Parking", "body": "Level 3, by the lifts."}],
        embed=False,
    )
    hits = ll.search.search(tenant, "where can I park my car", k=3)
    assert hits and hits[0].item.item_id == item.item_id and hits[0].similarity is not None
    assert ll.indexer.status(tenant).state == "building"


def test_a_failing_embedder_sets_the_error_state(ll: LearnLoop, tenant: str) -> None:
    class Broken(LocalEmbedder):
        def embed(self, texts: object) -> np.ndarray:  # type: ignore[override]
            raise RuntimeError("the model server is down")

    ll.items.put_many(tenant, [{"kind": "faq", "title": "Refunds"}], embed=False)
    broken = type(ll.indexer)(ll.db, Broken.__new__(Broken))
    broken.embedder.name = ll.embedder.name  # type: ignore[misc]
    with pytest.raises(RuntimeError):
        broken.embed_changes(tenant)
    status = ll.indexer.status(tenant)
    assert status.state == "error" and status.error == "the model server is down"
    assert status.queued_changes == 1  # the work is still there
    ll.indexer.embed_changes(tenant)
    assert ll.indexer.status(tenant).state == "ready"


@pytest.fixture
def fresh(migrated_db_url: str, settings: Settings, embedder: LocalEmbedder) -> Iterator[LearnLoop]:
    """A LearnLoop on a database of its own: the worker's jobs there are this test's alone."""
    own = settings.model_copy(update={"database_url": migrated_db_url})
    with LearnLoop.open(own, embedder) as ll:
        yield ll


def _worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        "DATABASE_URL": url,
        "LEARNLOOP_WORKER_STALLED_SECONDS": "2",
        "LEARNLOOP_EMBED_BATCH": "50",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [LEARNLOOP, "worker"], env=os.environ | env, stdout=out, stderr=subprocess.STDOUT
        )


def _wait(predicate: object, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - start < timeout, f"timed out waiting for {what}"
        time.sleep(0.02)
    return time.monotonic() - start


def _locked_changes(url: str, tenant: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        total = conn.execute(
            "SELECT count(*) FROM item_changes WHERE tenant_id = %s", (tenant,)
        ).fetchone()
        free = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM item_changes WHERE tenant_id = %s "
            "FOR UPDATE SKIP LOCKED) AS f",
            (tenant,),
        ).fetchone()
    assert total is not None and free is not None
    return int(total[0]) - int(free[0])


def test_the_worker_embeds_within_seconds_and_a_killed_one_loses_nothing(
    fresh: LearnLoop, migrated_db_url: str, tmp_path: Path
) -> None:
    tenant = fresh.tenants.create("w").tenant_id
    log = tmp_path / "worker.log"
    worker = _worker(migrated_db_url, log)
    try:
        # Commit to searchable: the worker wakes on the queued job.
        fresh.items.put_many(tenant, [{"kind": "faq", "title": "Warm-up"}], embed=False)
        _wait(lambda: fresh.indexer.status(tenant).state == "ready", 90, "the worker to start")
        fresh.items.put_many(tenant, [{"kind": "faq", "title": "Lost badge"}], embed=False)
        took = _wait(lambda: fresh.indexer.status(tenant).state == "ready", 10, "one item")
        assert took < 5

        # Killed in the middle of a batch.
        body = " ".join(["the quartz service rotates its signing keys every night"] * 30)
        rows = [
            {"kind": "runbook", "title": f"Runbook {n}", "body": f"{n} {body}"} for n in range(150)
        ]
        fresh.items.put_many(tenant, rows, embed=False)
        _wait(lambda: _locked_changes(migrated_db_url, tenant) > 0, 30, "a batch in flight")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        status = fresh.indexer.status(tenant)
        assert status.pending > 0 and status.items == 152
        # Everything committed so far is counted once; the batch in flight left no trace.
        assert status.embedded_total == 152 - status.pending, log.read_text()

        worker = _worker(migrated_db_url, log)
        _wait(lambda: fresh.indexer.status(tenant).state == "ready", 120, "the restarted worker")
        status = fresh.indexer.status(tenant)
        assert (status.pending, status.queued_changes, status.embedded_total) == (0, 0, 152)

        # The periodic work runs too: an urgent correction is approved at once, the worker
        # applies it as an item, and embeds that item.
        fresh.feedback.correct(
            tenant,
            {
                "query": "How do I rotate the quartz keys?",
                "priority": "urgent",
                "original_response": "You cannot.",
                "corrected_answer": "Run quartz rotate-keys.",
            },
        )

        def corrected() -> bool:
            found, _ = fresh.items.list(tenant, kinds=["correction"])
            return bool(found) and fresh.indexer.status(tenant).state == "ready"

        _wait(corrected, 30, "the correction applied and embedded by the worker")
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def test_reembed_switches_the_embedder_and_resumes(
    fresh: LearnLoop, migrated_db_url: str, settings: Settings
) -> None:
    tenant = fresh.tenants.create("r").tenant_id
    fresh.items.put_many(tenant, [{"kind": "faq", "title": f"Question {n}"} for n in range(30)])

    class Other(LocalEmbedder):
        pass

    other = Other.__new__(Other)
    other.__dict__ |= fresh.embedder.__dict__
    other.name = "other-model"
    with pytest.raises(EmbeddingMismatchError):
        LearnLoop.open(settings.model_copy(update={"database_url": migrated_db_url}), other)
    assert switch_space(fresh.db, other) == 30
    assert current_space(fresh.db) == ("other-model", fresh.embedder.dimension)
    indexer = type(fresh.indexer)(fresh.db, other, batch=8)
    # Interrupted after the first batch ...
    assert indexer.reembed(should_stop=lambda: fresh.indexer.unembedded() < 30) == 8
    assert fresh.indexer.unembedded() == 22
    # ... and run again: it goes on from there.
    progress: list[int] = []
    assert indexer.reembed(on_batch=progress.append) == 22
    assert progress == [8, 8, 6] and fresh.indexer.unembedded() == 0
    with fresh.db.connection() as conn:
        row = conn.execute("SELECT array_agg(DISTINCT embedder) AS e FROM items").fetchone()
    assert row is not None and row["e"] == ["other-model"]


def test_the_index_status_over_http(api: object, ll: LearnLoop) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(api, TestClient)
    created = api.post("/v1/items", json={"kind": "faq", "title": "Where is the office"})
    assert created.status_code == 201
    answer = api.get("/v1/index/status")
    assert answer.status_code == 200
    body = answer.json()
    assert body["state"] == "ready" and body["items"] == 1 and body["pending"] == 0
    assert body["queued_changes"] == 1  # the change log waits for a worker
    assert api.get("/v1/index/status", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_serve_with_the_worker_embeds_in_the_same_process(fresh: LearnLoop) -> None:
    from fastapi.testclient import TestClient

    from learnloop.api import create_app

    tenant = fresh.tenants.create("s").tenant_id
    with TestClient(create_app(fresh, worker=True)):
        fresh.items.put_many(tenant, [{"kind": "faq", "title": "Lost badge"}], embed=False)
        _wait(lambda: fresh.indexer.status(tenant).state == "ready", 30, "the in-process worker")
    assert fresh.indexer.status(tenant).embedded_total == 1

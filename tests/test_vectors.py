"""The Qdrant vector store (qdrant-client's local mode): kept in step through the change log,
searched with the keyword side fused in PostgreSQL, re-synced and checked against the items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from typer.testing import CliRunner

from learnloop import EmbeddingMismatchError, LearnLoop, VectorStoreError
from learnloop.cli.main import app
from learnloop.knowledge import Search
from learnloop.knowledge.indexing import Indexer
from learnloop.ports import VectorFilter, as_array
from learnloop.settings import Settings
from learnloop.vectors import check, make_vector_index, resync
from learnloop.vectors.qdrant import QdrantIndex, point_id

FAQS = [
    ("Reset a password", "Settings > Security > Reset password", ["account"]),
    ("Change the invoice address", "Billing > Details > Address", ["billing"]),
    ("Export my data", "Settings > Privacy > Export", ["account"]),
    ("Cancel a subscription", "Billing > Plan > Cancel", ["billing"]),
    ("Two-factor authentication", "Settings > Security > 2FA", ["account"]),
]


@pytest.fixture
def qdrant(ll: LearnLoop) -> Iterator[QdrantIndex]:
    index = QdrantIndex(
        QdrantClient(location=":memory:"), "items", ll.embedder.dimension, local=True
    )
    yield index
    index.close()


def put_faqs(ll: LearnLoop, tenant: str) -> dict[str, int]:
    rows = [
        {"kind": "faq", "title": t, "body": b, "tags": tags, "external_id": t}
        for t, b, tags in FAQS
    ]
    ll.items.put_many(tenant, rows)
    items, _ = ll.items.list(tenant, limit=100)
    return {item.title: item.item_id for item in items}


def test_the_change_log_keeps_qdrant_in_step(
    ll: LearnLoop, tenant: str, qdrant: QdrantIndex
) -> None:
    ids = put_faqs(ll, tenant)
    indexer = Indexer(ll.db, ll.embedder, index=qdrant)
    assert qdrant.stored(tenant) == {}  # nothing reaches Qdrant before the worker's batch
    indexer.embed_changes(tenant)
    assert qdrant.stored(tenant) == {item_id: "active" for item_id in ids.values()}

    ll.items.archive(tenant, ids["Export my data"])
    ll.items.delete(tenant, ids["Cancel a subscription"])
    ll.items.update(tenant, ids["Reset a password"], {"body": "Profile > Password > Forgot"})
    indexer.embed_changes(tenant)

    stored = qdrant.stored(tenant)
    assert ids["Cancel a subscription"] not in stored
    assert stored[ids["Export my data"]] == "archived"
    report = check(ll.db, qdrant, tenant, sample=10)
    assert report.agree, report
    assert (report.items, report.stored, report.sampled) == (4, 4, 4)
    with ll.db.connection() as conn:
        row = conn.execute(
            "SELECT embedding FROM items WHERE tenant_id = %s AND item_id = %s",
            (tenant, ids["Reset a password"]),
        ).fetchone()
    assert row is not None
    held = qdrant.vectors(tenant, [ids["Reset a password"]])[ids["Reset a password"]]
    assert float(as_array(row["embedding"]) @ held) > 0.9999


def test_hybrid_search_on_qdrant_ranks_as_on_pgvector(
    ll: LearnLoop, tenant: str, qdrant: QdrantIndex
) -> None:
    put_faqs(ll, tenant)
    resync(ll.db, qdrant, tenant)
    on_qdrant = Search(ll.db, ll.embedder, index=qdrant)
    for query, tags in [("I forgot my password", []), ("billing address", ["billing"])]:
        a = ll.search.search(tenant, query, k=5, tags=tags)
        b = on_qdrant.search(tenant, query, k=5, tags=tags)
        assert [h.item.item_id for h in a] == [h.item.item_id for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-6)
        assert [h.semantic_rank for h in a] == [h.semantic_rank for h in b]
        assert any(h.keyword_score for h in b)  # the keyword side is fused in
    assert {h.item.tags[0] for h in b} == {"billing"}


def test_a_stale_index_never_shows_what_the_items_hide(
    ll: LearnLoop, tenant: str, qdrant: QdrantIndex
) -> None:
    ids = put_faqs(ll, tenant)
    resync(ll.db, qdrant, tenant)
    ll.items.archive(tenant, ids["Reset a password"])  # not synced yet
    hits = Search(ll.db, ll.embedder, index=qdrant).search(tenant, "reset my password", k=5)
    assert ids["Reset a password"] not in {h.item.item_id for h in hits}
    assert len(hits) == 4
    report = check(ll.db, qdrant, tenant)
    assert report.status_differs == [ids["Reset a password"]] and not report.agree


def test_check_finds_what_differs_and_resync_repairs_it(
    ll: LearnLoop, tenant: str, qdrant: QdrantIndex
) -> None:
    ids = put_faqs(ll, tenant)
    other = ll.tenants.create(f"{tenant}-b").tenant_id
    put_faqs(ll, other)
    for t in (tenant, other):
        resync(ll.db, qdrant, t)
    gone, changed = ids["Export my data"], ids["Change the invoice address"]
    qdrant.client.delete(
        "items", points_selector=models.PointIdsList(points=[point_id(tenant, gone)])
    )
    wrong = np.zeros(ll.embedder.dimension, dtype=np.float32)
    wrong[0] = 1.0
    qdrant.client.update_vectors(
        "items", points=[models.PointVectors(id=point_id(tenant, changed), vector=wrong.tolist())]
    )
    qdrant.client.upsert(
        "items",
        points=[
            models.PointStruct(
                id=point_id(tenant, 10**12),
                vector=wrong.tolist(),
                payload={"tenant_id": tenant, "item_id": 10**12, "status": "active"},
            )
        ],
    )
    report = check(ll.db, qdrant, tenant, sample=10)
    assert (report.missing, report.extra, report.vectors_differ) == ([gone], [10**12], [changed])
    assert (report.items, report.stored) == (5, 5)
    assert check(ll.db, qdrant, other).agree  # the other tenant's points are its own

    resync(ll.db, qdrant, tenant)
    assert check(ll.db, qdrant, tenant, sample=10).agree
    where = VectorFilter(other, None, ["active"], [])
    vector = ll.embedder.embed_query("password")
    other_ids = {i.item_id for i in ll.items.list(other, limit=100)[0]}
    assert {i for i, _ in qdrant.nearest(vector, where, limit=50, exact=True)} == other_ids


def test_a_failed_qdrant_write_leaves_the_batch_in_the_log(ll: LearnLoop, tenant: str) -> None:
    put_faqs(ll, tenant)
    down = QdrantIndex(
        QdrantClient(url="http://127.0.0.1:9", timeout=2, check_compatibility=False),
        "items",
        384,
        local=False,
    )
    with pytest.raises(VectorStoreError, match="Qdrant"):
        Indexer(ll.db, ll.embedder, index=down).embed_changes(tenant)
    status = ll.indexer.status(tenant)
    assert status.queued_changes == len(FAQS) and status.state == "error"
    down.close()


def test_qdrant_needs_a_url_or_a_path(ll: LearnLoop) -> None:
    with pytest.raises(VectorStoreError, match="LEARNLOOP_QDRANT_URL"):
        make_vector_index(Settings(vector_store="qdrant"), ll.db, 384)


def test_vectors_commands_resync_and_check(
    database_url: str, ll: LearnLoop, tenant: str, tmp_path: Path
) -> None:
    ids = put_faqs(ll, tenant)
    env = {
        "DATABASE_URL": database_url,
        "LEARNLOOP_TENANT": tenant,
        "LEARNLOOP_VECTOR_STORE": "qdrant",
        "LEARNLOOP_QDRANT_PATH": str(tmp_path / "qdrant"),
        "COLUMNS": "200",
    }
    runner = CliRunner()
    before = runner.invoke(app, ["vectors", "check", "--json"], env=env)
    assert before.exit_code == 2, before.output
    assert json.loads(before.stdout)[0]["missing"] == sorted(ids.values())
    done = runner.invoke(app, ["vectors", "resync"], env=env)
    assert done.exit_code == 0 and f"{tenant}: 5 vectors" in done.stdout, done.output
    after = runner.invoke(app, ["vectors", "check"], env=env)
    assert after.exit_code == 0 and "agree" in after.stdout, after.output


def test_a_collection_of_another_dimension_is_refused_until_rebuilt(
    ll: LearnLoop, tenant: str, qdrant: QdrantIndex
) -> None:
    ids = put_faqs(ll, tenant)
    qdrant.client.create_collection(
        "items", vectors_config=models.VectorParams(size=8, distance=models.Distance.COSINE)
    )
    vector = ll.embedder.embed_query("password")
    with pytest.raises(EmbeddingMismatchError, match="resync --all"):
        Search(ll.db, ll.embedder, index=qdrant).search(tenant, "password")
    assert qdrant.rebuild_if_other_dimension()
    assert not qdrant.rebuild_if_other_dimension()  # the right dimension now: kept
    resync(ll.db, qdrant, tenant)
    where = VectorFilter(tenant, None, ["active"], [])
    assert qdrant.nearest(vector, where, limit=1, exact=True)[0][0] == ids["Reset a password"]

"""BM25 on the keyword side: statistics and postings kept right by the triggers, rare words
weigh more, a large tenant's common words still count."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest

from learnloop import LearnLoop
from learnloop.knowledge import Search, bm25

RECOUNT_TERMS = """
SELECT w.lexeme, count(*) AS df FROM items AS i, unnest(i.search_text) AS w
WHERE i.tenant_id = %(t)s AND i.status <> 'archived' GROUP BY w.lexeme
"""
RECOUNT_CORPUS = """
SELECT count(*) AS documents, coalesce(sum(bm25_length(search_text)), 0) AS total_length
FROM items WHERE tenant_id = %(t)s AND status <> 'archived'
"""
# Every item's postings, archived ones too, recounted from the stored search_text.
RECOUNT_POSTINGS = """
SELECT w.lexeme, i.item_id, cardinality(w.positions) AS tf,
       coalesce(cardinality(array_positions(w.weights, 'A')), 0) AS title_tf,
       bm25_length(i.search_text) AS length
FROM items AS i, unnest(i.search_text) AS w WHERE i.tenant_id = %(t)s
"""
POSTINGS = """
SELECT lexeme, item_id, tf, title_tf, length FROM bm25_postings WHERE tenant_id = %(t)s
"""


def stats(ll: LearnLoop, tenant: str) -> tuple[dict[str, int], tuple[int, int]]:
    with ll.db.connection() as conn:
        terms = conn.execute(
            "SELECT lexeme, df FROM bm25_terms WHERE tenant_id = %(t)s", {"t": tenant}
        )
        kept = {row["lexeme"]: row["df"] for row in terms.fetchall()}
        corpus = conn.execute(
            "SELECT documents, total_length FROM bm25_corpus WHERE tenant_id = %(t)s", {"t": tenant}
        ).fetchone()
    return kept, (corpus["documents"], corpus["total_length"]) if corpus else (0, 0)


def recount(ll: LearnLoop, tenant: str) -> tuple[dict[str, int], tuple[int, int]]:
    with ll.db.connection() as conn:
        terms = {
            r["lexeme"]: r["df"] for r in conn.execute(RECOUNT_TERMS, {"t": tenant}).fetchall()
        }
        corpus = conn.execute(RECOUNT_CORPUS, {"t": tenant}).fetchone()
    assert corpus is not None
    return terms, (corpus["documents"], corpus["total_length"])


def postings(ll: LearnLoop, tenant: str, sql: str = POSTINGS) -> set[tuple[Any, ...]]:
    with ll.db.connection() as conn:
        return {tuple(row.values()) for row in conn.execute(sql, {"t": tenant}).fetchall()}


def faq(title: str, body: str = "", **extra: Any) -> dict[str, Any]:
    return {"kind": "faq", "title": title, "body": body, **extra}


def test_statistics_match_a_recount_after_every_kind_of_change(ll: LearnLoop, tenant: str) -> None:
    stored = ll.items.put_many(
        tenant,
        [
            faq(f"Disk {n} full", f"clean the disk of node {n}", external_id=f"d{n}")
            for n in range(30)
        ],
    )
    assert stats(ll, tenant) == recount(ll, tenant)
    assert stats(ll, tenant)[0]["disk"] == 30
    ids = [item.item_id for item, _ in stored]
    ll.items.update(tenant, ids[0], {"body": "rotate the kafka logs"})
    ll.items.update(tenant, ids[1], {"tags": ["no-text-change"]})
    ll.items.archive(tenant, ids[2])
    ll.items.update(tenant, ids[3], {"status": "deprecated"})
    ll.items.delete(tenant, ids[4])
    ll.items.delete(tenant, ids[2])  # archived, so already counted out
    ll.items.put_many(  # an upsert batch: some new, some changed, some the same
        tenant,
        [
            faq("Disk 5 full", "kafka", external_id="d5"),
            faq("Disk 6 full", "clean the disk of node 6", external_id="d6"),
            faq("New kafka item", external_id="k1"),
        ],
    )
    kept, corpus = stats(ll, tenant)
    assert (kept, corpus) == recount(ll, tenant)
    assert kept["kafka"] == 3 and kept["disk"] == 30 - 2  # ids 2 and 4 gone
    assert corpus[0] == 30 - 2 + 1
    assert all(df > 0 for df in kept.values())
    kept_postings = postings(ll, tenant)
    assert kept_postings == postings(ll, tenant, RECOUNT_POSTINGS)
    assert {item_id for lexeme, item_id, *_ in kept_postings if lexeme == "kafka"} == {
        ids[0],
        stored[5][0].item_id,
        ll.items.list(tenant, external_id="k1")[0][0].item_id,
    }


def test_archived_items_leave_the_statistics_and_come_back(ll: LearnLoop, tenant: str) -> None:
    item, _ = ll.items.put(tenant, faq("Zookeeper quorum lost"))
    ll.items.archive(tenant, item.item_id)
    assert "zookeep" not in stats(ll, tenant)[0]
    ll.items.update(tenant, item.item_id, {"status": "active"})
    assert stats(ll, tenant)[0]["zookeep"] == 1
    assert stats(ll, tenant) == recount(ll, tenant)


def test_statistics_are_per_tenant(ll: LearnLoop, tenant: str) -> None:
    other = ll.tenants.create(f"t-{uuid.uuid4().hex[:12]}").tenant_id
    ll.items.put_many(tenant, [faq("Kafka broker down"), faq("Disk full")])
    before = ll.search.search(tenant, "kafka broker", k=5)
    ll.items.put_many(other, [faq(f"Kafka broker {n} restarted") for n in range(40)])
    assert stats(ll, tenant)[0]["kafka"] == 1 and stats(ll, other)[0]["kafka"] == 40
    after = ll.search.search(tenant, "kafka broker", k=5)
    assert [(h.item.item_id, h.keyword_score) for h in after] == [
        (h.item.item_id, h.keyword_score) for h in before
    ]


def test_bm25_ranks_a_rare_word_over_a_repeated_common_one(ll: LearnLoop, tenant: str) -> None:
    """ts_rank had no idf: the item saying "disk" three times beat the one naming kafka."""
    fillers = [
        faq(f"Disk check {n}", "the disk of the node", external_id=f"f{n}") for n in range(20)
    ]
    common, rare = ll.items.put_many(
        tenant,
        [
            faq("Disk disk disk", "disk usage on the disk", external_id="common"),
            faq("Broker logs", "the kafka broker writes its logs here", external_id="rare"),
            *fillers,
        ],
    )[:2]
    query = "kafka disk"
    with ll.db.connection() as conn:
        old = conn.execute(
            "SELECT item_id FROM items WHERE tenant_id = %(t)s AND item_id = ANY(%(ids)s)"
            " ORDER BY ts_rank(search_text, to_tsquery('english', 'kafka | disk'), 1) DESC",
            {"t": tenant, "ids": [common[0].item_id, rare[0].item_id]},
        ).fetchall()
    assert old[0]["item_id"] == common[0].item_id  # the old ranking put the common word first
    hits = ll.search.search(tenant, query, k=10)
    by_keyword = sorted((h for h in hits if h.keyword_rank), key=lambda h: h.keyword_rank or 0)
    assert by_keyword[0].item.item_id == rare[0].item_id
    assert by_keyword[0].keyword_score > by_keyword[1].keyword_score


def test_keyword_score_is_okapi_bm25(ll: LearnLoop, tenant: str) -> None:
    """One word, computed by hand from the formula and the statistics."""
    ll.items.put_many(
        tenant, [faq("Kafka", "broker"), faq("Disk", "full disk"), faq("Node", "restarted")]
    )
    hit = next(h for h in ll.search.search(tenant, "kafka", k=3) if h.keyword_rank == 1)
    # "kafka" once, in the title; lengths (positions): kafka broker 2, disk full disk 3, node
    # restarted 2
    tf, length, avgdl = bm25.TITLE_WEIGHT, 2, (2 + 3 + 2) / 3
    expected = (
        bm25.idf(1, 3)
        * tf
        * (bm25.K1 + 1)
        / (tf + bm25.K1 * (1 - bm25.B + bm25.B * length / avgdl))
    )
    assert math.isclose(hit.keyword_score or 0.0, expected, rel_tol=1e-9)


def test_postings_keep_archived_items_and_follow_only_text_changes(
    ll: LearnLoop, tenant: str
) -> None:
    """A search may ask for archived items, so their postings stay; a status change leaves the
    postings as they were, a text change rewrites them."""
    item, _ = ll.items.put(tenant, faq("Zookeeper quorum lost", "restart zookeeper"))
    before = postings(ll, tenant)
    assert ("zookeep", item.item_id, 2, 1, 5) in before
    ll.items.archive(tenant, item.item_id)
    assert postings(ll, tenant) == before
    hits = ll.search.search(tenant, "zookeeper", statuses=["archived"], k=3)
    assert [(h.item.item_id, h.keyword_rank) for h in hits] == [(item.item_id, 1)]
    ll.items.update(tenant, item.item_id, {"status": "active", "body": "check the ensemble"})
    after = postings(ll, tenant)
    assert after == postings(ll, tenant, RECOUNT_POSTINGS)
    assert ("zookeep", item.item_id, 1, 1, 5) in after and "restart" not in {p[0] for p in after}


def test_postings_roll_back_with_the_items(ll: LearnLoop, tenant: str) -> None:
    kept, _ = ll.items.put(tenant, faq("Kafka broker down"))
    with pytest.raises(RuntimeError), ll.db.transaction() as conn:
        conn.execute(
            "INSERT INTO items (tenant_id, kind, title, content_hash)"
            " VALUES (%(t)s, 'faq', 'Etcd leader lost', 'h1')",
            {"t": tenant},
        )
        conn.execute(
            "DELETE FROM items WHERE tenant_id = %(t)s AND item_id = %(i)s",
            {"t": tenant, "i": kept.item_id},
        )
        inside = {row["lexeme"] for row in conn.execute(POSTINGS, {"t": tenant}).fetchall()}
        assert inside == {"etcd", "leader", "lost"}
        raise RuntimeError("roll back")
    # "down" is a stop word
    assert {(p[0], p[1]) for p in postings(ll, tenant)} == {
        (word, kept.item_id) for word in ("kafka", "broker")
    }
    assert postings(ll, tenant) == postings(ll, tenant, RECOUNT_POSTINGS)


def test_a_deleted_tenant_takes_its_postings(ll: LearnLoop) -> None:
    gone = ll.tenants.create(f"t-{uuid.uuid4().hex[:12]}").tenant_id
    kept = ll.tenants.create(f"t-{uuid.uuid4().hex[:12]}").tenant_id
    for tenant in (gone, kept):
        ll.items.put_many(tenant, [faq("Kafka broker down"), faq("Disk full")])
    with ll.db.transaction() as conn:
        conn.execute("DELETE FROM tenants WHERE tenant_id = %(t)s", {"t": gone})
    assert postings(ll, gone) == set()
    assert {p[0] for p in postings(ll, kept)} == {"kafka", "broker", "disk", "full"}


def test_a_large_tenant_adds_common_words_to_its_candidates_scores(
    ll: LearnLoop, tenant: str
) -> None:
    """Over 1% of the items hold "disk": it finds no items, but adds to the kafka item's score."""
    ll.items.put_many(
        tenant,
        [
            faq("Kafka disk", external_id="rare"),
            *(faq(f"Disk check {n}", external_id=f"c{n}") for n in range(120)),
        ],
    )
    hits = Search(ll.db, ll.embedder, exact_below=1).search(tenant, "kafka disk", k=10)
    by_keyword = [h for h in hits if h.keyword_rank]
    assert [h.item.external_id for h in by_keyword] == ["rare"]
    kept, (documents, total) = stats(ll, tenant)
    assert kept["disk"] > bm25.COMMON_SHARE * documents >= kept["kafka"]
    tf, length, avgdl = bm25.TITLE_WEIGHT, 2, total / documents
    expected = sum(
        bm25.idf(kept[word], documents)
        * tf
        * (bm25.K1 + 1)
        / (tf + bm25.K1 * (1 - bm25.B + bm25.B * length / avgdl))
        for word in ("kafka", "disk")
    )
    assert math.isclose(by_keyword[0].keyword_score or 0.0, expected, rel_tol=1e-9)
    # The exact path matches on every word: the 120 disk items are keyword candidates there.
    exact = ll.search.search(tenant, "kafka disk", k=10)
    assert any(h.keyword_rank and h.item.external_id != "rare" for h in exact)


def test_keyword_candidates_that_fail_the_filters_are_passed_over(
    ll: LearnLoop, tenant: str
) -> None:
    """45 drafts match better than the one active item, more than the keyword pool (40) holds:
    the filters are checked best first until the pool is full, not after it is cut."""
    ll.items.put_many(
        tenant,
        [
            faq("Kafka disk", external_id="rare"),
            *(faq("Kafka kafka", status="draft", external_id=f"d{n}") for n in range(45)),
        ],
    )
    hits = ll.search.search(tenant, "kafka", k=10)
    assert [(h.item.external_id, h.keyword_rank) for h in hits] == [("rare", 1)]
    drafts = ll.search.search(tenant, "kafka", k=10, statuses=["draft"])
    assert all(h.item.status == "draft" and h.keyword_rank for h in drafts)
    assert len(drafts) == 10

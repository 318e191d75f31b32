"""Search inside a larger table: a filter never silently returns fewer hits than exist.

A small tenant shares the items table (and its HNSW index) with a big one. The index path is
forced with ``exact_below=0``; the exact path with a huge ``exact_below``. The tests of
completeness run on both vector stores: pgvector, and Qdrant (qdrant-client's local mode, one
collection shared by both tenants, filled from the items by a re-sync).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import pytest

from learnloop import LearnLoop
from learnloop.knowledge import Search
from learnloop.ports import VectorIndex
from learnloop.vectors import resync

from .conftest import shared_data

BIG_ROWS, SMALL_ROWS = 1500, 40
RARE = ("rare-a", "rare-b", "rare-c")


def banking_questions() -> list[str]:
    with shared_data("banking77/train.csv").open(newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def tenants(ll: LearnLoop) -> tuple[str, str]:
    """A big tenant of banking77 questions and a small one whose last 3 items are tagged."""
    questions = banking_questions()
    big = ll.tenants.ensure("search-big").tenant_id
    small = ll.tenants.ensure("search-small").tenant_id
    ll.items.put_many(big, [{"kind": "faq", "title": q} for q in questions[:BIG_ROWS]])
    small_rows = [
        {"kind": "faq", "title": q, "external_id": f"s{n}"}
        for n, q in enumerate(questions[5000 : 5000 + SMALL_ROWS])
    ]
    for row, tag in zip(small_rows[-3:], RARE, strict=True):
        row["tags"] = ["rare"]
        row["external_id"] = tag
    ll.items.put_many(small, small_rows)
    return big, small


@pytest.fixture(scope="module")
def qdrant(ll: LearnLoop, tenants: tuple[str, str]) -> Iterator[VectorIndex]:
    from qdrant_client import QdrantClient

    from learnloop.vectors.qdrant import QdrantIndex

    index = QdrantIndex(QdrantClient(location=":memory:"), "items", 384, local=True)
    for tenant in tenants:
        resync(ll.db, index, tenant)
    yield index
    index.close()


@pytest.fixture(params=["pgvector", "qdrant"])
def store(request: pytest.FixtureRequest) -> VectorIndex | None:
    """The vector store under test: None for pgvector (search's default), else Qdrant."""
    if request.param == "pgvector":
        return None
    index: VectorIndex = request.getfixturevalue("qdrant")
    return index


def rare_ids(hits: list[object]) -> set[str | None]:
    return {hit.item.external_id for hit in hits}  # type: ignore[attr-defined]


def test_filtered_index_search_finds_every_match(
    ll: LearnLoop, tenants: tuple[str, str], store: VectorIndex | None
) -> None:
    _, small = tenants
    search = Search(ll.db, ll.embedder, exact_below=0, index=store)
    hits = search.search(small, "how do I top up my account", k=10, tags=["rare"])
    assert rare_ids(hits) == set(RARE)


def test_fallback_runs_exactly_when_the_index_found_fewer_than_match(
    ll: LearnLoop, tenants: tuple[str, str]
) -> None:
    """The planner often searches so small a set exactly by itself; this checks the rule."""
    _, small = tenants
    search = Search(ll.db, ll.embedder, exact_below=0)
    params = {
        "tenant_id": small,
        "kinds": None,
        "statuses": ["active"],
        "tags": ["rare"],
        "pool": 40,
    }
    assert search._index_fell_short([{"semantic_found": 2}], params)  # 3 match, 2 found
    assert search._index_fell_short([], params)
    assert not search._index_fell_short([{"semantic_found": 3}], params)
    assert not search._index_fell_short([{"semantic_found": 40}], params | {"tags": []})


def test_index_path_agrees_with_exact_search(
    ll: LearnLoop, tenants: tuple[str, str], store: VectorIndex | None
) -> None:
    big, small = tenants
    by_index = Search(ll.db, ll.embedder, exact_below=0, index=store)
    exact = Search(ll.db, ll.embedder, exact_below=10**9)
    # Qdrant's local mode scans exactly (and slowly, in Python): half the questions suffice.
    questions = banking_questions()[7000 : 7010 if store else 7020]
    for tenant in (big, small):
        overlap = []
        for question in questions:
            vector = ll.embedder.embed_query(question)
            a = [h.item.item_id for h in by_index.search_vector(tenant, vector, k=10)]
            b = [h.item.item_id for h in exact.search_vector(tenant, vector, k=10)]
            overlap.append(len(set(a) & set(b)) / 10)
        assert sum(overlap) / len(overlap) >= 0.95, (tenant, overlap)


def test_other_tenants_items_never_appear(
    ll: LearnLoop, tenants: tuple[str, str], store: VectorIndex | None
) -> None:
    big, small = tenants
    for exact_below in (0, 10**9):
        search = Search(ll.db, ll.embedder, exact_below=exact_below, index=store)
        hits = search.search(small, "card payment declined", k=100)
        assert len(hits) == SMALL_ROWS
        assert {h.item.item_id for h in hits}.isdisjoint(
            {i.item_id for i in ll.items.list(big, limit=500)[0]}
        )


def test_a_repeated_query_is_embedded_once(ll: LearnLoop, tenant: str) -> None:
    calls: list[str] = []

    class Counting:
        name, dimension = ll.embedder.name, ll.embedder.dimension

        def embed(self, texts: list[str]) -> object:
            return ll.embedder.embed(texts)

        def embed_query(self, text: str) -> object:
            calls.append(text)
            return ll.embedder.embed_query(text)

        def close(self) -> None:
            pass

    ll.items.put(tenant, {"kind": "faq", "title": "Reset a password"})
    search = Search(ll.db, Counting())  # type: ignore[arg-type]
    first = search.search(tenant, "I forgot my password")
    again = search.search(tenant, "I forgot my password")
    search.search(tenant, "something else entirely")
    assert calls == ["I forgot my password", "something else entirely"]
    assert [h.similarity for h in first] == [h.similarity for h in again]

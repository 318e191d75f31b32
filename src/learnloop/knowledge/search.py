"""Hybrid search: semantic (HNSW, cosine) and keyword (BM25 over full text), fused by score."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from learnloop._sql import load_queries
from learnloop.errors import InvalidInput
from learnloop.knowledge.bm25 import keyword_query
from learnloop.knowledge.models import KINDS, STATUSES, Item, SearchHit
from learnloop.ports import Embedder, Store, VectorFilter, VectorIndex, Vectors
from learnloop.telemetry import traced

Q = load_queries("learnloop.knowledge")
# Score fusion: score = SEMANTIC_WEIGHT * cosine similarity + KEYWORD_WEIGHT * BM25 / the
# question's best BM25. Unlike reciprocal-rank fusion it keeps how far apart the candidates
# are on each side: a keyword match far stronger than the next lifts its item, a near tie does
# not. KEYWORD_WEIGHT is the best of bench/relevance_eval.py --tune (mean MRR@10 over the TRAIN
# halves of its two question sets); docs/benchmarks.md has the grid and the held-out figures.
SEMANTIC_WEIGHT = 1.0
KEYWORD_WEIGHT = 0.3
MAX_K = 100
SEARCHABLE = ("active",)
QUERY_CACHE = 512  # query vectors kept (about 1.5 KB each)
K = TypeVar("K")
V = TypeVar("V")


class Search:
    """Search one tenant's items.

    Tenants smaller than ``exact_below`` searchable items are searched exactly (every vector
    compared); larger ones through the HNSW index with iterative scans, falling back to an
    exact scan whenever the index returned fewer candidates than match the filters. The
    keyword side ranks by Okapi BM25 with the tenant's own statistics (``knowledge/bm25.py``);
    a large tenant's matches it on words held by at most 1% of its items only.

    ``index`` is where the semantic candidates come from: by default the items' own vectors
    (pgvector), ranked in the same statement as the keyword side; an external index
    (Qdrant) gives its candidates first, and the same statement fuses them.
    """

    def __init__(
        self,
        db: Store,
        embedder: Embedder,
        *,
        exact_below: int = 20_000,
        index: VectorIndex | None = None,
    ):
        self.db = db
        self.embedder = embedder
        self.exact_below = exact_below
        self.index = index
        # The same question is often searched twice in a row (a context block looks for
        # corrections and for recommendations): its vector is computed once.
        self.query_vector = functools.lru_cache(maxsize=QUERY_CACHE)(self._embed_query)
        self._sizes: _Cached[str, int] = _Cached(self._count_searchable, ttl=30.0)

    def _embed_query(self, query: str) -> Vectors:
        vector = self.embedder.embed_query(query)
        vector.setflags(write=False)  # shared by every caller of the cache
        return vector

    @traced("learnloop.search", lambda hits: {"learnloop.results": len(hits)})
    def search(
        self,
        tenant_id: str,
        query: str,
        *,
        k: int = 10,
        kinds: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        statuses: Sequence[str] = SEARCHABLE,
    ) -> list[SearchHit]:
        query = query.strip()
        _check(query, k, kinds, statuses)
        vector = self.query_vector(query)
        return self.search_vector(
            tenant_id, vector, query, k=k, kinds=kinds, tags=tags, statuses=statuses
        )

    def search_vector(
        self,
        tenant_id: str,
        vector: Vectors,
        query_text: str = "",
        *,
        k: int = 10,
        kinds: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        statuses: Sequence[str] = SEARCHABLE,
    ) -> list[SearchHit]:
        """Search with a ready query vector (the text feeds the keyword side)."""
        params: dict[str, Any] = {
            "tenant_id": tenant_id,
            "query_vector": vector,
            "query_text": query_text,
            "kinds": list(kinds) if kinds else None,
            "statuses": list(statuses),
            "tags": list(tags or []),
            "pool": max(4 * k, 40),
            "limit": k,
            "semantic_weight": SEMANTIC_WEIGHT,
            "keyword_weight": KEYWORD_WEIGHT,
        }
        exact = self._sizes.get(tenant_id) < self.exact_below
        rows = self._run(params, exact=exact)
        if not exact and self._index_fell_short(rows, params):
            rows = self._run(params, exact=True)
        return [_hit(row) for row in rows]

    def _run(self, params: dict[str, Any], *, exact: bool) -> list[dict[str, Any]]:
        if self.index is not None and not self.index.in_database:
            return self._run_given(self.index, params, exact=exact)
        # prepare=False: never a server-side prepared statement, so every search is planned
        # for its own tenant, filters and query. After a few runs a prepared statement gets a
        # generic plan, which cannot see that the tag filter is empty or how big the tenant
        # is, and which ran 20-100 times slower (bench/search_bench.py, docs/benchmarks.md).
        with self.db.transaction() as conn:
            if exact:
                conn.execute(Q["exact_scan"])
            # A large tenant's keyword side matches only on words held by at most 1% of its
            # items: common words match much of the table, add little to the ranking, and
            # cost a scan of every match. They still count in the scores.
            terms = conn.execute(Q["keyword_terms"], params).fetchall()
            params = params | keyword_query(terms, drop_common=not exact).params()
            return conn.execute(Q["search_hybrid"], params, prepare=False).fetchall()

    def _run_given(
        self, index: VectorIndex, params: dict[str, Any], *, exact: bool
    ) -> list[dict[str, Any]]:
        names = ("tenant_id", "kinds", "statuses", "tags")
        where = VectorFilter(*(params[name] for name in names))
        found = index.nearest(params["query_vector"], where, limit=params["pool"], exact=exact)
        params = params | {"semantic_ids": [item_id for item_id, _ in found]}
        with self.db.transaction() as conn:
            terms = conn.execute(Q["keyword_terms"], params).fetchall()
            params = params | keyword_query(terms, drop_common=not exact).params()
            return conn.execute(Q["search_hybrid_given"], params, prepare=False).fetchall()

    def _count_searchable(self, tenant_id: str) -> int:
        with self.db.connection() as conn:
            row = conn.execute(Q["count_searchable"], {"tenant_id": tenant_id}).fetchone()
        return int(row["n"]) if row else 0

    def _index_fell_short(self, rows: list[dict[str, Any]], params: dict[str, Any]) -> bool:
        found = int(rows[0]["semantic_found"]) if rows else 0
        if found >= params["pool"]:
            return False
        with self.db.connection() as conn:
            row = conn.execute(Q["count_matching"], params, prepare=False).fetchone()
        return row is not None and int(row["n"]) > found


class _Cached(Generic[K, V]):
    """Values loaded from the database, each re-loaded at most every ``ttl`` seconds.

    Used only to choose between correct paths, so a stale value costs speed, never results.
    """

    def __init__(self, load: Callable[[K], V], ttl: float):
        self._load = load
        self.ttl = ttl
        self._seen: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V:
        now = time.monotonic()
        with self._lock:
            cached = self._seen.get(key)
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        value = self._load(key)
        with self._lock:
            self._seen[key] = (now, value)
        return value


def _check(query: str, k: int, kinds: Sequence[str] | None, statuses: Sequence[str]) -> None:
    if not query:
        raise InvalidInput("query: give some words to search for")
    if len(query) > 2000:
        raise InvalidInput("query: at most 2,000 characters")
    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be between 1 and {MAX_K}, not {k}")
    unknown = [kind for kind in kinds or () if kind not in KINDS]
    if unknown:
        raise InvalidInput(f"kinds: unknown {unknown}; choose from {list(KINDS)}")
    bad = [status for status in statuses if status not in STATUSES]
    if bad or not statuses:
        raise InvalidInput(f"statuses: choose one or more of {list(STATUSES)}")


def _hit(row: dict[str, Any]) -> SearchHit:
    return SearchHit(
        item=Item.model_validate(row),
        score=float(row["score"]),
        similarity=None if row["similarity"] is None else float(row["similarity"]),
        keyword_score=None if row["keyword_score"] is None else float(row["keyword_score"]),
        semantic_rank=row["semantic_rank"],
        keyword_rank=row["keyword_rank"],
    )

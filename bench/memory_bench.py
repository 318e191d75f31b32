"""What the memory policy's read costs: its nearest past questions among N logged impressions.

    .venv/bin/python bench/memory_bench.py [--impressions 10000,50000] [--queries 200]
        [--items 100000] [--requests 200]

Fills a tenant with N impressions, each with a question vector (banking77 questions
embedded by the real model, plus Gaussian noise, renormalised) and three settled outcomes,
then times ``learnloop.learn.live.neighbours`` (what the memory policy reads per request:
the ``memory.neighbours`` nearest of the latest ``memory.window``, from the vectors a
server keeps in process, ``learn.recall``, and their outcomes from the database) for other
questions, and the first read, which loads the vectors. Baseline in the same run: a
``SELECT 1`` round trip through the same pool.
Prints p50 / p95 per size and the ratio to the baseline.

Then what the policy adds to a whole recommendation (``--items``, 0 skips it): a tenant
with ``--items`` items (one COPY, the vector index built as the migrations build it; kept
in the data dir for the next run), whose memory holds ``memory.window`` impressions of
banking77 questions with three settled outcomes each on items of the question's intent
(the first helped a third of the time), then ``Recommender.recommend`` (hybrid search, policy,
logging: the real path; the query's embedding made before, untimed, as it is the same for
both) for ``--requests`` other questions, each asked with the ``similarity`` policy and with
``memory`` on the same tenant, which first taking turns (the switch is not timed).
Prints p50 / p95 of each, what memory adds, and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.datasets import read_banking77  # noqa: E402
from bench.search_bench import _embed_cached  # noqa: E402
from learnloop import LearnLoop, Settings  # noqa: E402
from learnloop.learn.config import LearningConfig  # noqa: E402
from learnloop.learn.live import Question, neighbours  # noqa: E402
from learnloop.learn.recall import Recall  # noqa: E402


def fill(
    ll: LearnLoop,
    tenant: str,
    base: np.ndarray,
    n: int,
    rng: np.random.Generator,
    ids: list[uuid.UUID] | None = None,
) -> None:
    """``n`` impressions with question vectors (``base`` in turn, plus noise) and, unless
    ``ids`` names them (the caller writes their outcomes), three settled outcomes each."""
    name = ll.embedder.name
    rows = []
    for k in range(n):
        vector = base[k % len(base)] + rng.normal(0, 0.02, base.shape[1]).astype(np.float32)
        rows.append((ids[k] if ids else uuid.uuid4(), vector / np.linalg.norm(vector)))
    with ll.db.transaction() as conn:
        for start in range(0, n, 2000):
            chunk = rows[start : start + 2000]
            conn.execute(
                "INSERT INTO impressions (tenant_id, impression_id, query, k, policy,"
                " policy_version, strategy, threshold)"
                " SELECT %(t)s, i, 'q', 3, 'memory', '1', 'multiple_options', 0"
                " FROM unnest(%(ids)s::uuid[]) AS i",
                {"t": tenant, "ids": [r[0] for r in chunk]},
            )
            conn.execute(
                "INSERT INTO impression_vectors (tenant_id, impression_id, embedder, query_vector)"
                " SELECT %(t)s, i, %(e)s, v"
                " FROM unnest(%(ids)s::uuid[], %(vs)s::vector[]) AS x(i, v)",
                {"t": tenant, "e": name, "ids": [r[0] for r in chunk], "vs": [r[1] for r in chunk]},
            )
            if ids:
                continue
            conn.execute(
                "INSERT INTO learn_outcomes (tenant_id, impression_id, item_id, rank, priority,"
                " reward, shown, settled)"
                " SELECT %(t)s, i, r, r, 0, 0, true, true"
                " FROM unnest(%(ids)s::uuid[]) AS i, generate_series(1, 3) AS r",
                {"t": tenant, "ids": [r[0] for r in chunk]},
            )
        conn.execute("ANALYZE impression_vectors")


ITEMS_TENANT = "memory-bench-items"


def fill_items(
    ll: LearnLoop,
    texts: list[str],
    intents: list[str],
    vectors: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> dict[str, list[int]]:
    """``n`` FAQ items in ITEMS_TENANT (kept from an earlier run of the same size): item j
    is question ``j % len(texts)`` (its title; its intent the body), its vector that
    question's plus noise. Returns the item ids of each intent."""
    from bench.search_bench import COLUMNS, TYPES, _index_sql, _noisy
    from learnloop.knowledge.models import content_hash

    with ll.db.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM items WHERE tenant_id = %s", (ITEMS_TENANT,)
        ).fetchone()
        if row["n"] != n:
            conn.execute("DELETE FROM tenants WHERE tenant_id = %s", (ITEMS_TENANT,))
            conn.execute(
                "INSERT INTO tenants (tenant_id, name) VALUES (%s, %s)",
                (ITEMS_TENANT, ITEMS_TENANT),
            )
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("DROP INDEX IF EXISTS items_embedding")
            sql = f"COPY items ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
            noisy = _noisy(vectors[np.arange(n) % len(texts)], 0.015, rng)
            with conn.transaction(), conn.cursor() as cur, cur.copy(sql.encode()) as copy:
                copy.set_types(list(TYPES))
                for j in range(n):
                    title, body = texts[j % len(texts)], f"Category: {intents[j % len(texts)]}."
                    digest = content_hash("faq", title, body, [], {})
                    copy.write_row(
                        (
                            ITEMS_TENANT,
                            "faq",
                            f"item-{j}",
                            title,
                            body,
                            [],
                            "active",
                            digest,
                            noisy[j],
                            ll.embedder.name,
                            digest,
                        )
                    )
            conn.execute(_index_sql().encode())
            conn.execute("VACUUM ANALYZE items")
        rows = conn.execute(
            "SELECT item_id, body FROM items WHERE tenant_id = %s", (ITEMS_TENANT,)
        ).fetchall()
    found: dict[str, list[int]] = {}
    for r in rows:
        found.setdefault(r["body"], []).append(r["item_id"])
    return found


def fill_memory(
    ll: LearnLoop,
    vectors: np.ndarray,
    intents: list[str],
    by_intent: dict[str, list[int]],
    n: int,
    rng: np.random.Generator,
) -> None:
    """``n`` impressions of ITEMS_TENANT: question ``k % len(vectors)`` (plus noise) with
    three settled outcomes on items of its intent; the first helped a third of the time."""
    ids = [uuid.uuid4() for _ in range(n)]
    with ll.db.transaction() as conn:
        conn.execute("DELETE FROM impressions WHERE tenant_id = %s", (ITEMS_TENANT,))
        conn.execute("DELETE FROM learn_outcomes WHERE tenant_id = %s", (ITEMS_TENANT,))
    fill(ll, ITEMS_TENANT, vectors, n, rng, ids)
    outcomes = []
    for k, impression in enumerate(ids):
        pool = by_intent[f"Category: {intents[k % len(vectors)]}."]
        for rank in (1, 2, 3):
            item = pool[int(rng.integers(len(pool)))]
            reward = 1.0 if rank == 1 and rng.random() < 1 / 3 else 0.0
            outcomes.append((impression, item, rank, reward))
    with ll.db.transaction() as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO learn_outcomes (tenant_id, impression_id, item_id, rank, priority,"
                " reward, shown, settled) VALUES (%s, %s, %s, %s, 0, %s, true, true)"
                " ON CONFLICT DO NOTHING",
                [(ITEMS_TENANT, *o) for o in outcomes],
            )
        conn.execute("ANALYZE learn_outcomes")


def time_recommend(ll: LearnLoop, questions: list[str], requests: int) -> dict[str, list[float]]:
    """Each question asked with the similarity policy and with memory, which first taking
    turns; its embedding made before, untimed (it is cached, so the second would not pay
    it)."""
    found: dict[str, list[float]] = {"similarity": [], "memory": []}
    for n in range(requests + 10):
        question = questions[n % len(questions)]
        ll.search.query_vector(question)
        for name in sorted(found, reverse=n % 2 == 1):
            ll.learning.configure(ITEMS_TENANT, {"policy": name})
            start = time.perf_counter()
            ll.recommender.recommend(ITEMS_TENANT, {"query": question})
            if n >= 10:  # the first ten warm up
                found[name].append((time.perf_counter() - start) * 1000)
    return found


def timed(call, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    found = []
    for n in range(repeats):
        start = time.perf_counter()
        call(n)
        found.append((time.perf_counter() - start) * 1000)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impressions", default="10000,50000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--items", type=int, default=100_000, help="0: no recommend figures")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/learnloop-memory-bench"))
    args = parser.parse_args()
    by_intent = read_banking77()
    texts = [q for qs in by_intent.values() for q in qs]
    intents = [i for i, qs in by_intent.items() for _ in qs]
    rng = np.random.default_rng(0)
    picked = rng.permutation(len(texts))
    with LearnLoop.open(Settings(data_dir=args.data_dir)) as ll:
        base = _embed_cached(ll, [texts[n] for n in picked[:2000]], args.data_dir)
        asked = _embed_cached(
            ll, [texts[n] for n in picked[2000 : 2000 + args.queries]], args.data_dir
        )
        config = LearningConfig()
        for size in (int(s) for s in args.impressions.split(",") if s):
            tenant = ll.tenants.create(f"memory-bench-{size}-{uuid.uuid4().hex[:6]}").tenant_id
            fill(ll, tenant, base, size, rng)
            recall = Recall()
            with ll.db.connection() as conn:

                def one(n: int, conn=conn, tenant=tenant, recall=recall) -> None:  # type: ignore[no-untyped-def]
                    question = Question(asked[n % len(asked)], ll.embedder.name)
                    neighbours(conn, tenant, question, config, recall)

                def ping(n: int, conn=conn) -> None:  # type: ignore[no-untyped-def]
                    conn.execute("SELECT 1").fetchone()

                cold = timed(one, 1)[0]  # loads the tenant's vectors into the process
                base_ms = timed(ping, args.queries)
                read_ms = timed(one, args.queries)
            p50, p95 = statistics.median(read_ms), sorted(read_ms)[int(0.95 * len(read_ms))]
            b50 = statistics.median(base_ms)
            print(
                f"memory read, {size:,} impressions (window {config.memory.window:,},"
                f" {config.memory.neighbours} neighbours): p50 {p50:.2f} ms, p95 {p95:.2f} ms;"
                f" SELECT 1 p50 {b50:.3f} ms ({p50 / b50:.0f}x);"
                f" first read (loads them) {cold:.0f} ms",
                flush=True,
            )
        if args.items:
            recommend_figures(ll, args, texts, intents, picked, base, rng)


def recommend_figures(
    ll: LearnLoop,
    args: argparse.Namespace,
    texts: list[str],
    intents: list[str],
    picked: np.ndarray,
    base: np.ndarray,
    rng: np.random.Generator,
) -> None:
    config = LearningConfig()
    started = time.perf_counter()
    known = [texts[n] for n in picked[:2000]]
    by_intent = fill_items(ll, known, [intents[n] for n in picked[:2000]], base, args.items, rng)
    fill_memory(ll, base, [intents[n] for n in picked[:2000]], by_intent, config.memory.window, rng)
    print(
        f"# {args.items:,} items and {config.memory.window:,} impressions ready in"
        f" {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    asked = [texts[n] for n in picked[2000 : 2000 + args.requests]]
    found = time_recommend(ll, asked, args.requests)
    s50, s95 = statistics.median(found["similarity"]), quantile(found["similarity"], 0.95)
    m50, m95 = statistics.median(found["memory"]), quantile(found["memory"], 0.95)
    print(
        f"recommend, {args.items:,} items, {config.memory.window:,} impressions in memory,"
        f" {args.requests} questions each: similarity p50 {s50:.2f} ms, p95 {s95:.2f} ms;"
        f" memory p50 {m50:.2f} ms, p95 {m95:.2f} ms; memory adds p50 {m50 - s50:.2f} ms,"
        f" p95 {m95 - s95:.2f} ms (ratio p50 {m50 / s50:.2f}, p95 {m95 / s95:.2f})",
        flush=True,
    )


def quantile(values: list[float], q: float) -> float:
    return sorted(values)[int(q * (len(values) - 1))]


if __name__ == "__main__":
    main()

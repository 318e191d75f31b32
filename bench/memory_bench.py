"""What the memory policy's read costs: its nearest past questions among N logged impressions.

    .venv/bin/python bench/memory_bench.py [--impressions 10000,50000] [--queries 200]

Fills a tenant with N impressions, each with a question vector (banking77 questions
embedded by the real model, plus Gaussian noise, renormalised) and three settled outcomes,
then times ``learnloop.learn.live.neighbours`` (what the memory policy reads per request:
the ``memory.neighbours`` nearest of the latest ``memory.window``, from the vectors a
server keeps in process, ``learn.recall``, and their outcomes from the database) for other
questions, and the first read, which loads the vectors. Baseline in the same run: a
``SELECT 1`` round trip through the same pool.
Prints p50 / p95 per size and the ratio to the baseline.
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
from learnloop import LearnLoop, Settings  # noqa: E402
from learnloop.learn.config import LearningConfig  # noqa: E402
from learnloop.learn.live import Question, neighbours  # noqa: E402
from learnloop.learn.recall import Recall  # noqa: E402


def fill(ll: LearnLoop, tenant: str, base: np.ndarray, n: int, rng: np.random.Generator) -> None:
    name = ll.embedder.name
    rows = []
    for k in range(n):
        vector = base[k % len(base)] + rng.normal(0, 0.02, base.shape[1]).astype(np.float32)
        rows.append((uuid.uuid4(), vector / np.linalg.norm(vector)))
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
            conn.execute(
                "INSERT INTO learn_outcomes (tenant_id, impression_id, item_id, rank, priority,"
                " reward, shown, settled)"
                " SELECT %(t)s, i, r, r, 0, 0, true, true"
                " FROM unnest(%(ids)s::uuid[]) AS i, generate_series(1, 3) AS r",
                {"t": tenant, "ids": [r[0] for r in chunk]},
            )
        conn.execute("ANALYZE impression_vectors")


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
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/learnloop-memory-bench"))
    args = parser.parse_args()
    texts = [q for qs in read_banking77().values() for q in qs]
    rng = np.random.default_rng(0)
    picked = rng.permutation(len(texts))
    with LearnLoop.open(Settings(data_dir=args.data_dir)) as ll:
        base = ll.embedder.embed([texts[n] for n in picked[:2000]])
        asked = ll.embedder.embed([texts[n] for n in picked[2000 : 2000 + args.queries]])
        config = LearningConfig()
        for size in (int(s) for s in args.impressions.split(",")):
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


if __name__ == "__main__":
    main()

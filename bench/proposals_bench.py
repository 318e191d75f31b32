"""Learning-queue benchmark: review lists, the duplicate check, batch apply, metric refresh.

    .venv/bin/python bench/proposals_bench.py [--items 100000] [--proposals 100000]
        [--events 1000000] [--data-dir /tmp/learnloop-proposals-bench]

Starts (or joins) an embedded database of its own in ``--data-dir`` and loads it once; later
runs with the same sizes reuse it. How the data is made:

* items: a few hundred banking77 questions (../shared/data/banking77/train.csv) embedded with
  the real model; each item vector is one of them plus Gaussian noise, renormalised, written
  with one binary COPY; the HNSW index is built afterwards exactly as the migration defines it;
* proposals: rows of every source and status, confidence 0-100, spread over 90 days; a
  tenth are pending with a vector (an item's), so the duplicate check searches them too;
* events: over 90 days, in month partitions, with 10% as many impressions and feedback rows.

Measured (each with an in-run baseline, printed as a ratio):

* list pending, 50 most confident and 50 oldest, against the same query with index scans
  switched off (a full scan and a sort);
* the duplicate check (nearest item + nearest pending proposal) of banking77 questions not
  used for items, query embedding excluded, against an exact scan (and how often both find
  the same nearest neighbour);
* applying 100 approved proposals (half revise an item, half create one) in one batch, item
  embedding excluded (the worker does it), against one transaction per proposal;
* refreshing both metric views concurrently, against a plain (blocking) refresh.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BANKING77 = ROOT.parent / "shared" / "data" / "banking77" / "train.csv"
TENANT, APPLY_TENANT = "qbench", "qbench-apply"
TARGETS = {"list_p95_ms": 10.0, "dup_p95_ms": 50.0, "apply_s": 1.0, "refresh_s": 5.0}


def main() -> None:
    args = _args()
    warnings.simplefilter("ignore")
    from learnloop.embedders import LocalEmbedder
    from learnloop.service import LearnLoop
    from learnloop.settings import Settings

    settings = Settings(data_dir=args.data_dir, database_url=None, pool_max_size=4)
    with LearnLoop.open(settings, LocalEmbedder()) as ll:
        questions = _questions(args.base + args.queries)
        base = ll.embedder.embed(questions[: args.base])
        queries = ll.embedder.embed(questions[args.base :])
        rng = np.random.default_rng(args.seed)
        _ensure_loaded(ll, args, base, questions, rng)
        print(_line("list pending", *_bench_list(ll, args.repeat)), flush=True)
        print(_line("duplicate check", *_bench_duplicates(ll, queries, rng)), flush=True)
        print(_line("apply 100", *_bench_apply(ll, args.rounds), unit="s"), flush=True)
        print(_line("refresh views", *_bench_refresh(ll, args.rounds), unit="s"), flush=True)


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--proposals", type=int, default=100_000)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--base", type=int, default=400, help="banking77 questions item vectors use")
    p.add_argument("--queries", type=int, default=200, help="duplicate checks measured")
    p.add_argument("--repeat", type=int, default=300, help="list calls measured")
    p.add_argument("--rounds", type=int, default=5, help="apply batches and refreshes measured")
    p.add_argument("--noise", type=float, default=0.03)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/learnloop-proposals-bench"))
    return p.parse_args()


def _questions(n: int) -> list[str]:
    with BANKING77.open(encoding="utf-8") as f:
        texts = [row["text"].strip() for row in csv.DictReader(f)]
    return texts[::7][:n]


# ------------------------------------------------------------------ data


def _ensure_loaded(
    ll: Any, args: argparse.Namespace, base: np.ndarray, titles: list[str], rng: Any
) -> None:
    want = {"items": args.items, "proposals": args.proposals, "events": args.events}
    with ll.db.connection() as conn:
        row = conn.execute("SELECT settings FROM tenants WHERE tenant_id = %s", (TENANT,))
        found = row.fetchone()
    if found and found["settings"].get("bench") == want:
        _ensure_pending_vectors(ll, args.proposals // 10)
        return
    started = time.perf_counter()
    ll.tenants.ensure(TENANT)
    with ll.db.connection() as conn:
        for table in ("items", "proposals", "events", "impressions", "feedback"):
            conn.execute(f"DELETE FROM {table} WHERE tenant_id = %s".encode(), (TENANT,))
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("DROP INDEX IF EXISTS items_embedding")
        _load_items(conn, args.items, base, titles, args.noise, rng)
        conn.execute(_index_sql().encode())
        _load_proposals(conn, args.proposals)
        _load_events(conn, args.events)
        conn.execute("VACUUM ANALYZE")
        conn.execute(
            "UPDATE tenants SET settings = jsonb_set(settings, '{bench}', %s) WHERE tenant_id = %s",
            (_json(want), TENANT),
        )
    _ensure_pending_vectors(ll, args.proposals // 10)
    print(f"# data loaded in {time.perf_counter() - started:.0f} s", flush=True)


def _ensure_pending_vectors(ll: Any, n: int) -> None:
    """A tenth of the proposals are pending with a vector (an item's), so the duplicate check
    searches them too."""
    with ll.db.connection() as conn:
        have = conn.execute(
            "SELECT count(*) AS n FROM proposals WHERE tenant_id = %s AND status = 'pending'"
            " AND embedding IS NOT NULL",
            (TENANT,),
        ).fetchone()["n"]
        if have >= n:
            return
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(
            """
            UPDATE proposals AS p SET embedding = i.embedding
            FROM items AS i
            WHERE p.tenant_id = %(tenant)s AND p.status = 'pending'
              AND i.tenant_id = %(tenant)s AND i.external_id = 'b-' || p.proposal_id
              AND p.proposal_id IN (
                  SELECT proposal_id FROM proposals
                  WHERE tenant_id = %(tenant)s AND status = 'pending'
                  ORDER BY proposal_id LIMIT %(n)s)
            """,
            {"tenant": TENANT, "n": n},
        )
        conn.execute("VACUUM ANALYZE proposals")


def _json(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value)


def _load_items(
    conn: Any, n: int, base: np.ndarray, titles: list[str], noise: float, rng: Any
) -> None:
    from learnloop.knowledge.models import content_hash

    columns = "tenant_id, kind, external_id, title, content_hash, embedding, embedded_hash"
    sql = f"COPY items ({columns}) FROM STDIN (FORMAT BINARY)"
    with conn.transaction(), conn.cursor() as cur, cur.copy(sql.encode()) as copy:
        copy.set_types(["text", "text", "text", "text", "text", "vector", "text"])
        which = rng.integers(len(base), size=n)
        vectors = base[which] + rng.normal(0.0, noise, (n, base.shape[1])).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for j in range(n):
            title = titles[which[j]]
            digest = content_hash("faq", title, "", [], {"n": j})
            row = (TENANT, "faq", f"b-{j}", title, digest, vectors[j].astype(np.float32), digest)
            copy.write_row(row)


def _index_sql() -> str:
    import re

    from learnloop.db.migrate import available

    for migration in reversed(available()):
        match = re.search(r"CREATE INDEX\s+items_embedding\b[^;]*;", migration.sql)
        if match:
            return " ".join(match[0].split())
    raise RuntimeError("no items_embedding index in the migrations")


def _load_proposals(conn: Any, n: int) -> None:
    conn.execute(
        """
        INSERT INTO proposals (tenant_id, source, kind, title, body, confidence, status,
                               created_at)
        SELECT %(tenant)s, (ARRAY['feedback', 'correction', 'transcript', 'report',
                                  'manual'])[1 + g %% 5],
               'faq', 'Proposal ' || g, 'Proposed answer ' || g, (g * 37) %% 101,
               (ARRAY['pending', 'pending', 'approved', 'rejected', 'applied'])[1 + g %% 5],
               now() - (g %% 90) * interval '1 day' - (g %% 1440) * interval '1 minute'
        FROM generate_series(1, %(n)s) AS g
        """,
        {"tenant": TENANT, "n": n},
    )


def _load_events(conn: Any, n: int) -> None:
    for month in range(4):
        conn.execute("SELECT learnloop_event_partition(now() - %s * interval '1 month')", (month,))
    params = {"tenant": TENANT, "n": n, "m": max(1, n // 10)}
    conn.execute(
        """
        INSERT INTO impressions (tenant_id, impression_id, query, k, policy, policy_version,
                                 strategy, threshold, created_at)
        SELECT %(tenant)s, gen_random_uuid(), 'question ' || g, 3, 'similarity', '1',
               (ARRAY['single_solution', 'multiple_options', 'no_confident_match'])[1 + g %% 3],
               0.5, now() - (g %% 90) * interval '1 day'
        FROM generate_series(1, %(m)s) AS g
        """,
        params,
    )
    conn.execute(
        """
        INSERT INTO events (tenant_id, type, impression_id, item_id, rank, occurred_at,
                            impression_seen)
        SELECT %(tenant)s, (ARRAY['viewed', 'clicked', 'executed', 'succeeded', 'failed',
                                  'dismissed'])[1 + g %% 6],
               gen_random_uuid(), g %% 1000, 1 + g %% 3,
               now() - (g %% 90) * interval '1 day' - (g %% 1440) * interval '1 minute', true
        FROM generate_series(1, %(n)s) AS g
        """,
        params,
    )
    conn.execute(
        """
        INSERT INTO feedback (tenant_id, response_id, kind, value, score, negative, created_at)
        SELECT %(tenant)s, 'r' || g, 'thumbs', CASE WHEN g %% 4 = 0 THEN 'down' ELSE 'up' END,
               CASE WHEN g %% 4 = 0 THEN -1 ELSE 1 END, g %% 4 = 0,
               now() - (g %% 90) * interval '1 day'
        FROM generate_series(1, %(m)s) AS g
        """,
        params,
    )


# ------------------------------------------------------------------ measurements


def _timed(fn: Callable[[], Any], n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def _bench_list(ll: Any, repeat: int) -> tuple[list[float], list[float]]:
    from learnloop.proposals.service import Q

    orders = ["confidence", "age"]
    _timed(lambda: ll.proposals.list(TENANT, order="age"), 20)
    fast = [
        t
        for order in orders
        for t in _timed(lambda o=order: ll.proposals.list(TENANT, order=o), repeat // 2)
    ]
    params = {
        "tenant_id": TENANT,
        "status": "pending",
        "sources": None,
        "min_confidence": 0,
        "duplicates": False,
        "limit": 50,
        "offset": 0,
    }

    def scan() -> None:
        with ll.db.transaction() as conn:
            conn.execute("SET LOCAL enable_indexscan = off")
            conn.execute("SET LOCAL enable_bitmapscan = off")
            conn.execute(Q["list_by_confidence"], params).fetchall()

    return fast, _timed(scan, 10)


def _bench_duplicates(ll: Any, queries: np.ndarray, rng: Any) -> tuple[list[float], list[float]]:
    from learnloop.proposals.duplicates import Q, nearest

    def check(vector: np.ndarray) -> Any:
        with ll.db.transaction() as conn:
            return nearest(conn, TENANT, 0, None, vector)

    def exact(vector: np.ndarray) -> Any:
        """The same two queries as an exact scan (never prepared, so the settings apply)."""
        params = {"tenant_id": TENANT, "proposal_id": 0, "item_id": None, "vector": vector}
        with ll.db.transaction() as conn:
            conn.execute("SET LOCAL enable_indexscan = off")
            conn.execute("SET LOCAL enable_bitmapscan = off")
            item = conn.execute(Q["nearest_item"], params, prepare=False).fetchone()
            other = conn.execute(Q["nearest_pending"], params, prepare=False).fetchone()
        found = [("item", item["item_id"], item["similarity"])]
        if other:
            found.append(("proposal", other["proposal_id"], other["similarity"]))
        return max(found, key=lambda f: f[2])

    for vector in queries[:10]:
        check(vector)
    fast = [_timed(lambda v=vector: check(v), 1)[0] for vector in queries]
    slow = [_timed(lambda v=vector: exact(v), 1)[0] for vector in queries[:20]]
    same = sum((check(v) or (None, None, 0.0))[:2] == exact(v)[:2] for v in queries[:20])
    print(f"# duplicate check: top-1 agrees with the exact scan for {same} of 20", flush=True)
    return fast, slow


def _approved_batch(ll: Any, n: int) -> None:
    rows = [{"kind": "faq", "title": f"Apply bench {time.time_ns()} {i}"} for i in range(n // 2)]
    made = ll.items.put_many(APPLY_TENANT, rows, embed=False)
    with ll.db.connection() as conn:
        conn.execute(
            """
            INSERT INTO proposals (tenant_id, source, item_id, kind, title, body, confidence,
                                   status)
            SELECT %(tenant)s, 'manual', item_id, 'faq', 'Revised', 'Revised answer ' || g,
                   50, 'approved'
            FROM unnest(%(items)s::bigint[]) WITH ORDINALITY AS t (item_id, g)
            UNION ALL
            SELECT %(tenant)s, 'correction', NULL, 'correction', 'New question ' || g,
                   'New answer ' || g, 60, 'approved'
            FROM generate_series(1, %(new)s) AS g
            """,
            {"tenant": APPLY_TENANT, "items": [i.item_id for i, _ in made], "new": n - len(made)},
        )


def _bench_apply(ll: Any, rounds: int) -> tuple[list[float], list[float]]:
    from learnloop.proposals import apply_approved

    ll.tenants.ensure(APPLY_TENANT)

    def batch() -> None:
        done = apply_approved(ll.db, ll.items, batch=100, embed=False, tenant_id=APPLY_TENANT)
        assert done == 100

    def one_by_one() -> None:
        while apply_approved(ll.db, ll.items, batch=1, embed=False, tenant_id=APPLY_TENANT):
            pass

    fast, slow = [], []
    for _ in range(rounds):
        _approved_batch(ll, 100)
        fast += _timed(batch, 1)
        _approved_batch(ll, 100)
        slow += _timed(one_by_one, 1)
    return fast, slow


def _bench_refresh(ll: Any, rounds: int) -> tuple[list[float], list[float]]:
    from learnloop.proposals import refresh_views

    def blocking() -> None:
        with ll.db.connection() as conn:
            conn.execute("REFRESH MATERIALIZED VIEW learning_metrics_daily")
            conn.execute("REFRESH MATERIALIZED VIEW response_performance_daily")

    refresh_views(ll.db)
    return _timed(lambda: refresh_views(ll.db), rounds), _timed(blocking, rounds)


def _line(name: str, fast: list[float], base: list[float], unit: str = "ms") -> str:
    scale = 1000.0 if unit == "ms" else 1.0
    med, p95 = statistics.median(fast) * scale, _p(fast, 95) * scale
    base_med = statistics.median(base) * scale
    return (
        f"{name}: median {med:.2f} {unit}, p95 {p95:.2f} {unit} (n={len(fast)}); "
        f"baseline median {base_med:.2f} {unit}; ratio {base_med / med:.1f}x"
    )


if __name__ == "__main__":
    main()

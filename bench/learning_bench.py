"""Learning benchmark: what a learned policy adds to a recommendation, and how fast the
statistics keep up with events.

    .venv/bin/python bench/learning_bench.py [--repeats 300] [--events 50000] [--data-dir DIR]

Measured on the embedded PostgreSQL (``--data-dir``, default /tmp/learnloop-learning-bench):

* Scoring 50 candidates: ``Policies.build`` (the reads a policy needs: the statistics of
  the 50 items in the request's segments for ``bayes``, the model's version for
  ``contextual``) plus ``rank`` (with the propensities it logs), on one pooled connection,
  as ``Recommender.recommend`` runs them. The tenant has statistics for 5,000 items in 3
  segments and a contextual model trained on 5,000 examples. Baselines in the same run,
  interleaved: the ``similarity`` policy (no reads) and a ``SELECT 1`` round trip. The
  requirement: the learned policy adds at most 5 ms at the 95th percentile.
* Freshness: events at 5,000/s for 10 s (batches every 0.1 s) while a thread runs the
  update every second as the worker does; the time from recording a batch to the end of
  the first update that started after it. The requirement: p95 <= 5 s.
* Statistics: ``--events`` events (clicked / succeeded / dismissed on impressions of 3
  items each, written by ``Events.record`` in batches of 10,000: the real path, with the
  trigger that queues them) then ``stats.update`` run until nothing is pending; events/s
  of each. Twice: for a tenant with the defaults, and for one whose shadow policy is
  ``contextual`` (so every settled first item also trains its model, over 50 real items).
  The requirement: the update keeps up with 5,000 events/s.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from learnloop._ids import uuid7
from learnloop.embedders import LocalEmbedder
from learnloop.learn import stats
from learnloop.learn.config import LearningConfig
from learnloop.learn.contextual import ContextualPolicy, Example
from learnloop.learn.live import Policies
from learnloop.learn.policies import Arm
from learnloop.service import LearnLoop
from learnloop.settings import Settings

SEGMENTS = ("smb", "enterprise", "internal")


def open_ll(data_dir: Path) -> LearnLoop:
    from learnloop.db.embedded import embedded_url

    settings = Settings(data_dir=data_dir, database_url=None)
    url = embedded_url(settings.pgdata)
    return LearnLoop.open(settings.model_copy(update={"database_url": url}), LocalEmbedder())


def fill_stats(ll: LearnLoop, tenant: str, items: int) -> None:
    rows = [(tenant, "", "", i) for i in range(1, items + 1)]
    rows += [(tenant, "segment", s, i) for s in SEGMENTS for i in range(1, items + 1)]
    with ll.db.connection() as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO learn_stats (tenant_id, dimension, value, item_id, trials, exposure,"
            " reward, positive) VALUES (%s, %s, %s, %s, 40, 30, 9, 9)",
            rows,
        )


def train_model(ll: LearnLoop, tenant: str, arms: list[Arm], n: int) -> None:
    model = ContextualPolicy(exploration=0.02)
    rng = np.random.default_rng(0)
    model.learn(
        [
            Example(
                arms,
                {"segment": SEGMENTS[k % 3]},
                "disk almost full on a worker",
                int(rng.integers(len(arms))),
                0.02,
                float(rng.random() < 0.3),
            )
            for k in range(n)
        ]
    )
    with ll.db.connection() as conn:
        conn.execute(
            "INSERT INTO learn_models (tenant_id, name, state, examples) VALUES (%s,"
            " 'contextual', %s, %s)",
            (tenant, model.to_bytes(), n),
        )


def time_policies(
    ll: LearnLoop, tenant: str, arms: list[Arm], repeats: int
) -> dict[str, list[float]]:
    policies = Policies()
    config = LearningConfig(exploration=0.2)
    rng = np.random.default_rng(1)
    found: dict[str, list[float]] = {
        "select 1": [],
        "similarity": [],
        "bayes": [],
        "contextual": [],
    }
    for n in range(repeats):
        context = {"segment": SEGMENTS[n % 3], "intent": "runbook"}
        with ll.db.connection() as conn:
            start = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            found["select 1"].append(time.perf_counter() - start)
            for name in ("similarity", "bayes", "contextual"):
                start = time.perf_counter()
                policy = policies.build(conn, tenant, name, config, arms, context)
                policy.rank(arms, context, "disk almost full on a worker", rng)
                found[name].append(time.perf_counter() - start)
    return found


def fake_impressions(
    ll: LearnLoop, tenant: str, count: int, items: list[int] | None = None
) -> list[uuid.UUID]:
    """Impressions of 3 items each, written directly (no search): item ids 1..5000, or
    ``items`` in turn."""
    ids = [uuid7() for _ in range(count)]
    pool = items or list(range(1, 5001))
    with ll.db.transaction() as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO impressions (tenant_id, impression_id, query, context, k, policy,"
            " policy_version, strategy, threshold) VALUES (%s, %s, 'q', %s, 3, 'similarity',"
            " '1', 'multiple_options', 0.5)",
            [(tenant, i, f'{{"segment": "{SEGMENTS[n % 3]}"}}') for n, i in enumerate(ids)],
        )
        cur.executemany(
            "INSERT INTO impression_items (tenant_id, impression_id, rank, item_id,"
            " item_version, score, similarity, confidence, propensity, shown)"
            " VALUES (%s, %s, %s, %s, 1, 0.5, 0.6, 0.9, 1, true)",
            [
                (tenant, i, r, pool[(n * 3 + r) % len(pool)])
                for n, i in enumerate(ids)
                for r in (1, 2, 3)
            ],
        )
    return ids


def time_updates(
    ll: LearnLoop, tenant: str, events: int, items: list[int] | None = None
) -> dict[str, float]:
    impressions = fake_impressions(ll, tenant, events // 3, items)
    while stats.update(ll.db) > 0:  # the shows
        pass
    batch: list[dict[str, Any]] = []
    kinds = ("clicked", "succeeded", "dismissed")
    recorded = 0.0
    for n, impression in enumerate(impressions):
        for rank in (1, 2, 3):
            batch.append({"type": kinds[(n + rank) % 3], "impression_id": impression, "rank": rank})
        if len(batch) >= 9_999:
            start = time.perf_counter()
            ll.events.record(tenant, batch)
            recorded += time.perf_counter() - start
            batch = []
    if batch:
        start = time.perf_counter()
        ll.events.record(tenant, batch)
        recorded += time.perf_counter() - start
    total, start = 0, time.perf_counter()
    while (n := stats.update(ll.db, limit=10_000)) > 0:
        total += n
    updated = time.perf_counter() - start
    return {
        "events": float(total),
        "record_per_s": total / recorded,
        "update_per_s": total / updated,
    }


def time_freshness(ll: LearnLoop, tenant: str, seconds: float, rate: int) -> list[float]:
    """Events at ``rate``/s for ``seconds`` while a worker thread runs the update every
    second; per batch, the time from its recording to the end of the first update that
    started after it (that update counted it: it drains what is pending)."""
    impressions = fake_impressions(ll, tenant, rate * int(seconds) // 3 + 1)
    while stats.update(ll.db) > 0:
        pass
    recorded: list[float] = []
    done: list[tuple[float, float]] = []  # (started, ended) of each update
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            while stats.update(ll.db) > 0:
                pass
            done.append((started, time.perf_counter()))
            stop.wait(max(0.0, 1.0 - (time.perf_counter() - started)))

    thread = threading.Thread(target=worker)
    thread.start()
    step, n = 0.1, 0
    per_batch = max(1, int(rate * step) // 3)
    begin = time.perf_counter()
    while time.perf_counter() - begin < seconds:
        chunk = impressions[n : n + per_batch]
        n += per_batch
        events = [{"type": "clicked", "impression_id": i, "rank": 1} for i in chunk]
        events += [{"type": "viewed", "impression_id": i, "rank": r} for i in chunk for r in (2, 3)]
        ll.events.record(tenant, events)
        recorded.append(time.perf_counter())
        time.sleep(max(0.0, begin + len(recorded) * step - time.perf_counter()))
    time.sleep(2.5)
    stop.set()
    thread.join()
    counted = [at for at in recorded if any(began >= at for began, _ in done)]
    return [min(end for began, end in done if began >= at) - at for at in counted]


def ms(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/learnloop-learning-bench"))
    args = parser.parse_args()
    with open_ll(args.data_dir) as ll:
        tenant = ll.tenants.create(f"bench-{uuid.uuid4().hex[:8]}").tenant_id
        arms = [Arm(i, 0.7 - 0.004 * i, "runbook") for i in range(1, 51)]
        fill_stats(ll, tenant, 5000)
        train_model(ll, tenant, arms, 5000)
        timings = time_policies(ll, tenant, arms, args.repeats)
        print(f"scoring 50 candidates, {args.repeats} requests (ms):")
        _, base95 = ms(timings["similarity"])
        for name, values in timings.items():
            p50, p95 = ms(values)
            print(
                f"  {name:<11} median {p50:6.3f}  p95 {p95:6.3f}"
                f"  adds p95 {p95 - base95:6.3f} vs similarity"
            )
        fresh = sorted(time_freshness(ll, tenant, 10.0, 5000))
        print(
            f"freshness at 5,000 events/s with the update every second: median"
            f" {statistics.median(fresh):.2f} s, p95 {fresh[int(0.95 * (len(fresh) - 1))]:.2f} s"
            f" from recording to statistics ({len(fresh)} batches)"
        )
        result = time_updates(ll, tenant, args.events)
        report("statistics", result)
        trained = ll.tenants.create(f"bench-{uuid.uuid4().hex[:8]}").tenant_id
        ll.learning.configure(trained, {"shadow": "contextual"})
        rows = [{"kind": "runbook", "title": f"runbook {n}", "body": "steps"} for n in range(50)]
        items = [item.item_id for item, _ in ll.items.put_many(trained, rows, embed=False)]
        report("statistics, contextual training on", time_updates(ll, trained, args.events, items))


def report(what: str, result: dict[str, float]) -> None:
    print(
        f"{what}: {result['events']:.0f} events; recorded {result['record_per_s']:,.0f}"
        f" events/s; update {result['update_per_s']:,.0f} events/s"
        f" (ratio update/record {result['update_per_s'] / result['record_per_s']:.2f};"
        f" {result['update_per_s'] / 5000:.1f}x the 5,000/s requirement)"
    )


if __name__ == "__main__":
    main()

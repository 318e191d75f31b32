"""Statistics update of two tenants: two workers at once against one alone.

    PYTHONPATH=src:. .venv/bin/python bench/stats_tenants_bench.py [--impressions 10000]
        [--runs 3] [--data-dir DIR]

Each run makes two fresh tenants with ``--impressions`` impressions of 3 items shown each
(written directly, as ``bench/learning_bench.py`` does; the triggers queue one pending row
per item shown), then runs ``stats.update`` until nothing is pending, either from one
thread (the tenants one after the other) or from two threads at once (each takes the
tenant the other does not hold). Runs of the two kinds alternate; the medians of the wall
times are printed, with the rows counted, which must be the same.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from pathlib import Path

from bench.learning_bench import fake_impressions, open_ll
from learnloop.learn import stats
from learnloop.service import LearnLoop


def drain(ll: LearnLoop, counted: list[int]) -> None:
    while (n := stats.update(ll.db, limit=10_000)) > 0:
        counted.append(n)


def run(ll: LearnLoop, impressions: int, threads: int) -> tuple[float, int]:
    for _ in range(2):
        tenant = ll.tenants.create(f"bench-{uuid.uuid4().hex[:8]}").tenant_id
        fake_impressions(ll, tenant, impressions)
    counted: list[int] = []
    workers = [threading.Thread(target=drain, args=(ll, counted)) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start, sum(counted)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impressions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/learnloop-tenants-bench"))
    args = parser.parse_args()
    with open_ll(args.data_dir) as ll:
        drain(ll, [])  # whatever an earlier run left
        times: dict[int, list[float]] = {1: [], 2: []}
        rows: dict[int, set[int]] = {1: set(), 2: set()}
        for _ in range(args.runs):
            for threads in (1, 2):
                seconds, counted = run(ll, args.impressions, threads)
                times[threads].append(seconds)
                rows[threads].add(counted)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f"two tenants, {args.impressions * 3:,} items shown each, {args.runs} runs:")
    print(f"  one worker (one tenant after the other): median {one:.2f} s, rows {rows[1]}")
    print(f"  two workers at once:                     median {two:.2f} s, rows {rows[2]}")
    print(f"  speed-up {one / two:.2f}x")


if __name__ == "__main__":
    main()

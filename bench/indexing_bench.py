"""Indexing benchmark: items stored, then embedded by the worker from the change log.

    .venv/bin/python bench/indexing_bench.py [--items 2000] [--texts runbooks|questions]
                                             [--latency-writes 40] [--data-dir DIR]

Runs on its own embedded database (``--data-dir``, default a fresh temporary folder) with
the real model. Item texts, read in place: ``runbooks`` are the Markdown runbooks of
../shared/data/runbooks (long: the model reads the first 256 tokens of each),
``questions`` the customer-support questions of ../shared/data/banking77/train.csv (short,
one sentence: the size of FAQ rows or table rows). Cycled with a number so every item is
distinct.

Measured:

* end to end: ``put_many(..., embed=False)`` of ``--items`` items in batches of 500 (what
  an import does), then the worker's job, ``Indexer.embed_changes``, until the tenant's
  index is ready. items/s = items / (store + embed) wall time. In-run baseline: the
  embedder alone (``embed``) on the same texts in batches of the same size, so the ratio
  says what the change log, the claims and the vector writes cost on top of the model.
* commit to searchable: ``learnloop worker`` runs in a subprocess on the same database;
  ``--latency-writes`` items are stored one at a time without a vector, and each is timed
  from its commit until its vector is written (polled every 10 ms). In-run baseline: a
  single write with its vector computed inline (``Items.put``), the synchronous path.

Medians and 95th percentiles; the machine is shared and noisy, so compare runs by ratio.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNBOOKS = ROOT.parent / "shared" / "data" / "runbooks"


def questions() -> list[tuple[str, str]]:
    with (ROOT.parent / "shared" / "data" / "banking77" / "train.csv").open(encoding="utf-8") as f:
        return [(row["text"], row["category"].replace("_", " ")) for row in csv.DictReader(f)]


def texts() -> list[tuple[str, str]]:
    found = []
    for path in sorted(RUNBOOKS.rglob("*.md")):
        body = path.read_text("utf-8", errors="replace")
        title = next(
            (line.lstrip("# ").strip() for line in body.splitlines() if line.strip()), path.stem
        )
        found.append((title or path.stem, body[:4000]))
    if not found:
        sys.exit(f"no runbooks under {RUNBOOKS}")
    return found


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--texts", choices=["runbooks", "questions"], default="runbooks")
    parser.add_argument("--latency-writes", type=int, default=40)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="learnloop-indexing-bench-"))
    os.environ["LEARNLOOP_DATA_DIR"] = str(data_dir)
    os.environ.pop("DATABASE_URL", None)

    from learnloop.knowledge.models import embedding_text
    from learnloop.service import LearnLoop
    from learnloop.settings import Settings

    corpus = texts() if args.texts == "runbooks" else questions()
    print(f"{len(corpus)} {args.texts} texts; {args.items} items; data dir {data_dir}")
    with LearnLoop.open(Settings()) as ll:
        tenant = ll.tenants.ensure(f"bench-{int(time.time())}", "indexing bench").tenant_id
        rows = [
            {
                "kind": "runbook",
                "external_id": f"rb-{n}",
                "title": f"{corpus[n % len(corpus)][0]} #{n}",
                "body": corpus[n % len(corpus)][1],
            }
            for n in range(args.items)
        ]
        batch = ll.settings.embed_batch

        # Baseline: the model alone on the same texts, same batch size.
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            ll.embedder.embed([embedding_text(r["title"], r["body"]) for r in chunk])
        model_s = time.perf_counter() - started

        started = time.perf_counter()
        for start in range(0, len(rows), 500):
            ll.items.put_many(tenant, rows[start : start + 500], embed=False)
        stored_s = time.perf_counter() - started
        embedded = ll.indexer.embed_changes(tenant)
        total_s = time.perf_counter() - started
        assert embedded == args.items and ll.indexer.status(tenant).state == "ready"
        print(f"store without vectors: {args.items / stored_s:,.0f} items/s ({stored_s:.2f} s)")
        print(
            f"end to end (store + worker embedding): {args.items / total_s:,.1f} items/s "
            f"({total_s:.1f} s)"
        )
        print(
            f"baseline, the model alone: {args.items / model_s:,.1f} items/s "
            f"({model_s:.1f} s); end to end is {model_s / total_s:.2f}x of it"
        )

        # Commit to searchable with a worker running.
        env = os.environ | {"LEARNLOOP_DATA_DIR": str(data_dir)}
        learnloop = str(Path(sys.executable).with_name("learnloop"))
        worker = subprocess.Popen(
            [learnloop, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            ll.items.put_many(tenant, [{"kind": "faq", "title": "warm-up"}], embed=False)
            deadline = time.monotonic() + 120
            while ll.indexer.status(tenant).state != "ready":
                if time.monotonic() > deadline:
                    sys.exit("the worker did not start within 120 s")
                time.sleep(0.1)
            latencies, inline = [], []
            for n in range(args.latency_writes):
                title, body = corpus[n % len(corpus)]
                started = time.perf_counter()
                ll.items.put(tenant, {"kind": "faq", "title": f"inline {n} {title}", "body": body})
                inline.append(time.perf_counter() - started)
                queued = {"kind": "faq", "title": f"queued {n} {title}", "body": body}
                ((item, _),) = ll.items.put_many(tenant, [queued], embed=False)
                committed = time.perf_counter()
                while True:
                    with ll.db.connection() as conn:
                        row = conn.execute(
                            "SELECT embedded_hash = content_hash AS done FROM items "
                            "WHERE tenant_id = %s AND item_id = %s",
                            (tenant, item.item_id),
                        ).fetchone()
                    if row and row["done"]:
                        break
                    time.sleep(0.01)
                latencies.append(time.perf_counter() - committed)
                time.sleep(0.1)
        finally:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        p50, p95 = statistics.median(latencies), pct(latencies, 0.95)
        print(
            f"commit to searchable, worker running: p50 {p50 * 1000:.0f} ms, "
            f"p95 {p95 * 1000:.0f} ms ({len(latencies)} writes)"
        )
        base = statistics.median(inline)
        print(
            f"baseline, write with the vector inline: p50 {base * 1000:.0f} ms, "
            f"p95 {pct(inline, 0.95) * 1000:.0f} ms; commit-to-searchable p50 is "
            f"{p50 / base:.1f}x of it"
        )
    if args.data_dir is None:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

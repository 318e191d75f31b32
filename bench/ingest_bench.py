"""Ingest benchmark: parse + store rows/s, against parsing alone in the same run.

    .venv/bin/python bench/ingest_bench.py [--rows 20000] [--repeats 3] [--data-dir DIR]
                                           [--on-duplicate off|warn|skip|merge]

Two generated files, each imported ``--repeats`` times into a fresh tenant (so every row
is new and stored, none skipped as unchanged):

* ``table.csv``: a generic table (id, title, category, value, notes) -> one ``document``
  item per row, stored without a vector (the worker embeds later), the duplicate check off
  unless ``--on-duplicate`` says otherwise (then each row is embedded and compared first);
* ``kpis.csv``: a KPI CSV (kpi_name, value, category, account_name, weight, impact) over
  500 accounts -> accounts, appended KPI values and the health score of every account.

For each: the median time of ``Imports.import_file`` (read, detect, map, validate, store,
commit: parse + store) and, interleaved with it, of ``parse_file`` alone (read, detect,
map, validate; no database). Prints rows/s for both and their ratio. Uses the embedded
PostgreSQL in ``--data-dir`` (default /tmp/learnloop-ingest-bench) unless DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

from learnloop.ingest.service import parse_file
from learnloop.service import LearnLoop
from learnloop.settings import Settings


def table_csv(rows: int, salt: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "title", "category", "value", "notes"])
    for n in range(rows):
        writer.writerow(
            [
                f"{salt}-{n}",
                f"Order {n} delayed at the warehouse",
                f"cat{n % 17}",
                f"{n * 1.5:.1f}",
                f"customer {n % 991} asked about parcel {n} ({salt})",
            ]
        )
    return out.getvalue().encode()


def kpi_csv(rows: int, salt: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["kpi_name", "value", "category", "account_name", "weight", "impact"])
    for n in range(rows):
        writer.writerow(
            [
                f"kpi {n % 40}",
                f"{(n * 7) % 100},5",
                f"cat{n % 5}",
                f"Account {salt} {n % 500}",
                n % 3 + 1,
                ("low", "medium", "high")[n % 3],
            ]
        )
    return out.getvalue().encode()


def timed(fn: Callable[..., object], *args: object) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def run(
    ll: LearnLoop,
    name: str,
    make: Callable[[int, str], bytes],
    rows: int,
    repeats: int,
    on_duplicate: str = "off",
) -> None:
    parse_s, store_s = [], []
    for _ in range(repeats):
        data = make(rows, uuid.uuid4().hex[:8])
        tenant = ll.tenants.create(f"bench-{uuid.uuid4().hex[:10]}").tenant_id
        parse_s.append(timed(parse_file, data, name))
        options = {"on_duplicate": on_duplicate}
        store_s.append(timed(ll.imports.import_file, tenant, data, name, options))
    parse_rate = rows / statistics.median(parse_s)
    store_rate = rows / statistics.median(store_s)
    print(
        f"{name}: {rows} rows x {repeats}: parse+store {store_rate:,.0f} rows/s "
        f"(median {statistics.median(store_s):.2f} s); parse alone {parse_rate:,.0f} rows/s "
        f"(median {statistics.median(parse_s):.2f} s); parse+store / parse = "
        f"{store_rate / parse_rate:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/learnloop-ingest-bench"))
    parser.add_argument(
        "--on-duplicate",
        default="off",
        choices=["off", "warn", "skip", "merge"],
        help="the import's duplicate check: off (default here: no vectors, the worker embeds "
        "later) or warn, skip, merge (each new item row embedded and compared)",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    settings = (
        Settings(data_dir=args.data_dir) if not os.environ.get("DATABASE_URL") else (Settings())
    )
    with LearnLoop.open(settings) as ll:
        if args.on_duplicate != "off":
            ll.embedder.embed(["the model loaded before the clock starts, as in a server"])
        run(ll, "table.csv", table_csv, args.rows, args.repeats, args.on_duplicate)
        run(ll, "kpis.csv", kpi_csv, args.rows, args.repeats)


if __name__ == "__main__":
    main()

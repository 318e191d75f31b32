"""Interactions benchmark: recommend at 100k items, and events through the real HTTP server.

    .venv/bin/python bench/interactions_bench.py [--queries 300] [--data-dir DIR] [--no-doc]

Reuses the 100,000-item database of ``bench/search_bench.py`` (``--data-dir``, default
/tmp/learnloop-bench); when its rows are missing, that benchmark is run first (``--no-doc``,
a few minutes) to build them. Each run first deletes what an earlier run of this benchmark
logged for the bench tenants (impressions, events, event keys), so runs start alike.

Measured:

* ``Recommender.recommend`` for the big tenant (99,000 items) with banking77 questions read
  in place from ../shared/data/banking77/train.csv: the query embedding, the hybrid search,
  the policy and the impression write with its 10 candidates, as an application calls it
  in-process. In-run baselines, interleaved query by query: the query embedding alone
  (``embed_query``), the hybrid search alone with the vector ready (``search_vector``), and a
  ``SELECT 1`` through the same pool.
* Recommend over HTTP (``--recommend-servers``, default 2; 0 skips it): that many
  ``learnloop serve`` processes, each on its own port, the client sending to them in turn,
  and a real ``learnloop worker`` started afresh for each phase of ``--recommend-phases``
  (default ``idle,busy:nice=0,busy``): idle, or kept busy re-embedding and re-indexing the
  items of the ``bench-busy`` tenant (2,000 items, made once, edited in turn by a side
  thread so the change log always holds 128-256 of them). ``POST /v1/recommend`` with a
  question, open loop at ``--recommend-rate`` from ``--recommend-clients`` threads,
  ``--recommend-requests`` a phase; p50/p95/p99, the ratio to the idle worker's, the CPU
  of the servers, the worker, PostgreSQL and the client, the worker's niceness, the items
  it embedded and the load average (bench/recommend_http.py). ``--recommend-only`` stops
  after the recommend figures.
* The HTTP API served for real: uvicorn in a subprocess on a free 127.0.0.1 port
  (``--server serve`` runs ``learnloop serve`` instead), joined to the same database, with an
  API key of the big tenant; httpx as the client. Events name the impressions logged above
  and the items they showed; a quarter carry idempotency keys.

  - batches: ``POST /v1/events`` with ``{"events": [...]}`` of 1,000, 5,000 and 10,000
    events, from one and from two client threads, each sending batch after batch;
    events/s = events stored / wall time (request, server, database, answer read and
    parsed), the median of ``--batch-repeats`` interleaved runs. A batch sent twice shows
    its keyed events as duplicates.
  - single events: ``POST /v1/events`` with one event a request, from several client
    processes with several threads each (keep-alive connections); requests/s = requests
    answered 200 / wall time, bounded by ``--single-requests`` and ``--single-seconds``.

Figures are medians and 95th percentiles; the machine is shared and noisy, so each has an
in-run baseline to compare runs by ratio (``GET /health`` for HTTP: one request, one
``SELECT 1``), and the CPU time that the server process, PostgreSQL's processes and the
clients spent per event or request is read from /proc: it moves less than the timings.
The server, the database and the clients share the machine's cores.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import recommend_http  # noqa: E402

BANKING77 = ROOT.parent / "shared" / "data" / "banking77" / "train.csv"
DOC = ROOT / "docs" / "benchmarks.md"
BIG, SMALL = "bench-big", "bench-small"
BUSY = "bench-busy"  # the tenant whose items the busy worker re-embeds
BUSY_TEXTS = 600  # questions the busy tenant's items are made of (the last of the list)
BEGIN, END = "<!-- interactions-bench:begin -->", "<!-- interactions-bench:end -->"
TARGETS = {"recommend_p95_ms": 40.0, "batch_events_per_s": 50_000.0, "single_per_s": 2_000.0}
BASE_TEXTS = 4000  # the questions search_bench.py embeds for its items; queries come after
EVENT_TYPES = ("viewed", "clicked", "executed", "succeeded", "failed", "dismissed")


def main() -> int:
    args = _args()
    warnings.simplefilter("ignore")  # pgserver/platformdirs warn where XDG_RUNTIME_DIR is unset
    from learnloop.service import LearnLoop
    from learnloop.settings import Settings

    started = time.perf_counter()
    _ensure_bench_data(args.data_dir)
    phases = recommend_http.parse_phases(args.recommend_phases)
    http_opts = recommend_http.Options(
        rate=args.recommend_rate,
        requests=args.recommend_requests,
        clients=args.recommend_clients,
        busy_items=args.busy_items,
    )
    http_need = (
        http_opts.warmup * args.recommend_servers
        + len(phases) * args.recommend_rounds * http_opts.requests
        if args.recommend_servers
        else 0
    )
    everything = _questions(args.seed, args.queries + args.warmup + http_need + BUSY_TEXTS)
    questions = everything[: args.queries + args.warmup]
    http_questions = everything[len(questions) : len(questions) + http_need]
    busy_texts = everything[-BUSY_TEXTS:]
    ll = LearnLoop.open(Settings(data_dir=args.data_dir, database_url=None))
    results: dict[str, Any] = {}
    try:
        _forget_earlier_runs(ll)
        print(f"# data ready in {time.perf_counter() - started:.0f} s", flush=True)
        results["recommend"] = _measure_recommend(ll, questions, args.warmup)
        print(_recommend_line(results["recommend"]), flush=True)
        key = ll.keys.create(BIG, "interactions-bench").key
        if args.recommend_servers:
            results["recommend_http"] = _measure_recommend_http(
                ll, key, http_questions, busy_texts, phases, http_opts, args
            )
            for line in recommend_http.summary(results["recommend_http"]):
                print(line, flush=True)
        if args.recommend_only:
            return 0
        shown = _impressions(ll, BIG)
        if args.wrk:
            for line in _measure_wrk(key, shown, args):
                print(line, flush=True)
            return 0
        with _server(args) as (base_url, server_pid):
            meter = CpuMeter(server_pid, args.data_dir)
            results["health"] = _measure_health(base_url, key, args.health_requests, meter)
            print(_health_line(results["health"]), flush=True)
            results["batches"] = _measure_batches(base_url, key, shown, args, meter)
            results["single"] = _measure_single(base_url, key, shown, args, meter)
            print(_single_line(results["single"]), flush=True)
        results["env"] = _environment(ll, args)
    finally:
        ll.close()

    lines = _lines(results)
    print("# summary")
    for line in lines:
        print(line)
    if not args.no_doc:
        _write_doc(args.doc, results, lines, args)
        print(f"# wrote {args.doc}")
    return 0


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--queries", type=int, default=300, help="recommend calls measured")
    p.add_argument("--warmup", type=int, default=20, help="recommend calls before measuring")
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/learnloop-bench"))
    p.add_argument("--seed", type=int, default=77, help="as search_bench.py's, for its queries")
    p.add_argument(
        "--server",
        choices=("uvicorn", "serve"),
        default="uvicorn",
        help="uvicorn: 'uvicorn --factory learnloop.api:create_app --no-access-log'; "
        "serve: 'learnloop serve' (logs every request)",
    )
    p.add_argument(
        "--recommend-servers",
        type=int,
        default=2,
        help="recommend over HTTP through this many 'learnloop serve' processes, with a "
        "'learnloop worker' idle or busy (bench/recommend_http.py); 0: not measured",
    )
    p.add_argument(
        "--recommend-phases",
        default="idle,busy:nice=0,busy",
        help="the worker in each window: idle or busy, with :nice=N (default: the setting's) "
        "and :threads=N (its LEARNLOOP_EMBED_BATCH_THREADS), comma-separated",
    )
    p.add_argument("--recommend-rounds", type=int, default=1, help="the phases, interleaved")
    p.add_argument("--recommend-rate", type=float, default=20.0, help="requests/s, open loop")
    p.add_argument("--recommend-requests", type=int, default=200, help="per phase")
    p.add_argument("--recommend-clients", type=int, default=4, help="client threads")
    p.add_argument("--busy-items", type=int, default=2000, help="the busy tenant's items")
    p.add_argument("--recommend-only", action="store_true", help="stop after the recommend figures")
    p.add_argument("--health-requests", type=int, default=300)
    p.add_argument(
        "--batch-sizes",
        type=_ints,
        default="1000,5000,10000",
        help="events a batch, comma-separated",
    )
    p.add_argument(
        "--batch-clients",
        type=_ints,
        default="1,2",
        help="client threads sending batches at once, comma-separated: each is a run",
    )
    p.add_argument(
        "--batch-repeats", type=int, default=3, help="runs of each size and client count"
    )
    p.add_argument("--batch-events", type=int, default=100_000, help="events sent per run")
    p.add_argument("--single-requests", type=int, default=8000, help="single-event requests")
    p.add_argument("--single-seconds", type=float, default=60.0, help="stop sending after this")
    p.add_argument("--single-procs", type=int, default=2, help="client processes")
    p.add_argument("--single-threads", type=int, default=8, help="threads per client process")
    p.add_argument("--keyed-share", type=float, default=0.25, help="events with a key")
    p.add_argument(
        "--wrk",
        action="store_true",
        help="single events only, loaded by wrk against 'learnloop serve --workers N' for "
        "each N of --server-workers, with GET /health as the baseline (prints only)",
    )
    p.add_argument("--server-workers", type=_ints, default="1,2", help="with --wrk")
    p.add_argument("--wrk-threads", type=int, default=2, help="with --wrk")
    p.add_argument("--wrk-connections", type=int, default=32, help="with --wrk")
    p.add_argument("--wrk-seconds", type=int, default=15, help="with --wrk: each run")
    p.add_argument("--doc", type=Path, default=DOC)
    p.add_argument("--no-doc", action="store_true", help="print only; leave the doc alone")
    return p.parse_args()


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


# --- data -----------------------------------------------------------------------------------


def _ensure_bench_data(data_dir: Path) -> None:
    """Build the 100k-item database with search_bench.py when its rows are not there."""
    if _bench_rows(data_dir) >= 99_000:
        return
    print("# the 100k-item data is missing: running bench/search_bench.py --no-doc", flush=True)
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "search_bench.py"),
            "--no-doc",
            "--data-dir",
            str(data_dir),
        ],
        check=True,
    )
    if _bench_rows(data_dir) < 99_000:
        sys.exit("bench/search_bench.py ran but the big tenant has no 99,000 rows")


def _bench_rows(data_dir: Path) -> int:
    if not (data_dir / "pgdata").exists():
        return 0
    import psycopg

    from learnloop.db.embedded import embedded_url

    with psycopg.connect(embedded_url(data_dir / "pgdata")) as conn:
        exists = conn.execute("SELECT to_regclass('items') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return 0
        row = conn.execute("SELECT count(*) FROM items WHERE tenant_id = %s", (BIG,)).fetchone()
    return int(row[0]) if row else 0


def _questions(seed: int, n: int) -> list[str]:
    """banking77 questions that are not items: search_bench.py's order, after its items."""
    with BANKING77.open(newline="", encoding="utf-8") as f:
        seen = {row["text"].strip(): row["category"] for row in csv.DictReader(f)}
    rows = sorted((t, c) for t, c in seen.items() if t)
    order = np.random.default_rng(seed).permutation(len(rows))
    texts = [rows[i][0] for i in order][BASE_TEXTS:]
    if len(texts) < n:
        sys.exit(f"banking77 has {len(texts)} questions after the items; asked for {n}")
    return texts[:n]


def _forget_earlier_runs(ll: Any) -> None:
    """Delete what earlier runs logged for the bench tenants, so every run starts alike."""
    tenants = [BIG, SMALL]
    with ll.db.connection() as conn:
        for table in ("events", "event_keys", "feedback", "corrections", "impressions"):
            conn.execute(
                f"DELETE FROM {table} WHERE tenant_id = ANY(%s)".encode(),  # fixed table names
                (tenants,),
            )
        conn.execute(
            "DELETE FROM api_keys WHERE tenant_id = ANY(%s) AND name = %s",
            (tenants, "interactions-bench"),
        )
        for table in ("events", "event_keys", "impressions", "impression_items"):
            conn.execute(f"VACUUM ANALYZE {table}".encode())


def _impressions(ll: Any, tenant: str) -> list[tuple[str, str | None, list[tuple[int, int]]]]:
    """The tenant's impressions: id, session and the (item_id, rank) pairs shown."""
    with ll.db.connection() as conn:
        rows = conn.execute(
            "SELECT i.impression_id, i.session_id, "
            "       coalesce(array_agg(ii.item_id ORDER BY ii.rank) FILTER (WHERE ii.shown), "
            "                '{}') AS items, "
            "       coalesce(array_agg(ii.rank ORDER BY ii.rank) FILTER (WHERE ii.shown), "
            "                '{}') AS ranks "
            "FROM impressions AS i "
            "LEFT JOIN impression_items AS ii USING (tenant_id, impression_id) "
            "WHERE i.tenant_id = %s GROUP BY i.impression_id, i.session_id",
            (tenant,),
        ).fetchall()
    return [
        (str(r["impression_id"]), r["session_id"], list(zip(r["items"], r["ranks"], strict=True)))
        for r in rows
    ]


class EventMaker:
    """Events naming real impressions and the items they showed; some keyed, some dated."""

    def __init__(
        self,
        shown: list[tuple[str, str | None, list[tuple[int, int]]]],
        seed: int,
        keyed_share: float,
        session_share: float = 0.0,
    ):
        self.shown = shown
        self.rng = random.Random(seed)
        self.keyed_share = keyed_share
        self.session_share = session_share
        self.run = uuid.uuid4().hex[:8]
        self.n = 0
        self.keyed = 0

    def event(self) -> dict[str, Any]:
        rng = self.rng
        impression_id, session, items = self.shown[rng.randrange(len(self.shown))]
        kind = rng.choice(EVENT_TYPES)
        event: dict[str, Any] = {"type": kind}
        if session and rng.random() < self.session_share:
            event["session"] = session  # its latest impression
        else:
            event["impression_id"] = impression_id
            if items and kind != "viewed":
                item_id, rank = rng.choice(items)
                event["item_id"] = item_id
                if rng.random() < 0.5:
                    event["rank"] = rank
        if rng.random() < 0.3:
            ago = dt.timedelta(seconds=rng.randrange(1, 3600))
            event["occurred_at"] = (dt.datetime.now(dt.UTC) - ago).isoformat()
        if rng.random() < 0.2:
            event["metadata"] = {"source": "bench", "latency_ms": rng.randrange(1, 500)}
        if rng.random() < self.keyed_share:
            event["idempotency_key"] = f"bench-{self.run}-{self.n}"
            self.keyed += 1
        self.n += 1
        return event

    def events(self, n: int) -> list[dict[str, Any]]:
        return [self.event() for _ in range(n)]


# --- recommend ------------------------------------------------------------------------------


def _measure_recommend_http(
    ll: Any,
    key: str,
    questions: list[str],
    busy_texts: list[str],
    phases: list[Any],
    opts: Any,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Recommend through ``--recommend-servers`` processes with a worker idle or busy."""
    env = os.environ | {"LEARNLOOP_DATA_DIR": str(args.data_dir)}
    env.pop("DATABASE_URL", None)
    env.pop("LEARNLOOP_DATABASE_URL", None)
    with ll.db.connection() as conn:  # the busy tenant's re-indexing leaves dead index rows
        dead = conn.execute(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'items'"
        ).fetchone()
    if dead and dead["n_dead_tup"] > 5000:
        t0 = time.perf_counter()
        with ll.db.connection() as conn:
            conn.execute("VACUUM items")
        print(
            f"# VACUUM items ({dead['n_dead_tup']} dead rows): {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    print(
        f"# recommend over HTTP: {args.recommend_servers} servers, phases "
        f"{', '.join(p.name for p in phases)}; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return recommend_http.measure(
        ll,
        env,
        phases,
        n_servers=args.recommend_servers,
        key=key,
        questions=questions,
        busy_tenant=BUSY,
        texts=busy_texts,
        opts=opts,
        logs=args.data_dir,
        rounds=args.recommend_rounds,
    )


class _TimedStore:
    """The recommender's own store, timed: the threshold read and the impression write
    (the search has its store of its own, and is timed apart)."""

    def __init__(self, db: Any):
        self.db = db
        self.spent: dict[str, float] = {"connection": 0.0, "transaction": 0.0}

    @contextmanager
    def connection(self) -> Iterator[Any]:
        t0 = time.perf_counter()
        try:
            with self.db.connection() as conn:
                yield conn
        finally:
            self.spent["connection"] += time.perf_counter() - t0

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        t0 = time.perf_counter()
        try:
            with self.db.transaction() as conn:
                yield conn
        finally:
            self.spent["transaction"] += time.perf_counter() - t0


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000.0, out


def _measure_recommend(ll: Any, questions: list[str], warmup: int) -> dict[str, Any]:
    recommender, search, embedder = ll.recommender, ll.search, ll.embedder
    timed_store = _TimedStore(recommender.db)
    recommender.db = timed_store

    def ping() -> None:
        with ll.db.connection() as conn:
            conn.execute("SELECT 1").fetchone()

    def recommend(i: int, text: str) -> Any:
        context = {"session": f"bench-s{i % 50}", "user": f"bench-u{i % 200}"}
        return recommender.recommend(BIG, {"query": text, "k": 3, "context": context})

    for i, text in enumerate(questions[:warmup]):
        vector = embedder.embed_query(text)
        search.search_vector(BIG, vector, text, k=10)
        recommend(i, text)
        ping()
    times: dict[str, list[float]] = {
        k: [] for k in ("ping", "embed", "search", "recommend", "threshold", "write")
    }
    strategies: dict[str, int] = {}
    shown = 0
    for i, text in enumerate(questions[warmup:], warmup):
        times["ping"].append(_timed(ping)[0])
        ms, vector = _timed(lambda text=text: embedder.embed_query(text))
        times["embed"].append(ms)
        ms, _ = _timed(lambda v=vector, text=text: search.search_vector(BIG, v, text, k=10))
        times["search"].append(ms)
        timed_store.spent = {"connection": 0.0, "transaction": 0.0}
        ms, answer = _timed(lambda i=i, text=text: recommend(i, text))
        times["recommend"].append(ms)
        times["threshold"].append(timed_store.spent["connection"] * 1000.0)
        times["write"].append(timed_store.spent["transaction"] * 1000.0)
        strategies[answer.strategy] = strategies.get(answer.strategy, 0) + 1
        shown += len(answer.recommendations)
    recommender.db = timed_store.db
    out: dict[str, Any] = {name: _stats(ms) for name, ms in times.items()}
    parts = np.array(times["embed"]) + np.array(times["search"])
    out["embed_plus_search"] = _stats(list(parts))
    rest = np.array(times["recommend"]) - parts
    out["rest"] = _stats(list(rest))
    out["strategies"] = strategies
    out["shown_per_impression"] = shown / len(times["recommend"])
    return out


# --- the server -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class CpuMeter:
    """CPU seconds used by the server process and by the database's processes (the
    postmaster's children: backends, WAL writer, checkpointer...), read from /proc."""

    def __init__(self, server_pid: int, data_dir: Path):
        self.server_pid = server_pid
        self.postmaster = int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
        self.tick = os.sysconf("SC_CLK_TCK")

    def _cpu(self, pid: int) -> tuple[int, float]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0, 0.0
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / self.tick

    def snapshot(self) -> dict[str, float]:
        """{"server": s, "postgres": s, "wall": s}: the server figure sums the server process
        and its children (uvicorn's workers), the postgres one every process under the
        postmaster (backends, WAL writer, checkpointer...); ended processes drop out, so
        a snapshot is taken while the pool's connections and the workers live."""
        cpu: dict[int, float] = {}
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                ppid, used = self._cpu(int(entry.name))
                cpu[int(entry.name)] = used
                children.setdefault(ppid, []).append(int(entry.name))
        server, todo = 0.0, [self.server_pid]
        while todo:
            pid = todo.pop()
            server += cpu.get(pid, 0.0)
            todo.extend(children.get(pid, []))
        postgres = cpu.get(self.postmaster, 0.0)
        postgres += sum(cpu.get(pid, 0.0) for pid in children.get(self.postmaster, []))
        return {"server": server, "postgres": postgres, "wall": time.monotonic()}

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before[k] for k in before}


def _client_cpu() -> float:
    times = os.times()
    return times.user + times.system


@contextmanager
def _server(args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    """The API in a subprocess on a free loopback port, joined to the bench database."""
    import httpx

    port = _free_port()
    env = os.environ | {"LEARNLOOP_DATA_DIR": str(args.data_dir)}
    env.pop("DATABASE_URL", None)
    env.pop("LEARNLOOP_DATABASE_URL", None)
    if args.server == "serve":
        cmd = [str(Path(sys.executable).parent / "learnloop"), "serve", "--port", str(port)]
    else:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "learnloop.api:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    log = open(args.data_dir / "interactions-bench-server.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}; see {log.name}")
            try:
                if httpx.get(base_url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer in 120 s; see {log.name}")
            time.sleep(0.3)
        print(
            f"# server up: {' '.join(cmd[1:] if args.server == 'uvicorn' else cmd[-4:])} "
            f"(pid {proc.pid})",
            flush=True,
        )
        yield base_url, proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _measure_health(base_url: str, key: str, n: int, meter: CpuMeter) -> dict[str, Any]:
    """One client, one request at a time: the framework's own cost, the floor under any
    route (``GET /health``: one ``SELECT 1``), and a key lookup with one query."""
    import httpx

    out: dict[str, Any] = {}
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as client:
        for path in ("/health", "/v1/tenant"):
            for _ in range(20):
                client.get(path).raise_for_status()
            cpu0, client0 = meter.snapshot(), _client_cpu()
            ms = [
                _timed(lambda path=path: client.get(path).raise_for_status())[0] for _ in range(n)
            ]
            cpu = meter.spent(cpu0, meter.snapshot()) | {"client": _client_cpu() - client0}
            cpu_us = {k: v / n * 1e6 for k, v in cpu.items() if k != "wall"}
            out[path.rsplit("/", 1)[1]] = _stats(ms) | {"cpu_us_per_request": cpu_us}
    return out


# --- batches --------------------------------------------------------------------------------


def _measure_batches(
    base_url: str, key: str, shown: list[Any], args: argparse.Namespace, meter: CpuMeter
) -> dict[str, Any]:
    import httpx

    maker = EventMaker(shown, args.seed, args.keyed_share, session_share=0.02)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    out: dict[str, Any] = {"runs": []}
    clients = [
        httpx.Client(base_url=base_url, headers=headers, timeout=120)
        for _ in range(max(args.batch_clients))
    ]
    try:
        _post_batch(clients[0], json.dumps({"events": maker.events(1000)}).encode())  # warm-up
        done: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for repeat in range(args.batch_repeats):  # interleaved, so the noise falls on all
            for size in args.batch_sizes:
                for n_clients in args.batch_clients:
                    count = max(n_clients, args.batch_events // size)
                    bodies = [
                        json.dumps({"events": maker.events(size)}).encode() for _ in range(count)
                    ]
                    cpu0, client0 = meter.snapshot(), _client_cpu()
                    run = _send_batches(clients[:n_clients], bodies)
                    cpu = meter.spent(cpu0, meter.snapshot())
                    run["cpu"] = cpu | {"client": _client_cpu() - client0}
                    run["body_bytes"] = sum(len(b) for b in bodies)
                    done.setdefault((size, n_clients), []).append(run)
                    print(
                        f"# batches of {size}, {n_clients} client(s), run {repeat + 1}: "
                        f"{run['stored'] / run['wall_s']:,.0f} events/s",
                        flush=True,
                    )
        for (size, n_clients), runs in done.items():
            out["runs"].append(_batch_summary(size, n_clients, runs))
        # A retried batch: its keyed events are duplicates, the others are stored again.
        size = min(args.batch_sizes)
        events = maker.events(size)
        body = json.dumps({"events": events}).encode()
        first, again = _post_batch(clients[0], body), _post_batch(clients[0], body)
    finally:
        for client in clients:
            client.close()
    keyed = sum("idempotency_key" in e for e in events)
    out["retry"] = {
        "events": size,
        "keyed": keyed,
        "first": {k: first[k] for k in ("stored", "duplicates", "errors")},
        "again": {k: again[k] for k in ("stored", "duplicates", "errors")},
        "ok": first["stored"] == size
        and again["duplicates"] == keyed
        and again["stored"] == size - keyed,
    }
    out["keyed_share"] = maker.keyed / max(1, maker.n)
    return out


def _post_batch(client: Any, body: bytes) -> dict[str, Any]:
    response = client.post("/v1/events", content=body)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    if answer["errors"]:
        bad = [r for r in answer["results"] if r["status"] == "error"][:3]
        raise RuntimeError(f"events refused: {bad}")
    return answer


def _send_batches(clients: list[Any], bodies: list[bytes]) -> dict[str, Any]:
    """Every body posted once, each client thread sending its share one after another."""
    import threading

    latencies: list[float] = []
    totals = {"stored": 0, "duplicates": 0}
    lock = threading.Lock()

    def send(client: Any, mine: list[bytes]) -> None:
        for body in mine:
            ms, answer = _timed(lambda body=body: _post_batch(client, body))
            with lock:
                latencies.append(ms)
                totals["stored"] += answer["stored"]
                totals["duplicates"] += answer["duplicates"]

    threads = [
        threading.Thread(target=send, args=(client, bodies[n :: len(clients)]))
        for n, client in enumerate(clients)
    ]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    if len(latencies) != len(bodies):
        raise RuntimeError(f"{len(bodies) - len(latencies)} batches failed")
    return {**totals, "wall_s": wall, "latencies": latencies}


def _batch_summary(size: int, clients: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs of one batch size and client count: the median run's events/s, the
    latencies of all their requests, CPU time per event over all of them."""
    rates = sorted(run["stored"] / run["wall_s"] for run in runs)
    stored = sum(run["stored"] for run in runs)
    cpu: dict[str, float] = {}
    for run in runs:
        for k, v in run["cpu"].items():
            if k != "wall":
                cpu[k] = cpu.get(k, 0.0) + v
    latencies = [ms for run in runs for ms in run["latencies"]]
    return {
        "size": size,
        "clients": clients,
        "repeats": len(runs),
        "batches": len(latencies),
        "stored": stored,
        "duplicates": sum(run["duplicates"] for run in runs),
        "events_per_s": float(statistics.median(rates)),
        "events_per_s_range": (rates[0], rates[-1]),
        "wall_s": sum(run["wall_s"] for run in runs),
        "body_kb": sum(run["body_bytes"] for run in runs) / len(latencies) / 1024,
        "cpu_us_per_event": {k: v / max(1, stored) * 1e6 for k, v in cpu.items()},
        **_stats(latencies),
    }


# --- single events --------------------------------------------------------------------------


def _single_worker(
    base_url: str,
    key: str,
    bodies: list[list[bytes]],
    deadline_s: float,
    start: Any,
    queue: Any,
) -> None:
    """One client process: a thread per list of bodies, each with its own connection."""
    import threading

    import httpx

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    clients = [httpx.Client(base_url=base_url, headers=headers, timeout=30) for _ in bodies]
    for client in clients:
        client.get("/health")  # connect before the clock starts
    results: list[tuple[float, int]] = []
    lock = threading.Lock()

    def run(client: httpx.Client, mine: list[bytes], stop_at: float) -> None:
        local = []
        for body in mine:
            if time.monotonic() > stop_at:
                break
            t0 = time.perf_counter()
            try:
                response = client.post("/v1/events", content=body)
                status = response.status_code
                if status == 200 and response.json()["stored"] + response.json()["duplicates"] != 1:
                    status = -1
            except httpx.HTTPError:
                status = -2
            local.append(((time.perf_counter() - t0) * 1000.0, status))
        with lock:
            results.extend(local)

    start.wait()
    cpu0 = _client_cpu()
    began = time.monotonic()
    threads = [
        threading.Thread(target=run, args=(c, mine, began + deadline_s))
        for c, mine in zip(clients, bodies, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ended = time.monotonic()
    for client in clients:
        client.close()
    cpu = _client_cpu() - cpu0
    queue.put({"began": began, "ended": ended, "results": results, "cpu": cpu})


def _measure_single(
    base_url: str, key: str, shown: list[Any], args: argparse.Namespace, meter: CpuMeter
) -> dict[str, Any]:
    import httpx

    maker = EventMaker(shown, args.seed + 1, args.keyed_share)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, headers=headers) as client:
        # Sequential, one connection: the latency of one event without contention.
        for _ in range(20):
            client.post("/v1/events", content=json.dumps(maker.event()).encode())
        bodies = [json.dumps(maker.event()).encode() for _ in range(args.health_requests)]
        cpu0, client0 = meter.snapshot(), _client_cpu()
        alone = [
            _timed(lambda body=body: client.post("/v1/events", content=body).raise_for_status())[0]
            for body in bodies
        ]
        cpu = meter.spent(cpu0, meter.snapshot()) | {"client": _client_cpu() - client0}
        alone_cpu = {k: v / len(bodies) * 1e6 for k, v in cpu.items() if k != "wall"}
    threads = args.single_procs * args.single_threads
    per_thread = max(1, args.single_requests // threads)
    ctx = mp.get_context("spawn")
    start, queue = ctx.Event(), ctx.Queue()
    procs = []
    for _ in range(args.single_procs):
        bodies = [
            [json.dumps(maker.event()).encode() for _ in range(per_thread)]
            for _ in range(args.single_threads)
        ]
        proc = ctx.Process(
            target=_single_worker,
            args=(base_url, key, bodies, args.single_seconds, start, queue),
        )
        proc.start()
        procs.append(proc)
    time.sleep(3.0)  # let the workers import httpx and connect
    cpu0 = meter.snapshot()
    start.set()
    reports = [queue.get(timeout=args.single_seconds + 120) for _ in procs]
    cpu = meter.spent(cpu0, meter.snapshot()) | {"client": sum(r["cpu"] for r in reports)}
    for proc in procs:
        proc.join(timeout=30)
    wall = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
    results = [x for r in reports for x in r["results"]]
    ok = [ms for ms, status in results if status == 200]
    statuses: dict[str, int] = {}
    for _, status in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "cpu_us_per_request": {k: v / max(1, len(ok)) * 1e6 for k, v in cpu.items() if k != "wall"},
        "alone": _stats(alone) | {"cpu_us_per_request": alone_cpu},
        "procs": args.single_procs,
        "threads": threads,
        "requests": len(results),
        "ok": len(ok),
        "statuses": statuses,
        "wall_s": wall,
        "per_s": len(ok) / wall,
        **_stats(ok or [0.0]),
    }


# --- single events under wrk ----------------------------------------------------------------


def _measure_wrk(key: str, shown: list[Any], args: argparse.Namespace) -> list[str]:
    """GET /health and single events for each server process count, wrk as the client."""
    sys.path.insert(0, str(ROOT))
    from bench import single_events_wrk as wrk

    maker = EventMaker(shown, args.seed + 2, args.keyed_share)
    bodies = args.data_dir / "wrk-bodies.lua"
    wrk.write_bodies(bodies, [json.dumps(maker.event()) for _ in range(50_000)])
    os.environ["BENCH_KEY"] = key
    options = {
        "threads": args.wrk_threads,
        "connections": args.wrk_connections,
        "seconds": args.wrk_seconds,
    }
    lines = []
    for workers in args.server_workers:
        with wrk.serve(args.data_dir, workers) as (base_url, pid):
            meter = CpuMeter(pid, args.data_dir)
            wrk.run_wrk(base_url, **options | {"seconds": 2}, bodies=bodies)  # warm-up
            for what, path in (("GET /health", None), ("POST /v1/events, one event", bodies)):
                load = os.getloadavg()[0]
                cpu0 = meter.snapshot()
                run = wrk.run_wrk(base_url, **options, bodies=path)
                cpu = meter.spent(cpu0, meter.snapshot())
                n = max(1, run["requests"])
                us = {k: cpu[k] / n * 1e6 for k in ("server", "postgres")}
                us["client"] = run["client_cpu_s"] / n * 1e6
                share = us["client"] / sum(us.values())
                lines.append(
                    f"wrk {what}: {workers} server process(es), {args.wrk_threads} threads x "
                    f"{args.wrk_connections} connections, {args.wrk_seconds} s: "
                    f"{run['per_s']:,.0f} requests/s p50={run['p50_ms']:.2f} ms "
                    f"p99={run['p99_ms']:.2f} ms errors={run['errors']} of {run['requests']:,}; "
                    f"CPU us server {us['server']:.0f} + postgres {us['postgres']:.0f} + "
                    f"client {us['client']:.0f} per request (client {share:.0%}); "
                    f"load average {load:.1f}"
                )
                print(lines[-1], flush=True)
    return lines


# --- report ---------------------------------------------------------------------------------


def _stats(ms: list[float]) -> dict[str, float]:
    q = np.percentile(ms, [50, 95])
    return {"p50": float(q[0]), "p95": float(q[1]), "n": len(ms)}


def _environment(ll: Any, args: argparse.Namespace) -> dict[str, Any]:
    import fastapi
    import httpx
    import pydantic
    import uvicorn

    with ll.db.connection() as conn:
        server = conn.execute("SHOW server_version").fetchone()["server_version"]
        sync = conn.execute("SHOW synchronous_commit").fetchone()["synchronous_commit"]
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return {
        "http": f"{http} HTTP parser, {loop} event loop",
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "postgres": server,
        "synchronous_commit": sync,
        "pool_max": ll.settings.pool_max_size,
        "versions": f"FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__}, "
        f"pydantic {pydantic.__version__}, httpx {httpx.__version__}",
    }


def _recommend_line(r: dict[str, Any]) -> str:
    rec = r["recommend"]
    return (
        f"recommend big-tenant (embed + search + policy + impression write) "
        f"p50={rec['p50']:.2f} ms p95={rec['p95']:.2f} ms "
        f"p50/(embed+search)={rec['p50'] / r['embed_plus_search']['p50']:.2f}x "
        f"[embed p50={r['embed']['p50']:.2f} search p50={r['search']['p50']:.2f} "
        f"threshold p50={r['threshold']['p50']:.2f} write p50={r['write']['p50']:.2f} "
        f"p95={r['write']['p95']:.2f} ms]"
    )


def _health_line(h: dict[str, Any]) -> str:
    return (
        f"baseline HTTP GET /health (one SELECT 1) p50={h['health']['p50']:.2f} ms "
        f"p95={h['health']['p95']:.2f} ms, {_cpu_text(h['health']['cpu_us_per_request'])}; "
        f"GET /v1/tenant (key lookup + one query) p50={h['tenant']['p50']:.2f} ms "
        f"p95={h['tenant']['p95']:.2f} ms, {_cpu_text(h['tenant']['cpu_us_per_request'])}"
    )


def _batch_line(run: dict[str, Any]) -> str:
    low, high = run["events_per_s_range"]
    return (
        f"events batch of {run['size']}, {run['clients']} client(s): "
        f"{run['events_per_s']:,.0f} events/s (median of {run['repeats']} runs, "
        f"{low:,.0f}-{high:,.0f}; {run['stored']:,} stored, "
        f"{run['duplicates']:,} duplicates in {run['batches']} requests, {run['wall_s']:.1f} s) "
        f"request p50={run['p50']:.1f} ms p95={run['p95']:.1f} ms body={run['body_kb']:.0f} KB; "
        f"{_cpu_text(run['cpu_us_per_event'])} per event"
    )


def _batch_lines(b: dict[str, Any]) -> list[str]:
    out = [_batch_line(run) for run in b["runs"]]
    r = b["retry"]
    out.append(
        f"events batch retried: {r['events']} events, {r['keyed']} keyed; first {r['first']}, "
        f"again {r['again']}: {'as expected' if r['ok'] else 'NOT AS EXPECTED'}"
    )
    return out


def _single_line(s: dict[str, Any]) -> str:
    return (
        f"events single: {s['per_s']:,.0f} requests/s ({s['ok']:,} of {s['requests']:,} "
        f"answered 200 in {s['wall_s']:.1f} s; {s['procs']} processes x "
        f"{s['threads'] // s['procs']} threads) p50={s['p50']:.2f} ms p95={s['p95']:.2f} ms; "
        f"{_cpu_text(s['cpu_us_per_request'])} per request; one client alone "
        f"p50={s['alone']['p50']:.2f} ms p95={s['alone']['p95']:.2f} ms, "
        f"{_cpu_text(s['alone']['cpu_us_per_request'])}"
    )


def _cpu_text(cpu: dict[str, float]) -> str:
    parts = " + ".join(f"{k} {v:.0f}" for k, v in cpu.items())
    return f"CPU us {parts} = {sum(cpu.values()):.0f}"


def _lines(r: dict[str, Any]) -> list[str]:
    rec = r["recommend"]
    out = [
        _recommend_line(rec),
        f"baseline embed_query p50={rec['embed']['p50']:.2f} ms p95={rec['embed']['p95']:.2f} ms",
        f"baseline search_vector big-tenant (vector ready) p50={rec['search']['p50']:.2f} ms "
        f"p95={rec['search']['p95']:.2f} ms",
        f"baseline db round trip (SELECT 1 via the pool) p50={rec['ping']['p50']:.2f} ms "
        f"p95={rec['ping']['p95']:.2f} ms",
        _health_line(r["health"]),
        *_batch_lines(r["batches"]),
        _single_line(r["single"]),
    ]
    if "recommend_http" in r:
        out[1:1] = recommend_http.summary(r["recommend_http"])
    return out


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _write_doc(path: Path, r: dict[str, Any], lines: list[str], args: argparse.Namespace) -> None:
    """Replace this benchmark's section of the doc (between its markers); keep the rest."""
    env, rec, b, s, h = r["env"], r["recommend"], r["batches"], r["single"], r["health"]
    rows = [
        f"| `recommend`, big tenant (99,000 items), embedding and impression write included | "
        f"p50 {rec['recommend']['p50']:.1f} ms, p95 {rec['recommend']['p95']:.1f} ms | "
        f"p95 <= 40 ms | {_verdict(rec['recommend']['p95'] <= TARGETS['recommend_p95_ms'])} |",
    ]
    if "recommend_http" in r:
        http = r["recommend_http"]
        for name, m in recommend_http.medians(http).items():
            rows.append(
                f"| `POST /v1/recommend`, {http['servers']} `learnloop serve` processes, "
                f"worker {name} | p50 {m['p50']:.1f} ms, p95 {m['p95']:.1f} ms | p95 <= 40 ms | "
                f"{_verdict(m['p95'] <= TARGETS['recommend_p95_ms'])} |"
            )
    for run in b["runs"]:
        rows.append(
            f"| `POST /v1/events`, batches of {run['size']:,}, {run['clients']} client"
            f"{'s' if run['clients'] > 1 else ''} at once | {run['events_per_s']:,.0f} events/s "
            f"| >= 50,000 events/s | "
            f"{_verdict(run['events_per_s'] >= TARGETS['batch_events_per_s'])} |"
        )
    rows.append(
        f"| `POST /v1/events`, one event a request, {s['threads']} client threads at once | "
        f"{s['per_s']:,.0f} requests/s | >= 2,000 requests/s | "
        f"{_verdict(s['per_s'] >= TARGETS['single_per_s'])} |"
    )
    ping, embed, search = rec["ping"]["p50"], rec["embed"]["p50"], rec["search"]["p50"]
    both = rec["embed_plus_search"]["p50"]
    parts = [
        ("`SELECT 1` through the same pool (baseline)", rec["ping"], "1.0x"),
        ("`embed_query` alone (baseline)", rec["embed"], f"{embed / ping:.0f}x"),
        ("`search_vector` alone, vector ready (baseline)", rec["search"], f"{search / ping:.0f}x"),
        ("embedding + search (the two above, per query)", rec["embed_plus_search"], ""),
        (
            "**`recommend`**",
            rec["recommend"],
            f"{rec['recommend']['p50'] / both:.2f}x of the above",
        ),
        ("of which the threshold read", rec["threshold"], f"{rec['threshold']['p50'] / ping:.1f}x"),
        (
            "of which the impression write (1 + 10 rows, one transaction)",
            rec["write"],
            f"{rec['write']['p50'] / ping:.1f}x",
        ),
    ]
    breakdown = "\n".join(
        f"| {name} | {x['p50']:.2f} ms | {x['p95']:.2f} ms | {ratio} |" for name, x, ratio in parts
    )
    hb = h["health"]["p50"]
    http_rows = [
        ("`GET /health`, one client (baseline: one `SELECT 1`)", h["health"], 1.0, h["health"]),
        ("`GET /v1/tenant`, one client", h["tenant"], h["tenant"]["p50"] / hb, h["tenant"]),
        (
            "`POST /v1/events`, one event, one client",
            s["alone"],
            s["alone"]["p50"] / hb,
            s["alone"],
        ),
        (
            f"`POST /v1/events`, one event, {s['threads']} client threads",
            s,
            s["p50"] / hb,
            {"cpu_us_per_request": s["cpu_us_per_request"]},
        ),
    ]
    for run in b["runs"]:
        per_request = {k: v * run["size"] for k, v in run["cpu_us_per_event"].items()}
        http_rows.append(
            (
                f"`POST /v1/events`, a batch of {run['size']:,}, {run['clients']} client(s)",
                run,
                run["p50"] / hb,
                {"cpu_us_per_request": per_request},
            )
        )
    http = "\n".join(
        f"| {name} | {x['p50']:.2f} ms | {x['p95']:.2f} ms | {ratio:.1f}x | "
        + (_cpu_cells(cpu["cpu_us_per_request"]) if cpu else "| | |")
        for name, x, ratio, cpu in http_rows
    )
    per_event = "\n".join(
        f"| batches of {run['size']:,}, {run['clients']} client(s) | "
        + _cpu_cells(run["cpu_us_per_event"], digits=1)
        for run in b["runs"]
    )
    strategies = ", ".join(f"{k} {v}" for k, v in sorted(rec["strategies"].items()))
    retry = b["retry"]
    server = (
        "uvicorn --factory learnloop.api:create_app --no-access-log --log-level warning"
        if args.server == "uvicorn"
        else "learnloop serve"
    )
    section = f"""{BEGIN}
## Latest run: recommend and events

Run {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} on a shared, noisy machine with
{env["cores"]} cores ({env["cpu"]}); Python {env["python"]}, embedded PostgreSQL
{env["postgres"]} (default configuration, `synchronous_commit = {env["synchronous_commit"]}`),
pool of {env["pool_max"]} connections; {env["versions"]}; {env["http"]}. Server: `{server}`,
one process on 127.0.0.1; the clients (httpx) run on the same 2 cores.

```
.venv/bin/python bench/interactions_bench.py --queries {rec["recommend"]["n"]}
```

| measured | figure | target | |
|---|---|---|---|
{chr(10).join(rows)}

**Recommend**, in-process (`ll.recommender.recommend(tenant, {{"query": ..., "k": 3}})`),
{rec["recommend"]["n"]} banking77 questions that are not items, interleaved query by query with
its baselines (strategies: {strategies}; {rec["shown_per_impression"]:.1f} items shown an
impression on average):

| | p50 | p95 | ratio |
|---|---|---|---|
{breakdown}

**HTTP**, each request's latency as the client saw it, and the CPU time per request of the
server process, of PostgreSQL (all its processes) and of the clients, read from /proc
(the CPU time is the steadier figure on a noisy machine):

| | p50 | p95 | ratio to `/health` | CPU us: server | postgres | clients |
|---|---|---|---|---|---|---|
{http}

CPU time per event of the batches, in microseconds (2 cores give 2,000,000 a second):

| | server | postgres | clients |
|---|---|---|---|
{per_event}

Events name impressions logged by the recommend calls above and items they showed (half
with the rank, the rest get it filled in); 2% of the batched ones name the session
instead; {b["keyed_share"]:.0%} carry an idempotency key, 30% an `occurred_at`, 20%
metadata. Batches: {args.batch_events:,} events per run, bodies encoded beforehand, each
client thread sending its share batch after batch on its own connection; events/s = events
stored / wall time, each answer (every event's result) read and parsed; the figure is the
median of {args.batch_repeats} runs per size and client count, interleaved (the printed
lines give the range), latencies over all their requests. A batch of
{retry["events"]:,} sent twice: first {retry["first"]}, again {retry["again"]}
({retry["keyed"]} keyed) — {"as expected" if retry["ok"] else "NOT as expected"}. Single
events: {s["procs"]} client processes x {s["threads"] // s["procs"]} threads, each thread
with its own keep-alive connection, {s["requests"]:,} requests (statuses {s["statuses"]}).

Printed lines of this run:

```
{chr(10).join(lines)}
```
{END}"""
    text = path.read_text("utf-8") if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, "utf-8")


def _cpu_cells(cpu: dict[str, float], digits: int = 0) -> str:
    return " | ".join(f"{cpu[k]:,.{digits}f}" for k in ("server", "postgres", "client")) + " |"


if __name__ == "__main__":
    sys.exit(main())

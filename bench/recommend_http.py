"""Recommend over HTTP through several ``learnloop serve`` processes, with a worker idle or busy.

Used by ``bench/interactions_bench.py --recommend-servers N`` (and by its test on a tiny
database). It starts N ``learnloop serve --no-access-log`` processes, each on its own free
port of 127.0.0.1 (the client sends its requests to them in turn, as a round-robin load
balancer would), and then, phase by phase, a real ``learnloop worker`` process:

- ``idle``: the worker runs with nothing queued (only its periodic ticks: statistics,
  stalled jobs, the learning queue);
- ``busy``: the worker re-embeds and re-indexes a tenant's items the whole time. A side
  thread of the benchmark edits items of the busy tenant (new body text, stored without a
  vector, as an import or an edit through the API does), keeping a backlog of
  ``low_water`` to ``2 * low_water`` changed items in the change log; the worker's
  ``embed_changes`` jobs embed them in batches (``LEARNLOOP_EMBED_BATCH``) on
  ``LEARNLOOP_EMBED_BATCH_THREADS`` torch threads and write the vectors into the HNSW
  index, as in production. The proof that it was busy: the items it embedded during the
  window (``index_status.embedded_total``), its CPU seconds and the backlog left at the end.

The worker runs in a session of its own, as a service manager or a container starts it
(so where the kernel groups processes by session, it is its own scheduling group, whose
nice ``learnloop worker`` lowers with its threads'; the servers and the client share the
benchmark's session).

A phase is written ``idle`` or ``busy``, with options after colons: ``nice=N`` (the
worker's ``--nice``; default: the setting's default), ``threads=N`` (its
``LEARNLOOP_EMBED_BATCH_THREADS``); e.g. ``busy:nice=0:threads=1``. Each phase starts its
own worker (so its niceness is set at its start, as in production) and stops it after the
window, once the backlog is drained.

In each phase's window ``POST /v1/recommend`` with a question (distinct in every request:
the query-vector cache never answers) is sent open-loop at ``rate`` requests a second by
``clients`` threads (request i is due at i / rate; a thread that falls behind sends at
once), each thread with a keep-alive connection to every server. Latency is from send to
the answer read, embedding, hybrid search, policy and impression write included. CPU
seconds of the window from /proc: the server processes, the worker, PostgreSQL's
processes (every child of the postmaster), the client threads (their own CPU time, once
their connections are made), the side thread (``filler``).
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LEARNLOOP = str(Path(sys.executable).parent / "learnloop")
TICK = os.sysconf("SC_CLK_TCK")
TARGET_P95_MS = 40.0


@dataclass(frozen=True)
class Phase:
    busy: bool
    nice: int | None = None
    threads: int | None = None

    @property
    def name(self) -> str:
        parts = ["busy" if self.busy else "idle"]
        if self.nice is not None:
            parts.append(f"nice={self.nice}")
        if self.threads is not None:
            parts.append(f"threads={self.threads}")
        return ":".join(parts)


def parse_phase(text: str) -> Phase:
    """``idle``, ``busy``, ``busy:nice=0:threads=1``...

    >>> parse_phase("busy:nice=0:threads=1")
    Phase(busy=True, nice=0, threads=1)
    """
    kind, *options = text.strip().split(":")
    if kind not in ("idle", "busy"):
        raise ValueError(f"a phase is 'idle' or 'busy' (then :nice=N, :threads=N), not {text!r}")
    given: dict[str, int] = {}
    for option in options:
        name, _, value = option.partition("=")
        if name not in ("nice", "threads") or not value.isdigit():
            raise ValueError(f"phase {text!r}: options are nice=N and threads=N, not {option!r}")
        given[name] = int(value)
    return Phase(kind == "busy", given.get("nice"), given.get("threads"))


def parse_phases(text: str) -> list[Phase]:
    return [parse_phase(part) for part in text.split(",") if part.strip()]


@dataclass
class Options:
    rate: float = 20.0  # requests a second, over all servers
    requests: int = 300  # per phase
    clients: int = 4
    warmup: int = 10  # per server, before the first phase
    low_water: int = 128  # the busy backlog is kept between this and twice this
    busy_items: int = 2000  # items of the busy tenant, edited in turn
    worker_env: dict[str, str] = field(default_factory=dict)  # e.g. LEARNLOOP_EMBED_BATCH


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def servers(env: dict[str, str], n: int, logs: Path) -> Iterator[list[tuple[str, int]]]:
    """``n`` ``learnloop serve`` processes on free ports: [(base URL, pid)]."""
    import httpx

    procs = []
    try:
        for i in range(n):
            port = free_port()
            log = (logs / f"recommend-serve-{i}.log").open("wb")
            cmd = [LEARNLOOP, "serve", "--port", str(port), "--no-access-log"]
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            log.close()
            procs.append((f"http://127.0.0.1:{port}", proc))
        deadline = time.monotonic() + 240
        for base, proc in procs:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"a server exited with {proc.returncode}; see {logs}")
                try:
                    if httpx.get(base + "/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the servers did not answer in 240 s; see {logs}")
                time.sleep(0.3)
        yield [(base, proc.pid) for base, proc in procs]
    finally:
        for _, proc in procs:
            _stop(proc)


@contextmanager
def worker(env: dict[str, str], phase: Phase, log: Path) -> Iterator[int]:
    """A ``learnloop worker`` for the phase, started and up (it printed its start line)."""
    env = dict(env)
    if phase.threads is not None:
        env["LEARNLOOP_EMBED_BATCH_THREADS"] = str(phase.threads)
    cmd = [LEARNLOOP, "worker"]
    if phase.nice is not None:
        cmd += ["--nice", str(phase.nice)]
    with log.open("wb") as out:  # a session of its own, as a service manager starts it
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 240
        while b"worker started" not in log.read_bytes():
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited with {proc.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start in 240 s; see {log}")
            time.sleep(0.2)
        yield proc.pid
    finally:
        _stop(proc, signal.SIGINT)


# --- /proc ----------------------------------------------------------------------------------


def _stat(pid: int | str, task: str = "") -> list[str] | None:
    path = f"/proc/{pid}/task/{task}/stat" if task else f"/proc/{pid}/stat"
    try:
        return Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_tree(pids: Sequence[int]) -> float:
    """CPU seconds of the processes and all their descendants (the live ones)."""
    used: dict[int, float] = {}
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(entry.name)) is not None:
            used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICK
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, list(pids)
    while todo:
        pid = todo.pop()
        total += used.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def niceness(pid: int) -> list[int]:
    """The niceness of each thread of a process (Linux keeps one per thread)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        if (fields := _stat(pid, task.name)) is not None:
            found.append(int(fields[16]))
    return sorted(found)


def autogroup_nice(pid: int) -> int | None:
    """The nice of the process's scheduling group (session), where the kernel has one."""
    try:
        return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def postmaster_pid(ll: Any) -> int:
    """The database's postmaster: the parent of this connection's backend (a local server)."""
    with ll.db.connection() as conn:
        backend = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]
    fields = _stat(backend)
    if fields is None:
        raise RuntimeError("the database's processes are not on this machine; no CPU figures")
    return int(fields[1])


# --- the busy tenant ------------------------------------------------------------------------


def busy_rows(texts: Sequence[str], n: int, revision: int) -> list[dict[str, Any]]:
    """Item ``n`` of the busy tenant at a revision: an FAQ entry, a question and two more
    as its body (about 40 tokens in all, the size of FAQ or table rows)."""
    body = " ".join(texts[(n * 2 + j + 1) % len(texts)] for j in range(2))
    return [
        {
            "kind": "faq",
            "external_id": f"busy-{n}",
            "title": texts[n % len(texts)],
            "body": f"{body} (revision {revision})",
        }
    ]


def ensure_busy_tenant(ll: Any, tenant: str, texts: Sequence[str], items: int) -> None:
    """The busy tenant with ``items`` items, embedded (done once; later runs reuse it)."""
    ll.tenants.ensure(tenant, "recommend bench: the worker's backlog")
    with ll.db.connection() as conn:
        have = conn.execute(
            "SELECT count(*) AS n FROM items WHERE tenant_id = %s", (tenant,)
        ).fetchone()["n"]
    for start in range(have, items, 256):
        rows = [r for n in range(start, min(items, start + 256)) for r in busy_rows(texts, n, 0)]
        ll.items.put_many(tenant, rows)


def _index(ll: Any, tenant: str) -> tuple[int, int]:
    """(items the worker embedded so far, changes waiting) for the tenant."""
    status = ll.indexer.status(tenant)
    return int(status.embedded_total), int(status.queued_changes)


class Filler(threading.Thread):
    """Keeps the busy tenant's change log between ``low`` and ``2 * low`` items, editing
    its items in turn; its own CPU time is kept apart from the clients'."""

    def __init__(self, ll: Any, tenant: str, texts: Sequence[str], items: int, low: int):
        super().__init__(daemon=True)
        self.ll, self.tenant, self.texts, self.items, self.low = ll, tenant, texts, items, low
        self.stopping = threading.Event()
        self.edited = 0
        self.cpu = 0.0
        self.error: BaseException | None = None
        self.next = int(time.time()) % items  # a different stretch each run

    def run(self) -> None:
        try:
            revision = int(time.time() * 1000)
            while not self.stopping.is_set():
                _, waiting = _index(self.ll, self.tenant)
                if waiting < self.low:
                    rows = []
                    for _ in range(self.low):
                        rows += busy_rows(self.texts, self.next, revision)
                        self.next = (self.next + 1) % self.items
                    revision += 1
                    self.ll.items.put_many(self.tenant, rows, embed=False)
                    self.edited += len(rows)
                self.cpu = time.thread_time()
                self.stopping.wait(0.1)
        except BaseException as exc:  # reported by the phase
            self.error = exc
        finally:
            self.cpu = time.thread_time()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=60)
        if self.error is not None:
            raise RuntimeError(f"the backlog thread failed: {self.error}") from self.error


# --- the clients ----------------------------------------------------------------------------


def drive(
    bases: Sequence[str], key: str, tenant_questions: Sequence[str], opts: Options, seed: int
) -> dict[str, Any]:
    """``len(tenant_questions)`` recommends, open loop at ``opts.rate``, to the servers in
    turn. Latencies (ms) of the answers, their statuses, how late the sends were."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    counter = itertools.count()
    lock = threading.Lock()
    results: list[tuple[float, int, float]] = []
    cpu: list[float] = []
    start = time.perf_counter() + 0.2

    def client() -> None:
        conns = [httpx.Client(base_url=b, headers=headers, timeout=60) for b in bases]
        made = time.thread_time()  # making a client (its TLS context) is not a request's cost
        mine = []
        try:
            while True:
                with lock:
                    i = next(counter)
                if i >= len(tenant_questions):
                    break
                due = start + i / opts.rate
                if (wait := due - time.perf_counter()) > 0:
                    time.sleep(wait)
                body = {
                    "query": tenant_questions[i],
                    "k": 3,
                    "context": {"session": f"http-s{(seed + i) % 50}", "user": f"u{i % 200}"},
                }
                sent = time.perf_counter()
                answer = conns[i % len(conns)].post("/v1/recommend", json=body)
                answer.read()
                mine.append(((time.perf_counter() - sent) * 1000, answer.status_code, sent - due))
        finally:
            for conn in conns:
                conn.close()
            with lock:
                results.extend(mine)
                cpu.append(time.thread_time() - made)

    threads = [threading.Thread(target=client) for _ in range(opts.clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    ok = [ms for ms, status, _ in results if status == 200]
    late = [max(0.0, lateness) * 1000 for _, _, lateness in results]
    statuses: dict[str, int] = {}
    for _, status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    q = np.percentile(ok or [0.0], [50, 95, 99])
    return {
        "n": len(results),
        "ok": len(ok),
        "statuses": statuses,
        "p50": float(q[0]),
        "p95": float(q[1]),
        "p99": float(q[2]),
        "wall_s": wall,
        "per_s": len(ok) / wall if wall else 0.0,
        "late_p95_ms": float(np.percentile(late or [0.0], 95)),
        "client_threads_cpu_s": sum(cpu),
    }


def warm(bases: Sequence[str], key: str, questions: Sequence[str]) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    for n, base in enumerate(bases):  # the first answers load each server's model
        with httpx.Client(base_url=base, headers=headers, timeout=120) as c:
            for q in questions[n :: len(bases)]:
                c.post("/v1/recommend", json={"query": q, "k": 3}).raise_for_status()


# --- a phase --------------------------------------------------------------------------------


def run_phase(
    ll: Any,
    env: dict[str, str],
    phase: Phase,
    *,
    bases: Sequence[str],
    server_pids: Sequence[int],
    postmaster: int,
    key: str,
    questions: Sequence[str],
    busy_tenant: str,
    texts: Sequence[str],
    opts: Options,
    logs: Path,
    seed: int = 0,
) -> dict[str, Any]:
    """One phase: its worker, the backlog when busy, the recommends, the CPU of each part."""
    log = logs / f"recommend-worker-{phase.name.replace(':', '-').replace('=', '')}.log"
    with worker(env | opts.worker_env, phase, log) as wpid:
        filler = None
        embedded0, _ = _index(ll, busy_tenant)
        if phase.busy:
            filler = Filler(ll, busy_tenant, texts, opts.busy_items, opts.low_water)
            busy_began, busy_cpu0 = time.monotonic(), cpu_tree([wpid])
            filler.start()
            deadline = time.monotonic() + 240
            while _index(ll, busy_tenant)[0] == embedded0:  # until its model is loaded
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the worker embedded nothing in 240 s; see {log}")
                time.sleep(0.1)
        else:
            time.sleep(1.0)  # its first periodic ticks
        load0 = os.getloadavg()[0]
        embedded_before, waiting_before = _index(ll, busy_tenant)
        times0 = os.times()
        filler0 = filler.cpu if filler else 0.0
        cpu0 = {
            "servers": cpu_tree(server_pids),
            "worker": cpu_tree([wpid]),
            "postgres": cpu_tree([postmaster]),
        }
        run = drive(bases, key, questions, opts, seed)
        cpu1 = {
            "servers": cpu_tree(server_pids),
            "worker": cpu_tree([wpid]),
            "postgres": cpu_tree([postmaster]),
        }
        times1 = os.times()
        filler_cpu = (filler.cpu if filler else 0.0) - filler0
        embedded_after, waiting_after = _index(ll, busy_tenant)
        load1 = os.getloadavg()[0]
        nice = niceness(wpid)
        group_nice = autogroup_nice(wpid)
        drained = True
        if filler is not None:
            filler.stop()
            deadline = time.monotonic() + 240
            while _index(ll, busy_tenant)[1] > 0:  # the next phase starts with none queued
                if time.monotonic() > deadline:
                    drained = False
                    break
                time.sleep(0.2)
        embedded_all = _index(ll, busy_tenant)[0] - embedded0
        busy_s = time.monotonic() - busy_began if filler else 0.0
        busy_cpu = cpu_tree([wpid]) - busy_cpu0 if filler else 0.0
    cpu = {k: cpu1[k] - cpu0[k] for k in cpu0}
    process = (times1.user + times1.system) - (times0.user + times0.system)
    cpu["client"] = run["client_threads_cpu_s"]  # the threads' requests and answers
    cpu["filler"] = filler_cpu
    cpu["bench_process"] = process  # all of it: clients, filler, their start, the polls
    return {
        "phase": phase.name,
        "busy": phase.busy,
        "worker_niceness": sorted(set(nice)),
        "worker_group_nice": group_nice,
        "embedded": embedded_after - embedded_before,  # in the window
        "embedded_all": embedded_all,  # from the backlog's start to its end
        "busy_s": busy_s,  # how long that was
        "busy_worker_cpu_s": busy_cpu,  # and the worker's CPU seconds in it
        "waiting_before": waiting_before,
        "waiting_after": waiting_after,
        "edited": filler.edited if filler else 0,
        "drained": drained,
        "cpu_s": cpu,
        "load": (load0, load1),
        **run,
    }


def measure(
    ll: Any,
    env: dict[str, str],
    phases: Sequence[Phase],
    *,
    n_servers: int,
    key: str,
    questions: Sequence[str],
    busy_tenant: str,
    texts: Sequence[str],
    opts: Options,
    logs: Path,
    rounds: int = 1,
) -> dict[str, Any]:
    """Every phase (``rounds`` times, interleaved) against ``n_servers`` servers; the
    questions are split among them, none asked twice."""
    need = opts.warmup * n_servers + len(phases) * rounds * opts.requests
    if len(questions) < need:
        raise ValueError(f"{need} distinct questions needed, {len(questions)} given")
    ensure_busy_tenant(ll, busy_tenant, texts, opts.busy_items)
    postmaster = postmaster_pid(ll)
    out: dict[str, Any] = {"servers": n_servers, "phases": [], "opts": opts}
    with servers(env, n_servers, logs) as up:
        bases = [base for base, _ in up]
        pids = [pid for _, pid in up]
        warm(bases, key, questions[: opts.warmup * n_servers])
        at = opts.warmup * n_servers
        for r in range(rounds):
            for phase in phases:
                chunk = questions[at : at + opts.requests]
                at += opts.requests
                result = run_phase(
                    ll,
                    env,
                    phase,
                    bases=bases,
                    server_pids=pids,
                    postmaster=postmaster,
                    key=key,
                    questions=chunk,
                    busy_tenant=busy_tenant,
                    texts=texts,
                    opts=opts,
                    logs=logs,
                    seed=at,
                )
                result["round"] = r + 1
                print("# " + phase_line(result), flush=True)
                out["phases"].append(result)
    return out


def phase_line(r: dict[str, Any]) -> str:
    cpu = r["cpu_s"]
    wall = r["wall_s"] or 1.0
    per = {k: v / max(1, r["ok"]) * 1000 for k, v in cpu.items()}
    worker = (
        f"worker embedded {r['embedded']} items ({r['embedded'] / wall:.0f}/s), "
        f"CPU {cpu['worker']:.1f} s ({cpu['worker'] / wall:.2f} cores), "
        f"backlog {r['waiting_before']} -> {r['waiting_after']}, "
        f"{r['embedded_all']} embedded in all in {r['busy_s']:.0f} s "
        f"({r['embedded_all'] / max(r['busy_s'], 1e-9):.0f}/s, worker CPU "
        f"{r['busy_worker_cpu_s']:.1f} s)"
        if r["busy"]
        else f"worker idle: embedded {r['embedded']}, CPU {cpu['worker']:.2f} s"
    )
    return (
        f"recommend HTTP round {r['round']} {r['phase']}: {r['ok']}/{r['n']} ok at "
        f"{r['per_s']:.1f}/s p50={r['p50']:.1f} p95={r['p95']:.1f} p99={r['p99']:.1f} ms "
        f"(sends late p95 {r['late_p95_ms']:.0f} ms); {worker}, niceness "
        f"{'/'.join(map(str, r['worker_niceness']))} (its group's {r['worker_group_nice']}); "
        f"CPU ms a request: servers "
        f"{per['servers']:.1f} + postgres {per['postgres']:.1f} + client {per['client']:.1f} "
        f"(+ worker {per['worker']:.1f}, backlog filler {per['filler']:.1f}); "
        f"load average {r['load'][0]:.1f} -> {r['load'][1]:.1f}"
    )


def medians(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per phase: the medians over its rounds of p50, p95 and p99, and the rounds."""
    by: dict[str, list[dict[str, Any]]] = {}
    for r in result["phases"]:
        by.setdefault(r["phase"], []).append(r)
    return {
        name: {k: float(np.median([r[k] for r in runs])) for k in ("p50", "p95", "p99")}
        | {"rounds": len(runs)}
        for name, runs in by.items()
    }


def summary(result: dict[str, Any]) -> list[str]:
    """Per phase: the medians over rounds, and the ratios to the idle worker's."""
    med = medians(result)
    idle = next((m for name, m in med.items() if name.startswith("idle")), None)
    lines = []
    for name, m in med.items():
        ratio = (
            f"; x{m['p50'] / idle['p50']:.2f} / x{m['p95'] / idle['p95']:.2f} the idle "
            "worker's p50 / p95"
            if idle and not name.startswith("idle")
            else ""
        )
        verdict = "met" if m["p95"] <= TARGET_P95_MS else "MISSED"
        lines.append(
            f"recommend HTTP, {result['servers']} servers, worker {name}: median of "
            f"{m['rounds']:.0f} round(s) p50={m['p50']:.1f} p95={m['p95']:.1f} "
            f"p99={m['p99']:.1f} ms{ratio}; target p95 <= {TARGET_P95_MS:.0f} ms: {verdict}"
        )
    return lines

"""Single events through ``learnloop serve --workers N``, loaded by wrk.

Used by ``bench/interactions_bench.py --wrk``: for each server process count it starts
``learnloop serve --workers N --no-access-log`` on a free port of 127.0.0.1 joined to the
bench database, then runs wrk (C, one event loop a thread: it costs the machine far less
than Python clients) twice against it, same threads, connections and duration:

- ``GET /health`` (one ``SELECT 1``): the baseline, the framework's own ceiling;
- ``POST /v1/events`` with one event a request, the bodies made beforehand (events that
  name the impressions logged by the benchmark and the items they showed), taken in turn
  by each wrk thread from its own share; every answer is checked in Lua to have stored the
  event (``"stored":1`` or ``"duplicates":1``), and one that did not counts as an error.

It reports requests/s, p50 and p99 latency, errors (socket errors, non-2xx, answers that
did not store the event), and the CPU time spent per request by the server processes,
PostgreSQL's processes and wrk (its share of all three).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LUA = r"""
local bodies = dofile(os.getenv("BENCH_BODIES"))
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end
function init(args)
  i = id
  bad = 0
  step = tonumber(os.getenv("BENCH_THREADS"))
end
function request()
  i = i + step
  if i > #bodies then i = (i - 1) % #bodies + 1 end
  return wrk.format("POST", "/v1/events", nil, bodies[i])
end
function response(status, headers, body)
  if status ~= 200 or not (body:find('"stored":1', 1, true) or
                           body:find('"duplicates":1', 1, true)) then
    bad = bad + 1
  end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("bad") end
  io.write(string.format("BENCH bad=%d p50=%d p99=%d\n", n,
    latency:percentile(50), latency:percentile(99)))
end
"""

LUA_HEALTH = r"""
function done(summary, latency, requests)
  io.write(string.format("BENCH bad=0 p50=%d p99=%d\n",
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    return found


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII text is a valid Lua string literal


def write_bodies(path: Path, bodies: list[str]) -> None:
    lines = ",\n".join(_lua_string(b) for b in bodies)
    path.write_text("return {\n" + lines + "\n}\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(data_dir: Path, workers: int) -> Iterator[tuple[str, int]]:
    """``learnloop serve --workers N`` on a free port; (base URL, the parent's pid)."""
    import httpx

    port = _free_port()
    env = os.environ | {"LEARNLOOP_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    env.pop("LEARNLOOP_DATABASE_URL", None)
    learnloop = str(Path(sys.executable).parent / "learnloop")
    cmd = [learnloop, "serve", "--port", str(port), "--workers", str(workers), "--no-access-log"]
    log = open(data_dir / f"wrk-serve-{workers}.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        # Every process has started once each has logged its start-up.
        while Path(log.name).read_bytes().count(b"Application startup complete") < workers:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}; see {log.name}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start in 240 s; see {log.name}")
            time.sleep(0.5)
        httpx.get(base_url + "/health", timeout=10).raise_for_status()
        yield base_url, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def run_wrk(
    base_url: str, *, threads: int, connections: int, seconds: int, bodies: Path | None
) -> dict[str, Any]:
    """One wrk run; its figures and the CPU seconds wrk used."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:  # removed after the run
        script = Path(folder) / "wrk.lua"
        script.write_text(LUA if bodies else LUA_HEALTH)
        return _run_wrk(
            base_url,
            script,
            threads=threads,
            connections=connections,
            seconds=seconds,
            bodies=bodies,
        )


def _run_wrk(
    base_url: str,
    script: Path,
    *,
    threads: int,
    connections: int,
    seconds: int,
    bodies: Path | None,
) -> dict[str, Any]:
    url = base_url + ("/v1/events" if bodies else "/health")
    env = os.environ | {"BENCH_BODIES": str(bodies or ""), "BENCH_THREADS": str(threads)}
    headers = [
        "-H",
        f"Authorization: Bearer {os.environ.get('BENCH_KEY', '')}",
        "-H",
        "Content-Type: application/json",
    ]
    cmd = [
        wrk_path(),
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--latency",
        "-s",
        str(script),
        *headers,
        url,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return _parse(out) | {"client_cpu_s": cpu}


def _parse(out: str) -> dict[str, Any]:
    requests = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    per_s = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    mine = re.search(r"BENCH bad=(\d+) p50=(\d+) p99=(\d+)", out)
    assert mine is not None, out
    return {
        "requests": requests,
        "per_s": per_s,
        # The events' script counts non-2xx answers among its bad ones; /health's does not.
        "errors": socket_errors + max(int(non_2xx[1]) if non_2xx else 0, int(mine[1])),
        "p50_ms": int(mine[2]) / 1000,
        "p99_ms": int(mine[3]) / 1000,
    }

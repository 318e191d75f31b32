"""`learnloop worker` lowers its own CPU priority, every thread of it, as configured."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from learnloop import LearnLoop
from learnloop.embedders import LocalEmbedder
from learnloop.settings import Settings

LEARNLOOP = str(Path(sys.executable).parent / "learnloop")
BASE = os.getpriority(os.PRIO_PROCESS, 0)  # what a child starts with
AUTOGROUP = Path("/proc/self/autogroup")
MY_GROUP = AUTOGROUP.read_text() if AUTOGROUP.exists() else ""


def thread_niceness(pid: int) -> list[int]:
    """The niceness of every thread of a process (field 19 of each task's stat)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        found.append(int(stat.rsplit(")", 1)[1].split()[16]))
    return found


@pytest.fixture
def own(migrated_db_url: str, settings: Settings, embedder: LocalEmbedder) -> Iterator[LearnLoop]:
    with LearnLoop.open(
        settings.model_copy(update={"database_url": migrated_db_url}), embedder
    ) as ll:
        yield ll


def test_lower_priority_lowers_the_threads_running_and_those_started_after() -> None:
    script = """
import os, threading
from learnloop.worker import lower_priority
stop = threading.Event()
before = [threading.Thread(target=stop.wait) for _ in range(3)]
for t in before: t.start()
print(lower_priority(4))
after = threading.Thread(target=stop.wait); after.start()
tasks = sorted(os.listdir("/proc/self/task"))
print(len(tasks), *sorted(os.getpriority(os.PRIO_PROCESS, int(t)) for t in tasks))
stop.set()
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    expected = min(19, BASE + 4)
    assert int(out[0]) == expected
    count, *levels = (int(x) for x in out[1].split())
    assert count >= 5  # the main thread, three before, one after (and the imports' own)
    assert levels == [expected] * count


def test_worker_runs_every_thread_at_the_configured_niceness(
    own: LearnLoop, migrated_db_url: str, tmp_path: Path
) -> None:
    tenant = own.tenants.create("nice-worker").tenant_id
    own.items.put_many(
        tenant,
        [{"kind": "faq", "title": f"Question {n}", "body": "An answer."} for n in range(5)],
        embed=False,
    )
    env = os.environ | {"DATABASE_URL": migrated_db_url, "LEARNLOOP_WORKER_NICE": "7"}
    env.pop("LEARNLOOP_EMBED_BATCH_THREADS", None)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # a session of its own, as a service manager starts it
            [LEARNLOOP, "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while own.indexer.status(tenant).state != "ready":  # it embedded: torch's threads run
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the worker embedded nothing in 180 s"
            time.sleep(0.2)
        levels = thread_niceness(proc.pid)
        assert len(levels) > 3  # the pools', procrastinate's and torch's threads are there
        assert set(levels) == {min(19, BASE + 7)}, levels
        assert f"niceness {min(19, BASE + 7)}" in log.read_text()
        if AUTOGROUP.exists():  # its session's scheduling group is lowered too, not the tests'
            assert Path(f"/proc/{proc.pid}/autogroup").read_text().split()[-1] == "7"
            assert AUTOGROUP.read_text() == MY_GROUP
        assert f"batch threads {os.cpu_count()};" in log.read_text()  # unset: every core
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def test_worker_nice_zero_leaves_the_priority_and_a_bad_value_is_refused(
    migrated_db_url: str,
) -> None:
    env = os.environ | {"DATABASE_URL": migrated_db_url}
    bad = subprocess.run(
        [LEARNLOOP, "worker", "--nice", "20"], env=env, capture_output=True, text=True
    )
    assert bad.returncode != 0 and "--nice" in bad.stderr
    bad_env = subprocess.run(
        [LEARNLOOP, "worker", "--once"],
        env=env | {"LEARNLOOP_WORKER_NICE": "-1"},
        capture_output=True,
        text=True,
    )
    assert bad_env.returncode != 0 and "worker_nice" in (bad_env.stderr + bad_env.stdout)
    done = subprocess.run(
        [LEARNLOOP, "worker", "--once", "--nice", "0"],
        env=env | {"LEARNLOOP_EMBED_BATCH_THREADS": "3"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert f"niceness {BASE}; batch threads 3;" in done.stdout

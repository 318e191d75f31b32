"""The jobs and the worker loop.

Jobs live in procrastinate's tables in the same database; a worker wakes on PostgreSQL
LISTEN/NOTIFY when one is queued, so work starts within a fraction of a second of the
commit that queued it.

- ``learnloop.embed_changes(tenant_id)``: queued by the item triggers in the transaction of
  each change (migration 0006), at most one waiting per tenant, and run one at a time per
  tenant (procrastinate's ``queueing_lock`` and ``lock``).
- ``learnloop.stalled_jobs``: a periodic task, every second. It gives the jobs of a dead
  worker (no heartbeat for ``LEARNLOOP_WORKER_STALLED_SECONDS``) up and queues their work
  afresh.
- the periodic work of every area (``learnloop.worker.periodic.PERIODIC``), each entry a
  periodic task of its own with its schedule, queueing lock, lock and retries.

When the database goes away, the worker stops (with an error, or procrastinate stops it
when its listener loses the connection) and ``run_in_loop`` starts it again every
``RESTART_SECONDS`` until the database is back; the queue's connections wait
at most ``LEARNLOOP_POOL_TIMEOUT_SECONDS`` for the database, so stopping the worker while
it is down takes seconds, not the driver's default 30.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import procrastinate
from procrastinate.exceptions import ConnectorException
from procrastinate.jobs import Status

from learnloop.errors import LearnLoopError
from learnloop.worker.periodic import PERIODIC, RETRY_WAIT_SECONDS, Periodic, cron_every

if TYPE_CHECKING:
    from learnloop.service import LearnLoop

QUEUE = "learnloop"
RESTART_SECONDS = 2.0  # between a worker that failed (the database went away) and the next
RECONNECT_SECONDS = 1.0  # the queue's pool gives a failing reconnection up after this
STALLED_TASK = "learnloop.stalled_jobs"
log = logging.getLogger("learnloop.worker")
__all__ = ["PERIODIC", "QUEUE", "Periodic", "build_app", "lower_priority", "run", "run_in_loop"]


def build_app(ll: LearnLoop) -> procrastinate.App:
    """A procrastinate app bound to ``ll``'s database, with learnloop's jobs."""
    connector = procrastinate.PsycopgConnector(
        conninfo=ll.db.url,
        min_size=1,
        max_size=4,
        timeout=ll.settings.pool_timeout_seconds,
        reconnect_timeout=RECONNECT_SECONDS,
    )
    app = procrastinate.App(connector=connector)

    @app.task(name="learnloop.embed_changes", queue=QUEUE)
    def embed_changes(tenant_id: str) -> int:
        embedded = ll.indexer.embed_changes(tenant_id)
        if embedded:
            log.info("tenant %s: embedded %d items", tenant_id, embedded)
        return embedded

    # No lock: a lock held by a job of a worker that died would stop the very task that
    # gives such jobs up.
    @app.periodic(cron=cron_every(1))
    @app.task(name=STALLED_TASK, queue=QUEUE, queueing_lock=STALLED_TASK)
    async def stalled_jobs(timestamp: int) -> int:
        given_up = await _give_up_stalled(app, ll.settings.worker_stalled_seconds)
        if given_up:
            await asyncio.to_thread(ll.indexer.queue_pending)
        return given_up

    for periodic in PERIODIC:
        _register(app, ll, periodic)
    del embed_changes, stalled_jobs  # registered with the app
    return app


def _register(app: procrastinate.App, ll: LearnLoop, periodic: Periodic) -> None:
    """``periodic`` as a task of ``app``, deferred on its schedule."""
    retry: procrastinate.BaseRetryStrategy | bool = False
    if periodic.attempts:
        retry = procrastinate.RetryStrategy(max_attempts=periodic.attempts, wait=RETRY_WAIT_SECONDS)

    def run(timestamp: int) -> int:
        done = periodic.run(ll) or 0
        if done:
            log.info("%s: %s", periodic.name, done)
        return done

    task = app.task(
        name=periodic.task,
        queue=QUEUE,
        queueing_lock=periodic.task,
        lock=periodic.lock,
        retry=retry,
    )(run)
    app.periodic(cron=periodic.cron)(task)


async def _give_up_stalled(app: procrastinate.App, seconds: float) -> int:
    """Drop the jobs of workers that stopped sending heartbeats; their work is still in the
    change log, and is queued again. Returns how many were dropped."""
    stalled = list(
        await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=seconds)
    )
    for job in stalled:
        assert job.id is not None
        log.warning(
            "job %s (%s) of a dead worker: given up, its work is queued again",
            job.id,
            job.task_name,
        )
        await app.job_manager.finish_job_by_id_async(job.id, Status.FAILED, delete_job=True)
    return len(stalled)


def _options(ll: LearnLoop, concurrency: int | None) -> dict[str, Any]:
    stalled = ll.settings.worker_stalled_seconds
    return {
        "queues": [QUEUE],
        "concurrency": concurrency or ll.settings.worker_concurrency,
        "delete_jobs": "always",
        "listen_notify": True,
        "fetch_job_polling_interval": 2.0,
        "update_heartbeat_interval": max(0.5, min(10.0, stalled / 3)),
        "stalled_worker_timeout": stalled,
    }


def lower_priority(by: int) -> int:
    """Lower this process's CPU priority by ``by`` (nice), every thread of it included, so
    that on cores shared with API servers their requests go first and the worker takes what
    they leave. Returns the niceness of the calling thread afterwards.

    Linux keeps a niceness per thread (``os.nice`` changes the calling thread's only), and
    a thread starts with its creator's: the threads already running are lowered one by
    one, and those started later (torch's, the pool's, procrastinate's) inherit it. Raising
    the niceness needs no privilege; the highest is 19.

    Niceness weighs threads against others of the same scheduling group only. Where the
    kernel groups processes by session (``sched_autogroup_enabled``) and the worker leads a
    session of its own (started by a service manager, with ``setsid``), the group's nice is
    lowered too, so the worker gives way to every other group, the servers' included; in a
    shell's session it is left alone (it would lower the shell and what else runs there).
    """
    if by < 0:
        raise ValueError(f"the worker's nice increment must be 0 or more, not {by}")
    if by == 0:
        return os.getpriority(os.PRIO_PROCESS, 0)
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():  # not Linux: the process's one niceness
        return os.nice(by)
    for entry in tasks.iterdir():
        tid = int(entry.name)
        try:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + by))
        except ProcessLookupError:  # a thread that ended meanwhile
            continue
    if os.getsid(0) == os.getpid():
        _lower_autogroup(by)
    return os.getpriority(os.PRIO_PROCESS, 0)


def _lower_autogroup(by: int) -> None:
    """The session's scheduling group (``/proc/self/autogroup``: "/autogroup-N nice K")
    lowered by ``by``; nothing where the kernel has none."""
    group = Path("/proc/self/autogroup")
    try:
        now = int(group.read_text().split()[-1])
        group.write_text(str(min(19, now + by)))
    except (OSError, ValueError, IndexError):
        log.info("the worker's scheduling group was left as it was (no autogroup here)")


def run(ll: LearnLoop, *, once: bool = False, concurrency: int | None = None) -> None:
    """Run a worker until stopped (Ctrl-C, SIGTERM), or with ``once`` until the queue is empty."""
    app = build_app(ll)
    ll.indexer.queue_pending()
    app.run_worker(wait=not once, **_options(ll, concurrency))


async def run_in_loop(ll: LearnLoop, *, concurrency: int | None = None) -> None:
    """Run a worker as a task of a running event loop (``learnloop serve --worker``), until
    the task is cancelled. A worker that stops before (the database went away: it fails,
    or procrastinate stops it when its listener loses the connection) is started again."""
    while True:
        try:
            await _run_worker_async(ll, concurrency)
            reason = "it stopped by itself (its listener lost the database)"
        except (ConnectorException, LearnLoopError) as exc:
            # procrastinate's own message says only "Database error": the driver's says why.
            reason = str(exc.__cause__ or exc).strip()
        log.warning("the worker stopped: %s; starting it again in %g s", reason, RESTART_SECONDS)
        await asyncio.sleep(RESTART_SECONDS)


async def _run_worker_async(ll: LearnLoop, concurrency: int | None) -> None:
    app = build_app(ll)
    await asyncio.to_thread(ll.indexer.queue_pending)
    async with app.open_async():
        await app.run_worker_async(install_signal_handlers=False, **_options(ll, concurrency))

"""The jobs and the worker loop.

Jobs live in procrastinate's tables in the same database; a worker wakes on PostgreSQL
LISTEN/NOTIFY when one is queued, so work starts within a fraction of a second of the
commit that queued it.

- ``learnloop.embed_changes(tenant_id)``: queued by the item triggers in the transaction of
  each change (migration 0006), at most one waiting per tenant, and run one at a time per
  tenant (procrastinate's ``queueing_lock`` and ``lock``).
- ``learnloop.tick``: a periodic job, every second. It gives the jobs of a dead worker
  (no heartbeat for ``LEARNLOOP_WORKER_STALLED_SECONDS``) up and queues their work
  afresh, and runs the periodic work of ``PERIODIC`` that is due.

When the database goes away, the worker stops (with an error, or procrastinate stops it
when its listener loses the connection) and ``run_in_loop`` starts it again every
``RESTART_SECONDS`` until the database is back; the queue's connections wait
at most ``LEARNLOOP_POOL_TIMEOUT_SECONDS`` for the database, so stopping the worker while
it is down takes seconds, not the driver's default 30.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import procrastinate
from procrastinate.exceptions import ConnectorException
from procrastinate.jobs import Status

from learnloop.analytics.rollups import refresh, tenants_with_activity
from learnloop.errors import LearnLoopError
from learnloop.learn import autoswitch, stats
from learnloop.learn.adapters import adapter_tenants
from learnloop.learn.autoswitch import autoswitch_tenants
from learnloop.proposals.apply import apply_tenant, approved_tenants
from learnloop.proposals.duplicates import embed_pending
from learnloop.proposals.service import refresh_views

if TYPE_CHECKING:
    from learnloop.service import LearnLoop

QUEUE = "learnloop"
RESTART_SECONDS = 2.0  # between a worker that failed (the database went away) and the next
RECONNECT_SECONDS = 1.0  # the queue's pool gives a failing reconnection up after this
log = logging.getLogger("learnloop.worker")


@dataclass
class Periodic:
    """Work a worker runs every ``seconds``; it must be idempotent and safe to run from
    several workers at once. It returns how much it did (logged when not zero)."""

    name: str
    seconds: float
    run: Callable[[LearnLoop], int | None]
    last: float = field(default=0.0, compare=False)


def _queue_embedding(ll: LearnLoop) -> int:
    return len(ll.indexer.queue_pending())


STATS_BATCH = 10_000  # events per statistics transaction
ADAPT_EVERY = 600.0  # seconds between checks for embedding adapters due a refit


def _statistics(ll: LearnLoop) -> int:
    done = total = stats.update(ll.db, limit=STATS_BATCH)
    while done == STATS_BATCH:  # a full batch: more is waiting
        done = stats.update(ll.db, limit=STATS_BATCH)
        total += done
    return total


def _autoswitch(ll: LearnLoop) -> int:
    """Each tenant that asked for automatic policy switches, checked on its own: one that
    fails is logged, the others are still checked. The switches and rollbacks made."""
    done = 0
    for tenant in autoswitch_tenants(ll.db):
        try:
            done += ll.learning.autoswitch(tenant)["applied"]
        except Exception:
            log.exception("tenant %s: the automatic policy switch check failed", tenant)
    return done


def _adapt(ll: LearnLoop) -> int:
    """Each memory tenant's embedding adapter refitted where its clicked pairs grew by
    ``adapter.refit_growth`` (kept only when it wins on held-out pairs). The adapters kept."""
    done = 0
    for tenant in adapter_tenants(ll.db):
        try:
            done += bool(ll.learning.train_adapter(tenant, force=False)["kept"])
        except Exception:
            log.exception("tenant %s: refitting the embedding adapter failed", tenant)
    return done


def _embed_proposals(ll: LearnLoop) -> int:
    return embed_pending(ll.db, ll.embedder)


def _apply_proposals(ll: LearnLoop) -> int:
    """Each tenant's approved proposals in a transaction of its own: whatever stops one
    tenant's batch is logged, and the other tenants' still apply in this tick."""
    done = 0
    for tenant in approved_tenants(ll.db):
        try:
            done += apply_tenant(ll.db, ll.items, tenant, batch=100, embed=False)
        except Exception:
            log.exception(
                "tenant %s: applying approved proposals failed; retried next tick", tenant
            )
    return done


def _refresh_learning_views(ll: LearnLoop) -> None:
    refresh_views(ll.db)


def _refresh_rollups(ll: LearnLoop) -> int:
    """Each tenant's rollups on their own: one that fails is logged, the others refresh."""
    done = 0
    for tenant in tenants_with_activity(ll.db):
        try:
            done += refresh(ll.db, tenant).refreshed
        except Exception:
            log.exception("tenant %s: refreshing the rollups failed; retried next time", tenant)
    return done


# The periodic work of every area, in the order it runs within a tick.
PERIODIC: list[Periodic] = [
    Periodic("queue embedding jobs for changes without one", 5.0, _queue_embedding),
    Periodic("outcome statistics: events processed", 1.0, _statistics),
    Periodic("learning: automatic policy switches and rollbacks", autoswitch.EVERY, _autoswitch),
    Periodic("learning: embedding adapters refitted where evidence grew", ADAPT_EVERY, _adapt),
    Periodic(
        "learning queue: proposals embedded and checked for duplicates", 1.0, _embed_proposals
    ),
    Periodic("learning queue: approved proposals applied", 1.0, _apply_proposals),
    Periodic("analytics: tenants' rollups refreshed", 30.0, _refresh_rollups),
    Periodic("learning metric views refreshed", 60.0, _refresh_learning_views),
]


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
    due = [Periodic(p.name, p.seconds, p.run) for p in PERIODIC]

    @app.task(name="learnloop.embed_changes", queue=QUEUE)
    def embed_changes(tenant_id: str) -> int:
        embedded = ll.indexer.embed_changes(tenant_id)
        if embedded:
            log.info("tenant %s: embedded %d items", tenant_id, embedded)
        return embedded

    @app.periodic(cron="* * * * * *")
    @app.task(name="learnloop.tick", queue=QUEUE, queueing_lock="learnloop.tick")
    async def tick(timestamp: int) -> None:
        if await _give_up_stalled(app, ll.settings.worker_stalled_seconds):
            await asyncio.to_thread(ll.indexer.queue_pending)
        await asyncio.to_thread(_run_due, ll, due)

    del embed_changes, tick  # registered with the app
    return app


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


def _run_due(ll: LearnLoop, due: list[Periodic]) -> None:
    now = time.monotonic()
    for periodic in due:
        if now - periodic.last < periodic.seconds:
            continue
        periodic.last = now
        try:
            done = periodic.run(ll)
        except Exception:
            log.exception("periodic work %r failed; it runs again next time", periodic.name)
            continue
        if done:
            log.info("%s: %s", periodic.name, done)


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

"""The worker's periodic work: each a procrastinate periodic task of its own.

Each entry of ``PERIODIC`` becomes a task named ``Periodic.task`` that procrastinate defers
on the entry's cron schedule. Every running worker runs the periodic deferrer, and the
database keeps each scheduled time from being deferred twice (``procrastinate_periodic_defers``),
so one job runs per tick however many workers there are. Each task also has

- a queueing lock (its own name): at most one job of it waits in the queue, so a slow run
  never piles ticks up behind it;
- a lock (``Periodic.lock``) only for work that is one piece for the whole database (the
  learning metric views, the embedding safety net). The work that goes tenant by tenant
  has none: it takes a lock per tenant (advisory locks, or rows claimed with
  ``SKIP LOCKED``), so a tick that starts while the previous one still runs, on another
  worker, takes the tenants the first has not reached;
- retries (``Periodic.attempts``) for a run that fails as a whole (the database went
  away); the work run every second or five has none, its next tick is the retry.

Every ``run`` is idempotent and safe to run from several workers at once; it returns how
much it did (logged when not zero).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from learnloop.analytics.rollups import refresh, tenants_with_activity
from learnloop.learn import autoswitch, stats
from learnloop.learn.adapters import adapter_tenants
from learnloop.learn.autoswitch import autoswitch_tenants
from learnloop.proposals.apply import apply_tenant, approved_tenants
from learnloop.proposals.duplicates import embed_pending
from learnloop.proposals.service import refresh_views

if TYPE_CHECKING:
    from learnloop.service import LearnLoop

log = logging.getLogger("learnloop.worker")
RETRY_WAIT_SECONDS = 5  # between a failed run and its retry


def cron_every(seconds: int) -> str:
    """The cron schedule (procrastinate's six fields, seconds last) of every ``seconds``.

    >>> cron_every(1), cron_every(30), cron_every(60), cron_every(300)
    ('* * * * * *', '* * * * * */30', '* * * * *', '*/5 * * * *')
    """
    if seconds < 60 and 60 % seconds == 0:
        return "* * * * * *" if seconds == 1 else f"* * * * * */{seconds}"
    if seconds % 60 == 0 and 60 % (seconds // 60) == 0:
        minutes = seconds // 60
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    raise ValueError(f"{seconds} s is not a divisor of a minute or of an hour")


@dataclass(frozen=True)
class Periodic:
    """Work run every ``seconds`` as the procrastinate task ``task``."""

    name: str
    task: str
    seconds: int
    run: Callable[[LearnLoop], int | None]
    lock: str | None = None
    attempts: int = 0

    @property
    def cron(self) -> str:
        return cron_every(self.seconds)


def _queue_embedding(ll: LearnLoop) -> int:
    return len(ll.indexer.queue_pending())


STATS_BATCH = 10_000  # events per statistics transaction


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


ADAPT_EVERY = 600  # seconds between checks for embedding adapters due a refit


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
    tenant's batch is logged, and the other tenants' still apply in this run."""
    done = 0
    for tenant in approved_tenants(ll.db):
        try:
            done += apply_tenant(ll.db, ll.items, tenant, batch=100, embed=False)
        except Exception:
            log.exception("tenant %s: applying approved proposals failed; retried next run", tenant)
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


# The periodic work of every area.
PERIODIC: list[Periodic] = [
    Periodic(
        "queue embedding jobs for changes without one",
        "learnloop.queue_embedding",
        5,
        _queue_embedding,
        lock="learnloop.queue_embedding",
    ),
    Periodic("outcome statistics: events processed", "learnloop.statistics", 1, _statistics),
    Periodic(
        "learning: automatic policy switches and rollbacks",
        "learnloop.autoswitch",
        int(autoswitch.EVERY),
        _autoswitch,
        attempts=2,
    ),
    Periodic(
        "learning: embedding adapters refitted where evidence grew",
        "learnloop.adapt",
        ADAPT_EVERY,
        _adapt,
        attempts=2,
    ),
    Periodic(
        "learning queue: proposals embedded and checked for duplicates",
        "learnloop.embed_proposals",
        1,
        _embed_proposals,
    ),
    Periodic(
        "learning queue: approved proposals applied",
        "learnloop.apply_proposals",
        1,
        _apply_proposals,
    ),
    Periodic(
        "analytics: tenants' rollups refreshed",
        "learnloop.rollups",
        30,
        _refresh_rollups,
        attempts=2,
    ),
    Periodic(
        "learning metric views refreshed",
        "learnloop.learning_views",
        60,
        _refresh_learning_views,
        lock="learnloop.learning_views",
        attempts=2,
    ),
]

"""The worker's periodic work: procrastinate periodic tasks, each run once per tick."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from learnloop import LearnLoop
from learnloop.embedders import LocalEmbedder
from learnloop.settings import Settings
from learnloop.worker import PERIODIC, build_app
from learnloop.worker.app import STALLED_TASK, _options
from learnloop.worker.periodic import cron_every
from tests.test_learn_stats_tenants import assert_counted_once, make_tenant, pending


@pytest.fixture
def own(migrated_db_url: str, settings: Settings, embedder: LocalEmbedder) -> Iterator[LearnLoop]:
    """A LearnLoop on a database of its own: the jobs there are this test's alone."""
    with LearnLoop.open(
        settings.model_copy(update={"database_url": migrated_db_url}), embedder
    ) as ll:
        yield ll


def test_each_periodic_work_is_a_task_with_its_schedule_lock_and_retries(ll: LearnLoop) -> None:
    app = build_app(ll)
    schedules = {name: p.cron for (name, _), p in app.periodic_registry.periodic_tasks.items()}
    assert schedules == {STALLED_TASK: "* * * * * *"} | {p.task: p.cron for p in PERIODIC}
    assert schedules["learnloop.statistics"] == "* * * * * *"
    assert schedules["learnloop.rollups"] == "* * * * * */30"
    assert schedules["learnloop.autoswitch"] == "*/5 * * * *"
    for periodic in PERIODIC:
        task = app.tasks[periodic.task]
        assert task.queueing_lock == periodic.task  # one waiting at most
        assert task.lock == periodic.lock
        attempts = getattr(task.retry_strategy, "max_attempts", 0)
        assert attempts == periodic.attempts
    # Work that goes tenant by tenant has no lock of its own: it locks each tenant.
    assert app.tasks["learnloop.statistics"].lock is None
    assert app.tasks["learnloop.learning_views"].lock == "learnloop.learning_views"
    # The task that gives a dead worker's jobs up must not wait for one of them.
    assert app.tasks[STALLED_TASK].lock is None
    with pytest.raises(ValueError, match="7 s"):
        cron_every(7)


class _Runs(logging.Handler):
    """The jobs procrastinate's workers finished successfully: (worker, task, kwargs)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.done: list[tuple[int, str, int | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "action", None) == "job_success":
            job, worker = record.job, record.worker  # type: ignore[attr-defined]
            stamp = job["task_kwargs"].get("timestamp")
            self.done.append((worker["worker_id"], job["task_name"], stamp))


async def _two_workers(ll: LearnLoop, finished: object, timeout: float) -> None:
    apps = [build_app(ll), build_app(ll)]
    async with apps[0].open_async(), apps[1].open_async():
        running = [
            asyncio.create_task(
                app.run_worker_async(install_signal_handlers=False, **_options(ll, None))
            )
            for app in apps
        ]
        deadline = time.monotonic() + timeout
        try:
            while not await asyncio.to_thread(finished):  # type: ignore[arg-type]
                assert time.monotonic() < deadline, "the two workers did not finish the work"
                await asyncio.sleep(0.2)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)


def test_two_workers_run_every_periodic_task_and_each_tick_once(own: LearnLoop) -> None:
    tenants = [make_tenant(own) for _ in range(3)]
    own.feedback.correct(
        tenants[0],
        {
            "query": "How do I rotate the quartz keys?",
            "priority": "urgent",
            "original_response": "You cannot.",
            "corrected_answer": "Run quartz rotate-keys.",
        },
    )
    runs = _Runs()
    logger = logging.getLogger("procrastinate.worker")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(runs)
    names = {STALLED_TASK} | {p.task for p in PERIODIC}

    def finished() -> bool:
        ran = {task for _, task, _ in runs.done}
        workers = {worker for worker, _, _ in runs.done}
        corrected = bool(own.items.list(tenants[0], kinds=["correction"])[0])
        idle = all(pending(own, t) == 0 for t in tenants)
        return ran >= names and len(workers) == 2 and corrected and idle

    try:
        asyncio.run(_two_workers(own, finished, timeout=60))
    finally:
        logger.removeHandler(runs)
        logger.setLevel(level)
    # Each tick of each periodic task ran once, on one of the two workers.
    ticks = Counter((task, stamp) for _, task, stamp in runs.done if task in names)
    assert ticks and max(ticks.values()) == 1, ticks.most_common(3)
    for tenant in tenants:  # every event counted once
        assert_counted_once(own, tenant)

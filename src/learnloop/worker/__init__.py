"""The worker: procrastinate's job queue on the same PostgreSQL, and the jobs learnloop runs."""

from learnloop.worker.app import (
    PERIODIC,
    QUEUE,
    Periodic,
    build_app,
    lower_priority,
    run,
    run_in_loop,
)

__all__ = ["PERIODIC", "QUEUE", "Periodic", "build_app", "lower_priority", "run", "run_in_loop"]

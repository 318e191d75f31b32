"""Group commit of ``POST /v1/events``: the calls that arrive while a commit is under way
wait for it to end and are then recorded together, in one transaction (``Events.
record_many``), and each is answered once that transaction committed.

No timer: a call that finds nothing under way is recorded at once, alone, so a quiet server
answers as fast as before; under load the groups grow by themselves with the time a commit
takes, and a single event costs a share of one commit and of its round trips instead of a
transaction of its own. At most ``MAX_EVENTS`` events go into one group, and ``parallel``
groups are under way at once (each in a thread of the pool, while the event loop reads the
next requests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool

from learnloop.errors import LearnLoopError
from learnloop.events import Events
from learnloop.events.service import Call, Recorded

MAX_EVENTS = 1000  # events in one group: its statement stays far below a batch call's
CALL_EVENTS = 100  # calls of up to this many events are grouped; larger ones go alone
PARALLEL = 1  # groups under way at once


class GroupCommit:
    """The calls of one event loop waiting to be recorded, and the groups under way."""

    def __init__(self, events: Events, *, parallel: int = PARALLEL) -> None:
        self.events = events
        self.parallel = parallel
        self.loop = asyncio.get_running_loop()
        self._waiting: list[tuple[Call, asyncio.Future[Recorded]]] = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()  # kept until done (the loop holds weakly)
        self.groups = 0  # groups committed so far, and the calls in them: for tests
        self.calls = 0

    @property
    def waiting(self) -> int:
        """Calls waiting for a group of theirs."""
        return len(self._waiting)

    async def record(self, tenant_id: str, raw: Sequence[dict[str, Any]]) -> Recorded:
        """Record one call's events with the others waiting; its answer once committed."""
        answer: asyncio.Future[Recorded] = self.loop.create_future()
        self._waiting.append(((tenant_id, raw), answer))
        if self._running < self.parallel:
            self._running += 1
            task = self.loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await answer

    async def _drain(self) -> None:
        """Record groups until no call waits."""
        try:
            while self._waiting:
                group = self._take()
                await self._commit(group)
        finally:
            self._running -= 1

    def _take(self) -> list[tuple[Call, asyncio.Future[Recorded]]]:
        """The calls that waited longest, up to ``MAX_EVENTS`` events (one call at least)."""
        events, n = 0, 0
        for (_, raw), _ in self._waiting:
            events += len(raw)
            if n and events > MAX_EVENTS:
                break
            n += 1
        group, self._waiting = self._waiting[:n], self._waiting[n:]
        return group

    async def _commit(self, group: list[tuple[Call, asyncio.Future[Recorded]]]) -> None:
        calls = [call for call, _ in group]
        try:
            results = await run_in_threadpool(self.events.record_many, calls)
        except BaseException as exc:  # a bug, or cancelled: every call of the group hears it
            for _, answer in group:
                if not answer.done():
                    answer.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.groups += 1
        self.calls += len(group)
        for (_, answer), result in zip(group, results, strict=True):
            if answer.done():  # the caller went away; its events are stored all the same
                continue
            if isinstance(result, LearnLoopError):
                answer.set_exception(result)
            else:
                answer.set_result(result)


def group_commit(state: Any, events: Events) -> GroupCommit:
    """The app's group commit for the running event loop (made at its first call: a test
    client runs the app in a loop of its own)."""
    groups: GroupCommit | None = getattr(state, "group_commit", None)
    loop = asyncio.get_running_loop()
    if groups is None or groups.loop is not loop or groups.events is not events:
        groups = GroupCommit(events)
        state.group_commit = groups
    return groups

"""learnloop.AsyncClient: Client's methods, awaited, over ``httpx.AsyncClient``."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, TypeVar

from learnloop.client import calls
from learnloop.client.calls import Call
from learnloop.client.methods import awaited
from learnloop.client.transport import AsyncHttpTransport, LocalTransport
from learnloop.service import LearnLoop

T = TypeVar("T")


class AsyncClient:
    """The same methods as ``Client``, each a coroutine::

    async with AsyncClient("http://127.0.0.1:8000", api_key="ll_...") as client:
        answer = await client.recommend("reset my password")
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0):
        self._http: AsyncHttpTransport | None = AsyncHttpTransport(
            base_url, api_key, timeout=timeout
        )
        self._local: LocalTransport | None = None

    @classmethod
    def local(cls, ll: LearnLoop, tenant_id: str) -> AsyncClient:
        """Calls ``ll`` in a worker thread, acting for ``tenant_id``."""
        client = cls.__new__(cls)
        client._http, client._local = None, LocalTransport(ll, tenant_id)
        return client

    put_item = awaited(calls.put_item)
    item = awaited(calls.item)
    items = awaited(calls.items)
    search = awaited(calls.search)
    recommend = awaited(calls.recommend)
    event = awaited(calls.event)
    events = awaited(calls.events)
    feedback = awaited(calls.feedback)
    correct = awaited(calls.correct)
    record_execution = awaited(calls.record_execution)
    tool_created = awaited(calls.tool_created)
    report = awaited(calls.report)
    reports = awaited(calls.reports)
    messages = awaited(calls.messages)
    transcript = awaited(calls.transcript)
    context = awaited(calls.context)
    answer = awaited(calls.answer)
    select_tool = awaited(calls.select_tool)
    playbooks = awaited(calls.playbooks)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _send(self, call: Call[T]) -> T:
        args: tuple[Any, ...] = (call.route.method, call.path, call.body, call.params)
        if self._http is not None:
            return call.parse(await self._http.request(*args))
        assert self._local is not None
        return call.parse(await asyncio.to_thread(self._local.request, *args))

"""learnloop.Client: the Python SDK, over HTTP or in-process, with one set of methods."""

from __future__ import annotations

from types import TracebackType
from typing import Any, TypeVar

from learnloop.client import calls
from learnloop.client.calls import Call
from learnloop.client.execution import ExecutionRecorder
from learnloop.client.methods import sync
from learnloop.client.transport import HttpTransport, LocalTransport, Transport
from learnloop.service import LearnLoop

T = TypeVar("T")


class Client:
    """Everything an assistant or agent tells learnloop, and asks of it.

    Over HTTP (``Client.local(ll, tenant)`` gives the same methods in this process)::

        client = Client("http://127.0.0.1:8000", api_key="ll_...")
        answer = client.recommend("reset my password", context={"user": "ana"})
        top = answer.recommendations[0]
        client.event("clicked", answer.impression_id, item_id=top.item.item_id)
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        transport: Transport | None = None,
        timeout: float = 30.0,
    ):
        if transport is None:
            if not base_url or not api_key:
                raise ValueError("give base_url and api_key, or use Client.local(ll, tenant)")
            transport = HttpTransport(base_url, api_key, timeout=timeout)
        self._transport = transport

    @classmethod
    def local(cls, ll: LearnLoop, tenant_id: str) -> Client:
        """A client that calls ``ll`` directly, acting for ``tenant_id``."""
        return cls(transport=LocalTransport(ll, tenant_id))

    put_item = sync(calls.put_item)
    item = sync(calls.item)
    items = sync(calls.items)
    search = sync(calls.search)
    recommend = sync(calls.recommend)
    event = sync(calls.event)
    events = sync(calls.events)
    feedback = sync(calls.feedback)
    correct = sync(calls.correct)
    record_execution = sync(calls.record_execution)

    def execution(self, goal: str, **fields: Any) -> ExecutionRecorder:
        """A context manager that times its block and records it, with its tool calls."""
        return ExecutionRecorder(self.record_execution, goal, **fields)

    tool_created = sync(calls.tool_created)
    report = sync(calls.report)
    reports = sync(calls.reports)
    messages = sync(calls.messages)
    transcript = sync(calls.transcript)
    context = sync(calls.context)
    answer = sync(calls.answer)
    select_tool = sync(calls.select_tool)
    playbooks = sync(calls.playbooks)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, call: Call[T]) -> T:
        return call.parse(
            self._transport.request(call.route.method, call.path, call.body, call.params)
        )

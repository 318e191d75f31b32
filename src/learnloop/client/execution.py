"""A context manager that times a block of agent work and records it as an execution."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any
from uuid import UUID


class ToolCallTimer:
    """One tool call being timed; set ``result`` (and ``success`` if it failed quietly)."""

    def __init__(self, tool: str, parameters: dict[str, Any], item_id: int | None):
        self.call: dict[str, Any] = {"tool": tool, "parameters": parameters, "item_id": item_id}
        self.result: Any = None
        self.success = True


class ExecutionRecorder:
    """Collects tool calls while the block runs; on exit records the run, failed if it raised.

    ::

        with client.execution("rotate the TLS certificate", intent="remediate") as run:
            with run.tool_call("rotate_certificate", {"host": "api"}) as call:
                call.result = rotate("api")
    """

    def __init__(self, send: Callable[[dict[str, Any]], UUID], goal: str, **fields: Any):
        self._send = send
        self.fields = {"goal": goal, **fields}
        self.tool_calls: list[dict[str, Any]] = []
        self.execution_id: UUID | None = None
        self._started = 0.0

    def __enter__(self) -> ExecutionRecorder:
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        duration_ms = (time.perf_counter() - self._started) * 1000
        run = self.fields | {
            "success": exc is None,
            "error": None if exc is None else f"{type(exc).__name__}: {exc}",
            "duration_ms": duration_ms,
            "tool_calls": self.tool_calls,
        }
        self.execution_id = self._send(run)

    @contextmanager
    def tool_call(
        self, tool: str, parameters: dict[str, Any] | None = None, *, item_id: int | None = None
    ) -> Iterator[ToolCallTimer]:
        """Time one tool call; an exception marks it failed and goes on up."""
        timer = ToolCallTimer(tool, parameters or {}, item_id)
        started = time.perf_counter()
        error: str | None = None
        try:
            yield timer
        except BaseException as exc:
            timer.success, error = False, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.tool_calls.append(
                timer.call
                | {
                    "result": timer.result,
                    "success": timer.success,
                    "error": error,
                    "duration_ms": (time.perf_counter() - started) * 1000,
                }
            )

"""Turn each call of ``calls`` into a method of Client (sync) or AsyncClient (awaited)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from learnloop.client.calls import Call

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class _Sends(Protocol):
    def _send(self, call: Call[Any]) -> Any: ...


class _AwaitsSends(Protocol):
    async def _send(self, call: Call[Any]) -> Any: ...


def sync(build: Callable[P, Call[T]]) -> Callable[Concatenate[Any, P], T]:
    def method(self: _Sends, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._send(build(*args, **kwargs))  # type: ignore[no-any-return]

    return _like(method, build)


def awaited(build: Callable[P, Call[T]]) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]:
    async def method(self: _AwaitsSends, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._send(build(*args, **kwargs))  # type: ignore[no-any-return]

    return _like(method, build)


def _like(method: F, build: Callable[..., Any]) -> F:
    functools.update_wrapper(method, build)
    del method.__wrapped__  # type: ignore[attr-defined]
    signature = inspect.signature(build)
    self = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    parameters = [self, *signature.parameters.values()]
    setattr(method, "__signature__", signature.replace(parameters=parameters))  # noqa: B010
    return method

"""Which learnloop client a tool call goes through: the API key of the call, or the server's.

Over streamable HTTP each call may carry its own key (``Authorization: Bearer ll_...``), so
one MCP server can serve several agents, each with its tenant and scopes; without one, and
over stdio, the key the server was started with is used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError

from learnloop.client import AsyncClient
from learnloop.errors import LearnLoopError, NotFound

T = TypeVar("T")

_headers: ContextVar[Mapping[str, str] | None] = ContextVar("mcp_request_headers", default=None)

NO_KEY = (
    "no API key: start `learnloop mcp` with --api-key (or LEARNLOOP_API_KEY), "
    "or send the request with 'Authorization: Bearer ll_...'"
)


class Gateway:
    """The learnloop server's address and the default key; a client for each call."""

    def __init__(self, url: str, api_key: str | None, *, timeout: float = 30.0):
        self.url, self.api_key, self.timeout = url, api_key, timeout
        self._shared: AsyncClient | None = None

    @asynccontextmanager
    async def client(self) -> AsyncIterator[AsyncClient]:
        key = bearer(_headers.get())
        if key is not None and key != self.api_key:
            async with AsyncClient(self.url, api_key=key, timeout=self.timeout) as own:
                yield own
            return
        if self.api_key is None:
            raise LearnLoopError(NO_KEY)
        if self._shared is None:
            self._shared = AsyncClient(self.url, api_key=self.api_key, timeout=self.timeout)
        yield self._shared

    async def close(self) -> None:
        if self._shared is not None:
            await self._shared.close()
            self._shared = None

    async def tool(self, call: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """``call`` with a client; learnloop's errors become the tool error a model reads."""
        try:
            async with self.client() as client:
                return await call(client)
        except LearnLoopError as exc:
            raise ToolError(_said(exc)) from exc

    async def resource(self, call: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """``call`` with a client; NotFound becomes the protocol's not-found error."""
        try:
            async with self.client() as client:
                return await call(client)
        except NotFound as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        except LearnLoopError as exc:
            raise ResourceError(_said(exc)) from exc


async def keep_headers(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Middleware: the HTTP request's headers, for the tools and resources it reaches."""
    token = _headers.set(getattr(ctx.request, "headers", None))
    try:
        return await call_next(ctx)
    finally:
        _headers.reset(token)


def _said(exc: LearnLoopError) -> str:
    """The error as a model reads it: its kind (InvalidInput, Forbidden, ...) and message."""
    kind = type(exc).__name__
    return str(exc) if type(exc) is LearnLoopError else f"{kind}: {exc}"


def bearer(headers: Mapping[str, Any] | None) -> str | None:
    """The key of an ``Authorization: Bearer ...`` header, if the request has one."""
    value = str((headers or {}).get("authorization", ""))
    scheme, _, key = value.partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None

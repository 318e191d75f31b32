"""How the client reaches learnloop: over HTTP, or calling a LearnLoop in this process.

Both speak the same paths and JSON bodies, so the client builds each request once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import unquote
from uuid import UUID

import httpx
from pydantic import BaseModel

from learnloop import errors
from learnloop.client import routes
from learnloop.client.routes import Route
from learnloop.context import LLMError
from learnloop.service import LearnLoop

Json = Any


class Transport(Protocol):
    def request(self, method: str, path: str, body: Json = None, params: Json = None) -> Json:
        """The JSON answer; a LearnLoopError subclass for an error answer."""
        ...

    def close(self) -> None: ...


_KNOWN: tuple[type[errors.LearnLoopError], ...] = (
    errors.InvalidInput,
    errors.NotFound,
    errors.Conflict,
    errors.AuthError,
    errors.Forbidden,
    errors.RateLimited,
    errors.DatabaseError,
    errors.EmbedderError,
    errors.EmbeddingMismatchError,
    LLMError,
)
_ERRORS: dict[str, type[errors.LearnLoopError]] = {cls.code: cls for cls in _KNOWN}
_ERRORS |= {"invalid_json": errors.InvalidInput, "body_too_large": errors.InvalidInput}


class HttpTransport:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0):
        headers = {"Authorization": f"Bearer {api_key}"}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def request(self, method: str, path: str, body: Json = None, params: Json = None) -> Json:
        try:
            response = self._http.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise errors.LearnLoopError(
                f"cannot reach learnloop at {self._http.base_url}: {exc}"
            ) from exc
        return _answer(response)

    def close(self) -> None:
        self._http.close()


class AsyncHttpTransport:
    """HttpTransport over ``httpx.AsyncClient``: the same requests, errors and answers."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0):
        headers = {"Authorization": f"Bearer {api_key}"}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout
        )

    async def request(self, method: str, path: str, body: Json = None, params: Json = None) -> Json:
        try:
            response = await self._http.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise errors.LearnLoopError(
                f"cannot reach learnloop at {self._http.base_url}: {exc}"
            ) from exc
        return _answer(response)

    async def close(self) -> None:
        await self._http.aclose()


def _answer(response: httpx.Response) -> Json:
    """The JSON of a response, or the library error its error body names."""
    if response.status_code == 204:
        return None
    data = response.json()
    if response.is_error:
        error = data.get("error", {}) if isinstance(data, dict) else {}
        cls = _ERRORS.get(error.get("code", ""), errors.LearnLoopError)
        raise cls(error.get("message") or f"learnloop answered {response.status_code}")
    return data


class LocalTransport:
    """Calls the domain directly, with the same paths and bodies as the HTTP API."""

    def __init__(self, ll: LearnLoop, tenant_id: str):
        self.ll = ll
        self.tenant_id = tenant_id
        self._routes: dict[Route, Callable[[Json, Json], Any]] = {
            routes.ITEMS: lambda b, _: _added(ll, tenant_id, b),
            routes.LIST_ITEMS: lambda _, p: _item_page(ll.items.list(tenant_id, **_listing(p))),
            routes.SEARCH: lambda b, _: {"hits": ll.search.search(tenant_id, **b)},
            routes.RECOMMEND: lambda b, _: ll.recommender.recommend(tenant_id, b),
            routes.EVENTS: lambda b, _: {"results": ll.events.record(tenant_id, b["events"])},
            routes.FEEDBACK: lambda b, _: ll.feedback.add(tenant_id, b)[0],
            routes.CORRECTIONS: lambda b, _: ll.feedback.correct(tenant_id, b)[0],
            routes.EXECUTIONS: lambda b, _: _execution_ack(ll.tracking.execution(tenant_id, b)),
            routes.TOOL_CREATIONS: lambda b, _: ll.tracking.tool_created(tenant_id, b),
            routes.REPORT: lambda b, _: ll.tracking.report(tenant_id, b),
            routes.REPORTS: lambda _, p: ll.tracking.reports(tenant_id, **(p or {})),
            routes.TRANSCRIPTS: lambda b, _: ll.conversations.transcript(tenant_id, b)[0],
            routes.CONTEXT: lambda b, _: ll.context.build(tenant_id, b),
            routes.ANSWER: lambda b, _: ll.context.answer(tenant_id, b),
            routes.SELECT_TOOL: lambda b, _: ll.tools.select(tenant_id, b),
            routes.PLAYBOOKS: lambda b, _: ll.playbooks.recommend(tenant_id, b),
        }

    def request(self, method: str, path: str, body: Json = None, params: Json = None) -> Json:
        ll, tenant_id = self.ll, self.tenant_id
        if (conversation_id := _path_arg(routes.MESSAGES, method, path)) is not None:
            return _jsonable(ll.conversations.add(tenant_id, conversation_id, body))
        if (item_id := _path_arg(routes.ITEM, method, path)) is not None:
            if not item_id.isdigit():
                raise errors.InvalidInput(f"item_id must be a whole number, not {item_id!r}")
            return _jsonable(ll.items.get(tenant_id, int(item_id)))
        route = self._routes.get(Route(method, path))
        if route is None:
            raise errors.NotFound(f"the in-process client has no {method} {path}")
        return _jsonable(route(body, params))

    def close(self) -> None:
        """The LearnLoop belongs to the caller, who closes it."""


def _added(ll: LearnLoop, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """An item added in-process as ``POST /v1/items`` adds it, duplicate check included."""
    fields = {k: v for k, v in body.items() if k != "on_duplicate"}
    added = ll.items.add(tenant_id, fields, on_duplicate=body.get("on_duplicate", "warn"))
    return {"item": added.item, "outcome": added.outcome, "duplicate": added.duplicate}


def _path_arg(route: Route, method: str, path: str) -> str | None:
    """The one path argument of ``route`` in ``path``; None when the path is not the route's."""
    head, _, rest = route.path.partition("{")
    tail = rest.partition("}")[2]
    if method != route.method or not path.startswith(head) or not path.endswith(tail):
        return None
    value = path[len(head) : len(path) - len(tail)]
    return unquote(value) if value else None


def _listing(params: Json) -> dict[str, Any]:
    """GET /v1/items' query parameters as ItemStore.list's keywords."""
    names = {"kind": "kinds", "status": "statuses", "tag": "tags"}
    return {names.get(key, key): value for key, value in (params or {}).items()}


def _item_page(page: tuple[list[Any], int | None]) -> dict[str, Any]:
    return {"items": page[0], "next_cursor": page[1]}


def _execution_ack(result: tuple[UUID, bool]) -> dict[str, Any]:
    return {"execution_id": result[0], "created": result[1]}


def _jsonable(value: Any) -> Json:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: _jsonable(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value

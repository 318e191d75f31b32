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
        if response.status_code == 204:
            return None
        data = response.json()
        if response.is_error:
            error = data.get("error", {}) if isinstance(data, dict) else {}
            cls = _ERRORS.get(error.get("code", ""), errors.LearnLoopError)
            raise cls(error.get("message") or f"learnloop answered {response.status_code}")
        return data

    def close(self) -> None:
        self._http.close()


_MESSAGES = ("/v1/conversations/", "/messages")  # POST /v1/conversations/{id}/messages


class LocalTransport:
    """Calls the domain directly, with the same paths and bodies as the HTTP API."""

    def __init__(self, ll: LearnLoop, tenant_id: str):
        self.ll = ll
        self.tenant_id = tenant_id
        self._routes: dict[tuple[str, str], Callable[[Json, Json], Any]] = {
            ("POST", "/v1/items"): lambda b, _: _put_result(ll.items.put(tenant_id, b)),
            ("POST", "/v1/search"): lambda b, _: {"hits": ll.search.search(tenant_id, **b)},
            ("POST", "/v1/recommend"): lambda b, _: ll.recommender.recommend(tenant_id, b),
            ("POST", "/v1/events"): lambda b, _: {
                "results": ll.events.record(tenant_id, b["events"])
            },
            ("POST", "/v1/feedback"): lambda b, _: ll.feedback.add(tenant_id, b)[0],
            ("POST", "/v1/corrections"): lambda b, _: ll.feedback.correct(tenant_id, b)[0],
            ("POST", "/v1/executions"): lambda b, _: _execution_ack(
                ll.tracking.execution(tenant_id, b)
            ),
            ("POST", "/v1/tool-creations"): lambda b, _: ll.tracking.tool_created(tenant_id, b),
            ("POST", "/v1/reports"): lambda b, _: ll.tracking.report(tenant_id, b),
            ("GET", "/v1/reports"): lambda _, p: ll.tracking.reports(tenant_id, **(p or {})),
            ("POST", "/v1/transcripts"): lambda b, _: ll.conversations.transcript(tenant_id, b)[0],
            ("POST", "/v1/context"): lambda b, _: ll.context.build(tenant_id, b),
            ("POST", "/v1/answer"): lambda b, _: ll.context.answer(tenant_id, b),
            ("POST", "/v1/tools/select"): lambda b, _: ll.tools.select(tenant_id, b),
            ("POST", "/v1/playbooks/recommend"): lambda b, _: ll.playbooks.recommend(tenant_id, b),
        }

    def request(self, method: str, path: str, body: Json = None, params: Json = None) -> Json:
        if method == "POST" and path.startswith(_MESSAGES[0]) and path.endswith(_MESSAGES[1]):
            conversation_id = unquote(path[len(_MESSAGES[0]) : -len(_MESSAGES[1])])
            return _jsonable(self.ll.conversations.add(self.tenant_id, conversation_id, body))
        route = self._routes.get((method, path))
        if route is None:
            raise errors.NotFound(f"the in-process client has no {method} {path}")
        return _jsonable(route(body, params))

    def close(self) -> None:
        """The LearnLoop belongs to the caller, who closes it."""


def _put_result(result: tuple[Any, str]) -> dict[str, Any]:
    return {"item": result[0], "outcome": result[1]}


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

"""The error answers each route documents in the OpenAPI schema, all with one body
(``ErrorBody``: ``{"error": {"code", "message"}}``, as ``errors.py`` sends them).

What every route of a kind can answer is added to it here, once (``document``): 422 (a
parameter or field the message names), 503 (the database, the embedder or the LLM cannot be
reached) and, for a route that takes a body, 400 (not valid JSON), 408 (too slow) and 413
(too large); 404 where the path names something. What only some routes answer (a 409, a 404
for an id in the body, a second success status) each route names with ``errors(...)`` or
``also(...)`` in its decorator.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from learnloop.api.deps import get_ll


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error the API sends."""

    error: ErrorDetail


Responses = dict[int | str, dict[str, Any]]
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
MEANINGS = {
    400: "The body is not valid JSON (or not in the format its Content-Type names)",
    401: "No API key, or an unknown or revoked one",
    403: "The key lacks the scope this route needs",
    404: "What the request names is not in this tenant",
    408: "The body did not arrive within the server's body timeout",
    409: "The request conflicts with what is stored; the message says with what",
    413: "The body is over the size limit",
    415: "The body's Content-Type or Content-Encoding is not one this route reads",
    422: "A parameter or field is missing or wrong; the message names it and what to send",
    429: "The key is over its rate limit; retry after the Retry-After seconds",
    503: "The database, the embedder or the LLM cannot be reached now; retry later",
}


def errors(*codes: int, **descriptions: str) -> Responses:
    """The OpenAPI answers for these error statuses, each with the error body (a description
    of one's own as ``e409="..."``)."""
    answers: Responses = {}
    for code in codes:
        answer: dict[str, Any] = {
            "model": ErrorBody,
            "description": descriptions.get(f"e{code}", MEANINGS[code]),
        }
        if code == 429:
            answer["headers"] = RETRY_AFTER
        answers[code] = answer
    return answers


def also(code: int, description: str, model: Any = None) -> Responses:
    """A second success status a route answers (200 where nothing new was made)."""
    return {code: {"description": description, **({"model": model} if model else {})}}


def document(route: APIRoute) -> None:
    """Add the error answers every route of its kind gives; the route's own win."""
    given: Responses = {**errors(422)}
    if any(d.call is get_ll for d in dependencies(route.dependant)):
        given |= errors(503)
    if route.body_field is not None or "requestBody" in (route.openapi_extra or {}):
        given |= errors(400, 408, 413)
    if route.param_convertors:
        given |= errors(404)
    route.responses = {**given, **route.responses}


def dependencies(dependant: Dependant) -> Iterator[Dependant]:
    """Every dependency of a route, and theirs."""
    for sub in dependant.dependencies:
        yield sub
        yield from dependencies(sub)

"""What each route needs of its API key, written into the OpenAPI schema: the scope in its
description, and the 401, 403 and 429 answers it can give."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from learnloop.api.deps import RequireScope, get_grant


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error the API sends."""

    error: ErrorDetail


KEY_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No API key, or an unknown or revoked one"},
    429: {
        "model": ErrorBody,
        "description": "The key is over its rate limit; retry after the Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    },
}
SCOPE_ERROR: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "The key lacks the scope this route needs"}
}


def route_scope(route: APIRoute) -> str | None:
    """The scope a route needs of its key; "" for a key of any scope; None for no key."""
    calls = [d.call for d in _dependencies(route.dependant)]
    scopes = [call.scope for call in calls if isinstance(call, RequireScope)]
    if scopes:
        return scopes[0]
    return "" if get_grant in calls else None


def document(router: APIRouter) -> None:
    """Add each keyed route's scope and error answers to its OpenAPI entry (once a router)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        scope = route_scope(route)
        if scope is None:
            continue
        route.responses = {**KEY_ERRORS, **(SCOPE_ERROR if scope else {}), **route.responses}
        needs = f"Needs an API key with the `{scope}` scope." if scope else "Any API key."
        route.description = f"{route.description}\n\n{needs}".strip()


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)

"""What each route needs of its API key, written into the OpenAPI schema: the scope in its
description, and the 401, 403 and 429 answers it can give (with the answers every route of
its kind gives, from responses.py)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from learnloop.api import responses
from learnloop.api.deps import RequireScope, get_grant
from learnloop.api.responses import ErrorBody, dependencies, errors

__all__ = ["ErrorBody", "document", "route_scope"]


KEY_ERRORS = errors(401, 429)
SCOPE_ERROR = errors(403)


def route_scope(route: APIRoute) -> str | None:
    """The scope a route needs of its key; "" for a key of any scope; None for no key."""
    calls = [d.call for d in dependencies(route.dependant)]
    scopes = [call.scope for call in calls if isinstance(call, RequireScope)]
    if scopes:
        return scopes[0]
    return "" if get_grant in calls else None


def document(router: APIRouter) -> None:
    """Add each route's error answers (``responses.document``), and each keyed route's scope
    and key errors, to its OpenAPI entry (once a router)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        responses.document(route)
        scope = route_scope(route)
        if scope is None:
            continue
        route.responses = {**KEY_ERRORS, **(SCOPE_ERROR if scope else {}), **route.responses}
        needs = f"Needs an API key with the `{scope}` scope." if scope else "Any API key."
        route.description = f"{route.description}\n\n{needs}".strip()

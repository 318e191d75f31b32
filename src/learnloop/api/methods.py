"""The methods each path takes are those /openapi.json lists for it. Where a path is both
a template's and named as it is (``/v1/keys/current`` and ``/v1/keys/{key_id}``), OpenAPI
gives it to the path named as it is, and so does the API: a method only the template takes
answers 405 there (``OwnMethods``), and every 405's ``Allow`` lists the methods of the one
path the schema gives it (``PathMethods.allowed``), the most specific where templates
overlap (``/v1/conversations/{id}/messages`` before ``/v1/conversations/{id}``, whose id may
hold a slash)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PARAMETER = re.compile(r"\{[^}]*\}")


class PathMethods:
    """The documented paths of an app's routes and the methods of each."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        by_path: dict[str, set[str]] = {}
        for route in _flat(routes):
            if isinstance(route, Route) and route.include_in_schema:
                by_path.setdefault(route.path, set()).update(route.methods or ())
        self.concrete: dict[str, list[str]] = {}
        self.templates: list[tuple[re.Pattern[str], int, list[str]]] = []
        for path, methods in by_path.items():
            listed = [method for method in METHODS if method in methods]
            if "{" not in path:
                self.concrete[path] = listed
            else:
                parts = _PARAMETER.split(path)
                regex = re.compile(".+".join(re.escape(part) for part in parts))
                self.templates.append((regex, len("".join(parts)), listed))

    def allowed(self, path: str) -> list[str] | None:
        """The methods the schema lists for ``path``; None where it names no such path."""
        if path in self.concrete:
            return self.concrete[path]
        found = [(literal, methods) for regex, literal, methods in self.templates
                 if regex.fullmatch(path)]  # fmt: skip
        return max(found, key=lambda pair: pair[0])[1] if found else None


def _flat(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI's included router
        yield from _flat(inner.routes) if inner is not None else (route,)


def not_allowed(method: str, methods: list[str]) -> JSONResponse:
    allow = ", ".join(methods)
    return JSONResponse(
        {"error": {"code": "http_error", "message": f"{method} is not allowed here; use {allow}"}},
        status_code=405,
        headers={"Allow": allow},
    )


class OwnMethods:
    """Answer 405 to a method that a path named as it is does not take, before the routes
    (where a template's route would take it)."""

    def __init__(self, app: ASGIApp, methods: PathMethods) -> None:
        self.app = app
        self.methods = methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            methods = self.methods.concrete.get(scope["path"])
            if methods and scope["method"] not in methods:
                await not_allowed(scope["method"], methods)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def documented(app: Any) -> PathMethods:
    """The app's table (``create_app`` keeps it in ``app.state.methods``)."""
    table: PathMethods = app.state.methods
    return table

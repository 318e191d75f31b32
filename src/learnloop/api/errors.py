"""Every error the API sends is JSON: {"error": {"code": ..., "message": ...}}, never a trace."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from learnloop.api import methods, security
from learnloop.api.limits import BodyRefused
from learnloop.errors import LearnLoopError, RateLimited
from learnloop.validation import describe_errors

log = logging.getLogger("learnloop.api")


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def install(app: FastAPI) -> None:
    app.add_exception_handler(LearnLoopError, _learnloop_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(BodyRefused, _body_refused)
    app.add_exception_handler(OverflowError, _overflow)
    app.add_exception_handler(Exception, _unexpected)


async def _learnloop_error(request: Request, exc: Any) -> JSONResponse:
    assert isinstance(exc, LearnLoopError)
    if exc.status_code >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
    return learnloop_error_response(exc)


def learnloop_error_response(exc: LearnLoopError) -> JSONResponse:
    """The answer to a library error: its status, code and message (and Retry-After)."""
    response = error_response(exc.status_code, exc.code, exc.message)
    if isinstance(exc, RateLimited):  # whole seconds, as HTTP wants them; at least 1
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


async def _validation_error(request: Request, exc: Any) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        detail = next(e for e in errors if e.get("type") == "json_invalid")
        reason = detail.get("ctx", {}).get("error", "it could not be parsed")
        return error_response(400, "invalid_json", f"the request body is not valid JSON: {reason}")
    return error_response(422, "invalid_input", describe_errors(errors, request=True))


async def _http_error(request: Request, exc: Any) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    messages = {404: f"no such endpoint: {request.method} {request.url.path}; see /docs"}
    if isinstance(exc.__cause__, RecursionError):  # FastAPI's json.loads of the body
        return error_response(400, "invalid_json", "the request body is JSON nested too deep")
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed(request))
        messages[405] = f"{request.method} is not allowed here; use {headers['Allow']}"
    message = messages.get(exc.status_code, str(exc.detail))
    response = error_response(exc.status_code, "http_error", message)
    response.headers.update(headers)
    return response


def _allowed(request: Request) -> list[str]:
    """The methods the schema lists for this path (``methods``); for a path it does not
    list, every method some route takes here (Starlette would name only the first route's,
    and a path here can have one route per method)."""
    listed = methods.documented(request.app).allowed(request.scope["path"])
    if listed is not None:
        return listed
    routes = request.app.router.routes
    return [
        method
        for method in methods.METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]


async def _body_refused(request: Request, exc: Any) -> JSONResponse:
    assert isinstance(exc, BodyRefused)
    return error_response(exc.status, exc.code, str(exc))


async def _overflow(request: Request, exc: Exception) -> JSONResponse:
    """A number the input checks let through but a computation cannot hold (a safety net:
    the models bound what they can)."""
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    return error_response(422, "invalid_input", f"a number in the request is too large: {exc}")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path)
    response = error_response(500, "internal_error", "an unexpected error happened; it was logged")
    # Starlette answers this one outside the app's middleware, so SecurityHeaders misses it.
    response.headers.update(security.HEADERS)
    return response

"""``POST /v1/events`` answered before FastAPI's routing and dependency solving, when the
request is plain: no query string, a JSON object as body, and an API key that authenticated
in the last seconds (``ApiKeys.cached``). The answer is the route's own
(``routes_interactions.record``), as are the checks on the way (``deps.api_key``, the key's
rate limit, ``deps.WRITE``) and the error answers (``errors.learnloop_error_response``).

Anything else goes on to the app with its body, as it came: a first request of a key (the
route looks it up and caches it), a missing or malformed key, another content type, a body
that is not a JSON object. FastAPI's routing and dependencies cost about half the server
time of a single event (docs/benchmarks.md); this middleware sits inside ``BodyLimits`` and
``SecurityHeaders``, so their limits and headers hold here too.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from learnloop.api.deps import WRITE, api_key
from learnloop.api.errors import learnloop_error_response
from learnloop.api.ratelimit import Limits
from learnloop.api.routes_interactions import JSON, record
from learnloop.errors import AuthError, LearnLoopError
from learnloop.service import LearnLoop
from learnloop.tenants import KeyGrant

PATH = "/v1/events"
log = logging.getLogger("learnloop.api")


class FastEvents:
    """Answer plain ``POST /v1/events`` requests here; pass the rest on to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or scope["query_string"]
        ):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if headers.get(b"content-type", b"").split(b";")[0].strip().lower() != JSON.encode():
            await self.app(scope, receive, send)
            return
        body, more = await _body(receive)
        if more is not None:  # the client left while sending it: the app hears so
            await self.app(scope, _replay(body, more, receive), send)
            return
        await self._answer(scope, headers, body, receive, send)

    async def _answer(
        self, scope: Scope, headers: dict[bytes, bytes], body: bytes, receive: Receive, send: Send
    ) -> None:
        state = scope["app"].state
        ll: LearnLoop = state.ll
        parsed = _object(body)
        grant = None if parsed is None else _cached_grant(ll, headers)
        if parsed is None or grant is None:
            await self.app(scope, _replay(body, None, receive), send)
            return
        try:
            limits: Limits = state.limits
            limits.throttle_key(grant)
            answer = await record(ll, state, WRITE.tenant_of(grant), parsed)
        except LearnLoopError as exc:
            if exc.status_code >= 500:
                log.error("POST %s failed: %s", PATH, exc)
            await learnloop_error_response(exc)(scope, receive, send)
            return
        state.fast_events = getattr(state, "fast_events", 0) + 1  # answered here: for tests
        length = str(len(answer)).encode()
        start = [(b"content-length", length), (b"content-type", JSON.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": start})
        await send({"type": "http.response.body", "body": answer})


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """The headers this path reads, the first of each name (as Starlette's ``get``)."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in (b"content-type", b"authorization", b"x-api-key") and name not in found:
            found[name] = value
    return found


async def _body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body; and the message that ended it early (a disconnect), if one did."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(body: bytes, last: Message | None, receive: Receive) -> Receive:
    """``receive`` for the app: the body read here (then the message that ended it early,
    if one did), then what ``receive`` gives."""
    pending: list[Message] = [
        {"type": "http.request", "body": body, "more_body": last is not None},
        *([] if last is None else [last]),
    ]

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def _object(body: bytes) -> dict[str, Any] | None:
    """The body as FastAPI's ``json.loads`` reads it, when that is a JSON object."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return parsed if type(parsed) is dict else None


def _cached_grant(ll: LearnLoop, headers: dict[bytes, bytes]) -> KeyGrant | None:
    """The grant of the request's key, if the key authenticated lately; else None."""
    authorization, x_api_key = headers.get(b"authorization"), headers.get(b"x-api-key")
    try:
        key = api_key(
            None if authorization is None else authorization.decode("latin-1"),
            None if x_api_key is None else x_api_key.decode("latin-1"),
        )
    except AuthError:
        return None
    return ll.keys.cached(key)

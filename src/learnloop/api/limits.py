"""Limits on the request body, enforced while it streams in: its size (413) and how long it
may take to arrive (408), whether or not Content-Length is sent.

The app never sees a refused body's end: reading it raises, and what the app would answer
(FastAPI turns any error while reading a body into a 400) is replaced by the 413 or 408.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyRefused(Exception):
    """The request body breaks a limit."""

    status = 400
    code = "bad_request"


class BodyTooLarge(BodyRefused):
    """The request body is over the limit; send smaller items or split the batch."""

    status = 413
    code = "body_too_large"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            f"the request body is over the {max_bytes / (1024 * 1024):g} MB limit; "
            "send smaller items or split the batch"
        )


class BodyTooSlow(BodyRefused):
    """The request body did not arrive in time."""

    status = 408
    code = "request_timeout"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request body did not arrive within {seconds:g} s; send it at once")


class BodyLimits:
    """Refuse bodies over ``max_bytes`` with a 413, and bodies not complete ``timeout``
    seconds after the app starts reading them with a 408."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _refuse(send, BodyTooLarge(self.max_bytes))
            return
        reader = _Reader(receive, self.max_bytes, self.timeout)
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if reader.refused is not None:
                return  # the app's answer to a body it could not read: ours goes instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, reader.receive, guarded_send)
        except BodyRefused:
            pass
        if reader.refused is not None and not started:
            await _refuse(send, reader.refused)


class _Reader:
    """``receive`` with the limits: counts the body, and gives it ``timeout`` seconds in all
    (a body sent a byte at a time is cut too). Once the body is complete, messages (the
    client's disconnect) pass through untimed."""

    def __init__(self, receive: Receive, max_bytes: int, timeout: float) -> None:
        self._receive = receive
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.seen = 0
        self.deadline: float | None = None
        self.complete = False
        self.refused: BodyRefused | None = None

    async def receive(self) -> Message:
        if self.complete:
            return await self._receive()
        loop = asyncio.get_running_loop()
        if self.deadline is None:
            self.deadline = loop.time() + self.timeout
        try:
            message = await asyncio.wait_for(self._receive(), self.deadline - loop.time())
        except TimeoutError:
            raise self._refuse(BodyTooSlow(self.timeout)) from None
        self.seen += len(message.get("body", b""))
        if self.seen > self.max_bytes:
            raise self._refuse(BodyTooLarge(self.max_bytes))
        self.complete = message["type"] != "http.request" or not message.get("more_body", False)
        return message

    def _refuse(self, error: BodyRefused) -> BodyRefused:
        self.refused = error
        return error


async def _refuse(send: Send, error: BodyRefused) -> None:
    body = json.dumps({"error": {"code": error.code, "message": str(error)}}).encode()
    length = str(len(body)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", length),
        (b"connection", b"close"),  # the rest of the body is never read
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

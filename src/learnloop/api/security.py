"""Security headers on every response of the API server.

Pages (the dashboard) get a Content-Security-Policy that allows scripts, styles and requests
from the server itself only, with no inline script or style, and that no other site may
frame. A route that needs another policy (the API docs at /docs) sets its own
Content-Security-Policy; this middleware only adds the headers a response does not have.

The headers are harmless where they do not apply: a browser ignores a CSP or X-Frame-Options
on a script or a JSON body, so the widget (/v1/widget.js) and its beacon, which other sites
load, keep working; their CORS headers are left as the routes set them.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])  # fmt: skip

HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """Add ``HEADERS`` to each HTTP response that does not already set them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((k, v) for k, v in self.headers if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


__all__ = ["HEADERS", "PAGE_POLICY", "SecurityHeaders"]

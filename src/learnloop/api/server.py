"""Serving the app with uvicorn, with the timeouts a server facing the network needs.

- header: a connection must send a complete request head within
  ``LEARNLOOP_REQUEST_HEADER_TIMEOUT_SECONDS`` (10 s) of opening, or of its last answer;
  otherwise it is closed (uvicorn alone keeps a silent connection open for ever: slow-loris).
- body: ``LEARNLOOP_REQUEST_BODY_TIMEOUT_SECONDS`` (30 s) in all, else 408 (``limits``).
- idle: a keep-alive connection is closed ``LEARNLOOP_KEEP_ALIVE_SECONDS`` (5 s) after its
  last answer.
- stop: Ctrl-C or SIGTERM closes the connections and stops within a few seconds.

The protocol is uvicorn's httptools one (llhttp, in C; its h11 one, in Python, cost about
a tenth of a single event's server time more), and uvloop runs the event loop where it is
installed (not on Windows).

``serve_processes`` runs several server processes on one port (``learnloop serve
--workers N``): the parent binds the socket and supervises N children (uvicorn's
``Multiprocess``: a child that dies is started again, SIGTERM stops them all), each of
which builds the app from the environment (``app_of_environment``) and accepts on the
shared socket, so the kernel spreads the connections over them.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from learnloop.settings import Settings

GRACEFUL_SHUTDOWN_SECONDS = 5
# A child process of --workers answers its supervisor's pings from a thread; loading the
# model on a busy machine can starve it for seconds, and a child that misses one is killed.
HEALTHCHECK_SECONDS = 60
LOOP = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"


class TimedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's head."""

    header_timeout = 10.0
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()  # the head is in
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request's head, on a kept-alive connection; unless that head is in
        # already (a pipelined request: the cycle now under way).
        if not self.transport.is_closing() and self.cycle.response_complete:
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._header_late)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _header_late(self) -> None:
        self._header_deadline = None
        answered = self.cycle is None or self.cycle.response_complete
        if answered and not self.transport.is_closing():
            self.transport.close()  # no complete head in time: nothing to answer


def protocol(settings: Settings) -> type[TimedProtocol]:
    """The protocol class with the settings' header timeout."""
    return type(
        "LearnLoopProtocol",
        (TimedProtocol,),
        {"header_timeout": settings.request_header_timeout_seconds},
    )


class EnvProtocol(TimedProtocol):
    """The protocol of the processes of ``serve_processes``: its header timeout is set by
    ``app_of_environment`` from the environment's settings, in each process."""


def app_of_environment() -> Any:
    """The app of one server process of ``learnloop serve --workers N``, with the settings
    (and the OTLP span export, when set) of the environment."""
    from learnloop.api import create_app
    from learnloop.telemetry import export_from_environment

    settings = Settings()
    export_from_environment()
    EnvProtocol.header_timeout = settings.request_header_timeout_seconds
    return create_app(settings=settings)


def serve_processes(
    settings: Settings, *, host: str, port: int, workers: int, **options: Any
) -> None:
    """Serve the environment's app from ``workers`` processes on one port until Ctrl-C or
    SIGTERM."""
    from uvicorn.supervisors.multiprocess import Multiprocess

    processes = uvicorn.Config(
        f"{__name__}:app_of_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=f"{__name__}:EnvProtocol",
        loop=LOOP,
        timeout_keep_alive=max(1, round(settings.keep_alive_seconds)),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
        **options,
    )
    sock = processes.bind_socket()
    Multiprocess(processes, sockets=[sock]).run()


def config(app: Any, settings: Settings, *, host: str, port: int, **options: Any) -> uvicorn.Config:
    """A uvicorn configuration with learnloop's timeouts."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol(settings),
        loop=LOOP,
        timeout_keep_alive=max(1, round(settings.keep_alive_seconds)),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        **options,
    )


def serve(app: Any, settings: Settings, *, host: str, port: int, **options: Any) -> None:
    """Serve ``app`` until Ctrl-C or SIGTERM."""
    uvicorn.Server(config(app, settings, host=host, port=port, **options)).run()

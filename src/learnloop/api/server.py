"""Serving the app with uvicorn, with the timeouts a server facing the network needs.

- header: a connection must send a complete request head within
  ``LEARNLOOP_REQUEST_HEADER_TIMEOUT_SECONDS`` (10 s) of opening, or of its last answer;
  otherwise it is closed (uvicorn alone keeps a silent connection open for ever: slow-loris).
- body: ``LEARNLOOP_REQUEST_BODY_TIMEOUT_SECONDS`` (30 s) in all, else 408 (``limits``).
- idle: a keep-alive connection is closed ``LEARNLOOP_KEEP_ALIVE_SECONDS`` (5 s) after its
  last answer.
- stop: Ctrl-C or SIGTERM closes the connections and stops within a few seconds.

``serve_processes`` runs several server processes on one port (``learnloop serve
--workers N``): the parent binds the socket and supervises N children (uvicorn's
``Multiprocess``: a child that dies is started again, SIGTERM stops them all), each of
which builds the app from the environment (``app_of_environment``) and accepts on the
shared socket, so the kernel spreads the connections over them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from learnloop.settings import Settings

GRACEFUL_SHUTDOWN_SECONDS = 5
# A child process of --workers answers its supervisor's pings from a thread; loading the
# model on a busy machine can starve it for seconds, and a child that misses one is killed.
HEALTHCHECK_SECONDS = 60


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head."""

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is in
            self._disarm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_deadline()  # the next request's head, on a kept-alive connection

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
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()  # no complete head in time: nothing to answer


def protocol(settings: Settings) -> type[TimedH11Protocol]:
    """The protocol class with the settings' header timeout."""
    return type(
        "LearnLoopH11Protocol",
        (TimedH11Protocol,),
        {"header_timeout": settings.request_header_timeout_seconds},
    )


class EnvH11Protocol(TimedH11Protocol):
    """The protocol of the processes of ``serve_processes``: its header timeout is set by
    ``app_of_environment`` from the environment's settings, in each process."""


def app_of_environment() -> Any:
    """The app of one server process of ``learnloop serve --workers N``, with the settings
    (and the OTLP span export, when set) of the environment."""
    from learnloop.api import create_app
    from learnloop.telemetry import export_from_environment

    settings = Settings()
    export_from_environment()
    EnvH11Protocol.header_timeout = settings.request_header_timeout_seconds
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
        http=f"{__name__}:EnvH11Protocol",
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
        timeout_keep_alive=max(1, round(settings.keep_alive_seconds)),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        **options,
    )


def serve(app: Any, settings: Settings, *, host: str, port: int, **options: Any) -> None:
    """Serve ``app`` until Ctrl-C or SIGTERM."""
    uvicorn.Server(config(app, settings, host=host, port=port, **options)).run()

"""The HTTP API: FastAPI, with an OpenAPI schema at /openapi.json and docs at /docs (served
offline, see routes_docs)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import Depends, FastAPI
from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger_provider

from learnloop.api import errors, links, scopes_doc
from learnloop.api.deps import refuse_nul_parameters
from learnloop.api.fast_events import FastEvents
from learnloop.api.limits import BodyLimits
from learnloop.api.methods import OwnMethods, PathMethods
from learnloop.api.ratelimit import Limits
from learnloop.api.routes_admin import router as admin_router
from learnloop.api.routes_analytics import router as analytics_router
from learnloop.api.routes_context import router as context_router
from learnloop.api.routes_dashboard import router as dashboard_router
from learnloop.api.routes_docs import router as docs_router
from learnloop.api.routes_entities import router as entities_router
from learnloop.api.routes_history import router as history_router
from learnloop.api.routes_ingest import router as ingest_router
from learnloop.api.routes_interactions import router as interactions_router
from learnloop.api.routes_items import router as items_router
from learnloop.api.routes_learning import router as learning_router
from learnloop.api.routes_proposals import router as proposals_router
from learnloop.api.routes_traces import router as traces_router
from learnloop.api.routes_tracking import router as tracking_router
from learnloop.api.routes_widget import router as widget_router
from learnloop.api.security import SecurityHeaders
from learnloop.service import LearnLoop
from learnloop.settings import Settings
from learnloop.worker import run_in_loop

VERSION = "0.1.0"
ROUTERS = (
    admin_router,
    items_router,
    interactions_router,
    learning_router,
    tracking_router,
    traces_router,
    context_router,
    proposals_router,
    widget_router,
    analytics_router,
    dashboard_router,
    docs_router,
    history_router,  # before ingest_router: /v1/imports/log beside /v1/imports/{import_id}
    ingest_router,
    entities_router,
)
for _router in ROUTERS:  # once, at import: the routers are shared by every app
    scopes_doc.document(_router)
    links.add(_router)

WORKER_STOP_SECONDS = 3.0  # the in-process worker's time to finish its jobs at shutdown
log = logging.getLogger("learnloop.api")


async def _stop_worker(running: asyncio.Task[None]) -> None:
    """Cancel the worker and wait for it a few seconds at most: while the database is down
    it cannot record what it was doing, and the server must stop anyway (the jobs of a
    worker that stopped unannounced are given up and queued again by the next one)."""
    running.cancel()
    done, _ = await asyncio.wait({running}, timeout=WORKER_STOP_SECONDS)
    if not done:
        log.warning("the worker did not stop within %g s; leaving it", WORKER_STOP_SECONDS)
        return
    with suppress(asyncio.CancelledError):
        running.result()


def _fastapi_telemetry() -> dict[str, Any]:
    """FastAPI's own request spans, metrics and logs (FastAPI 0.165 and later): as FastAPI
    sets them when an OpenTelemetry provider is set up before the app is made (``learnloop
    serve`` with ``OTEL_EXPORTER_OTLP_*``, or the application's own SDK), else off. Off,
    FastAPI skips its check for a provider on every request (three environment lookups,
    about a tenth of a single event's server time)."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    providers = (trace.get_tracer_provider(), metrics.get_meter_provider(), get_logger_provider())
    if any(not type(p).__name__.lstrip("_").startswith(("Proxy", "NoOp")) for p in providers):
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def create_app(
    ll: LearnLoop | None = None, settings: Settings | None = None, *, worker: bool = False
) -> FastAPI:
    """The app; it opens its own LearnLoop at start-up unless one is given. ``settings``
    (default: ``ll``'s, or the environment's) also set the app's limits.

    With ``worker`` it also runs the background worker (``learnloop worker``) in its event
    loop: one process serves the API and embeds what changed.
    """
    settings = settings or (ll.settings if ll else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = ll is None
        app.state.ll = ll or LearnLoop.open(settings)
        running = asyncio.create_task(run_in_loop(app.state.ll)) if worker else None
        try:
            yield
        finally:
            try:
                if running is not None:
                    await _stop_worker(running)
            finally:
                if owned:
                    app.state.ll.close()

    app = FastAPI(
        title="learnloop",
        version=VERSION,
        description="The continuous-learning layer for AI assistants and agents.",
        lifespan=lifespan,
        # FastAPI's own /docs and /redoc load their scripts from a CDN; routes_docs serves
        # Swagger UI from the package instead.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        dependencies=[Depends(refuse_nul_parameters)],
        **_fastapi_telemetry(),
    )
    if ll is not None:
        app.state.ll = ll
    app.state.limits = Limits.from_settings(settings)
    app.state.max_request_bytes = settings.max_request_bytes  # also bounds inflated bodies
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    # Innermost of ours: plain single events skip FastAPI's routing, inside the limits.
    app.add_middleware(FastEvents)
    app.state.methods = PathMethods(app.router.routes)
    app.add_middleware(OwnMethods, methods=app.state.methods)
    app.add_middleware(
        BodyLimits,
        max_bytes=settings.max_request_bytes,
        timeout=settings.request_body_timeout_seconds,
    )
    # Outermost of ours, so the limits' 413 and 408 carry the headers too.
    app.add_middleware(SecurityHeaders)
    return app

"""learnloop's own spans, through the OpenTelemetry API: ``learnloop.recommend``,
``learnloop.search`` and ``learnloop.context``, each with its tenant and what it answered.

Without an SDK set up they cost next to nothing (the API's no-op tracer). In a process
that sets up a tracer provider (or ``learnloop serve`` with ``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` set, see ``export_from_environment``) they go
wherever its exporter sends them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from opentelemetry import trace

from learnloop.errors import ConfigurationError

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S")
ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
# A proxy: it follows the global tracer provider, also one set up after this import.
TRACER = trace.get_tracer("learnloop")


def traced(
    name: str, describe: Callable[[Any], dict[str, Any]]
) -> Callable[[Callable[Concatenate[S, str, P], T]], Callable[Concatenate[S, str, P], T]]:
    """Wrap a service method whose first argument is the tenant in a span ``name``, with
    the attributes ``describe`` reads off its answer."""

    def wrap(method: Callable[Concatenate[S, str, P], T]) -> Callable[Concatenate[S, str, P], T]:
        @functools.wraps(method)
        def inner(self: S, tenant_id: str, /, *args: P.args, **kwargs: P.kwargs) -> T:
            with TRACER.start_as_current_span(name) as span:
                span.set_attribute("learnloop.tenant_id", tenant_id)
                answer = method(self, tenant_id, *args, **kwargs)
                if span.is_recording():
                    span.set_attributes(describe(answer))
                return answer

        return inner

    return wrap


def export_from_environment() -> bool:
    """Send learnloop's spans with the OTLP/HTTP exporter when one of ``ENDPOINTS`` is set
    (its headers, compression, ... from the standard ``OTEL_EXPORTER_OTLP_*`` variables;
    the service name from ``OTEL_SERVICE_NAME``, default ``learnloop``). Whether it did."""
    if not any(os.environ.get(name) for name in ENDPOINTS):
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ConfigurationError(
            f"{' or '.join(ENDPOINTS)} is set, but the OpenTelemetry SDK is not installed: "
            "pip install 'learnloop[otel]', or unset the variable"
        ) from exc
    name = os.environ.get("OTEL_SERVICE_NAME") or "learnloop"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True

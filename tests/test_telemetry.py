"""learnloop's own spans (learnloop.telemetry): recommend, search and context, recorded by
the real OpenTelemetry SDK, and sent by the OTLP exporter that `learnloop serve` sets up
from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from learnloop import LearnLoop
from learnloop.telemetry import export_from_environment

from .conftest import ROOT


@pytest.fixture(scope="module")
def recorded() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider (set once per process), keeping what it records."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        pytest.fail("another test set the global tracer provider")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    yield exporter
    exporter.clear()
    provider.shutdown()


def test_recommend_search_and_context_make_spans(
    recorded: InMemorySpanExporter, ll: LearnLoop, tenant: str
) -> None:
    ll.items.put(tenant, {"kind": "faq", "title": "Opening hours", "body": "9 to 5"})
    recorded.clear()
    answer = ll.recommender.recommend(tenant, {"query": "when do you open"})
    block = ll.context.build(tenant, {"query": "when do you open"})
    spans = {s.name: s for s in recorded.get_finished_spans()}
    names = [s.name for s in recorded.get_finished_spans()]
    assert names == ["learnloop.search", "learnloop.recommend"] * 2 + ["learnloop.context"]
    first_search, first_recommend = recorded.get_finished_spans()[:2]
    assert first_search.parent is not None
    assert first_search.parent.span_id == first_recommend.context.span_id  # nested
    assert first_recommend.attributes == {
        "learnloop.tenant_id": tenant,
        "learnloop.impression_id": str(answer.impression_id),
        "learnloop.strategy": answer.strategy,
        "learnloop.results": len(answer.recommendations),
    }
    assert spans["learnloop.context"].attributes["learnloop.tokens"] == block.tokens
    assert first_search.end_time and first_search.start_time
    assert first_search.end_time > first_search.start_time


def test_no_endpoint_no_export(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert export_from_environment() is False


SENDS_A_RUN = """
from opentelemetry import trace
from learnloop.telemetry import export_from_environment
assert export_from_environment()
with trace.get_tracer("app").start_as_current_span("invoke_agent") as span:
    span.set_attribute("gen_ai.operation.name", "invoke_agent")
    span.set_attribute("input.value", "sent through the environment's exporter")
trace.get_tracer_provider().shutdown()
"""


def test_the_environment_s_exporter_sends_to_an_otlp_endpoint(
    server_url: str, ll: LearnLoop, tenant: str
) -> None:
    """learnloop's /v1/traces is the receiver: the span, GenAI-shaped, becomes a run."""
    key = ll.keys.create(tenant, "otel", ["write"]).key
    env = os.environ | {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{server_url}/v1/traces",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": f"Authorization=Bearer {key}",
        "PYTHONPATH": str(ROOT / "src"),
    }
    done = subprocess.run([sys.executable, "-c", SENDS_A_RUN], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    with ll.db.connection() as conn:
        row = conn.execute("SELECT goal FROM executions WHERE tenant_id = %s", (tenant,))
        assert [r["goal"] for r in row.fetchall()] == ["sent through the environment's exporter"]

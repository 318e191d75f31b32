"""POST /v1/traces against the real server (uvicorn in a thread, embedded PostgreSQL), fed by
the real OpenTelemetry SDK and its OTLP/HTTP exporter: GenAI and OpenInference spans become
executions, tool calls and feedback, each span once."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from learnloop import LearnLoop

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def counts(ll: LearnLoop, tenant: str) -> dict[str, int]:
    with ll.db.connection() as conn:
        return {
            table: conn.execute(
                f"SELECT count(*) AS n FROM {table} WHERE tenant_id = %s",  # type: ignore[arg-type]
                (tenant,),
            ).fetchone()["n"]  # type: ignore[index]
            for table in ("executions", "tool_calls", "feedback", "trace_spans")
        }


def execution_of(ll: LearnLoop, tenant: str, trace_id: int) -> Any:
    with ll.db.connection() as conn:
        row = conn.execute(
            "SELECT execution_id FROM executions WHERE tenant_id = %s AND idempotency_key = %s",
            (tenant, f"otel:{trace_id:032x}"),
        ).fetchone()
    assert row is not None, "no execution for the trace"
    return ll.tracking.get_execution(tenant, row["execution_id"])


@pytest.fixture
def key(ll: LearnLoop, tenant: str) -> str:
    return ll.keys.create(tenant, "otel", ["write"]).key


@pytest.fixture
def provider(server_url: str, key: str) -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A tracer provider (not the global one) that sends each span as it ends, gzipped, to
    the server, and keeps a copy of what it sent."""
    sent = InMemorySpanExporter()
    exporter = OTLPSpanExporter(
        endpoint=f"{server_url}/v1/traces",
        headers={"Authorization": f"Bearer {key}"},
        compression=Compression.Gzip,
    )
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer_provider.add_span_processor(SimpleSpanProcessor(sent))
    yield tracer_provider, sent
    tracer_provider.shutdown()


def agent_run(tracer_provider: TracerProvider) -> int:
    """An agent run in GenAI semantic conventions: two tool calls (one fails), a chat call,
    an HTTP span that is neither vocabulary, a thumbs-down evaluation. Its trace id."""
    tracer = tracer_provider.get_tracer("agent")
    with tracer.start_as_current_span("invoke_agent ops-bot") as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        agent.set_attribute("gen_ai.agent.name", "ops-bot")
        agent.set_attribute("gen_ai.conversation.id", "conv-7")
        agent.set_attribute(
            "gen_ai.input.messages",
            json.dumps([{"role": "user", "parts": [{"type": "text", "content": "disk full"}]}]),
        )
        with tracer.start_as_current_span("chat gpt-x") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "gpt-x")
        with tracer.start_as_current_span("execute_tool df") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "df")
            tool.set_attribute("gen_ai.tool.call.arguments", '{"path": "/var"}')
            tool.set_attribute("gen_ai.tool.call.result", '{"used": 0.97}')
        with tracer.start_as_current_span("execute_tool cleanup") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "cleanup")
            tool.set_attribute("gen_ai.tool.call.arguments", '{"older_than": "7d"}')
            tool.record_exception(PermissionError("/var/log is read-only"))
            tool.set_status(Status(StatusCode.ERROR, "/var/log is read-only"))
        with tracer.start_as_current_span("GET /metrics"):
            pass
        agent.add_event(
            "gen_ai.evaluation.result",
            {"gen_ai.evaluation.name": "resolved", "gen_ai.evaluation.score.label": "fail"},
        )
        trace_id: int = agent.get_span_context().trace_id
    return trace_id


def test_spans_from_the_sdk_exporter_become_an_execution_once(
    ll: LearnLoop, tenant: str, server_url: str, key: str, provider: Any
) -> None:
    tracer_provider, sent = provider
    trace_id = agent_run(tracer_provider)  # each span sent as it ends: tools before the agent
    run = execution_of(ll, tenant, trace_id)
    assert run.goal == "disk full" and run.success
    assert run.metadata["agent"] == "ops-bot" and run.metadata["session"] == "conv-7"
    assert [c.tool for c in run.tool_calls] == ["df", "cleanup"]
    df, cleanup = run.tool_calls
    assert (df.parameters, df.result, df.success) == ({"path": "/var"}, {"used": 0.97}, True)
    assert cleanup.parameters == {"older_than": "7d"} and not cleanup.success
    assert cleanup.error == "PermissionError: /var/log is read-only"
    agent = next(s for s in sent.get_finished_spans() if s.name.startswith("invoke_agent"))
    assert agent.end_time is not None and agent.start_time is not None
    assert run.duration_ms == pytest.approx((agent.end_time - agent.start_time) / 1e6, abs=0.01)
    with ll.db.connection() as conn:
        rating = conn.execute(
            "SELECT kind, value, response_id, reason FROM feedback WHERE tenant_id = %s",
            (tenant,),
        ).fetchone()
    assert rating == {
        "kind": "thumbs",
        "value": "down",
        "response_id": f"otel:{trace_id:032x}",
        "reason": "resolved",
    }
    before = counts(ll, tenant)
    assert before == {"executions": 1, "tool_calls": 2, "feedback": 1, "trace_spans": 4}

    again = OTLPSpanExporter(
        endpoint=f"{server_url}/v1/traces", headers={"Authorization": f"Bearer {key}"}
    )
    assert again.export(sent.get_finished_spans()) == SpanExportResult.SUCCESS
    assert counts(ll, tenant) == before  # the same spans again add nothing
    assert execution_of(ll, tenant, trace_id) == run


def post(url: str, key: str, body: bytes, **headers: str) -> httpx.Response:
    headers = PROTOBUF | {"Authorization": f"Bearer {key}"} | headers
    return httpx.post(f"{url}/v1/traces", content=body, headers=headers, timeout=30)


def captured(tracer_provider: TracerProvider, build: Any) -> list[ReadableSpan]:
    sent = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(sent))
    build(tracer_provider.get_tracer("t"))
    return list(sent.get_finished_spans())


def test_the_answer_counts_rejected_and_ignored_spans(
    ll: LearnLoop, tenant: str, server_url: str, key: str
) -> None:
    def build(tracer: Any) -> None:
        with tracer.start_as_current_span("agent") as agent:  # OpenInference
            agent.set_attribute("openinference.span.kind", "AGENT")
            agent.set_attribute("input.value", '{"input": "rotate the certificate"}')
            with tracer.start_as_current_span("rotate") as tool:
                tool.set_attribute("openinference.span.kind", "TOOL")
                tool.set_attribute("tool.name", "rotate")
                tool.set_attribute("input.value", "api.example.com")
                tool.set_attribute("output.value", "rotated")
            with tracer.start_as_current_span("rate") as bad:
                bad.set_attribute("learnloop.feedback.kind", "stars")
                bad.set_attribute("learnloop.feedback.value", 9)
            with tracer.start_as_current_span("SELECT 1"):
                pass

    spans = captured(TracerProvider(), build)
    body = encode_spans(spans).SerializeToString()
    response = post(server_url, key, body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 1
    message = answer.partial_success.error_message
    assert "stars take a whole number 1 to 5, not 9" in message
    assert "1 span(s) carried no GenAI or OpenInference attributes" in message
    run = execution_of(ll, tenant, spans[0].context.trace_id)
    assert run.goal == "rotate the certificate"
    call = run.tool_calls[0]
    assert (call.tool, call.parameters, call.result) == ("rotate", {"input": "api.example.com"},
                                                         "rotated")  # fmt: skip
    ll.items.put(tenant, {"kind": "tool", "title": "rotate", "body": "Rotate a certificate"})
    chosen = ll.tools.select(tenant, {"query": "rotate the certificate"}).chosen
    assert chosen is not None and (chosen.calls, chosen.successes) == (1, 1)  # counted by name
    # gzip, as exporters send it, and the same spans again: nothing new, same answer
    again = post(server_url, key, gzip.compress(body), **{"Content-Encoding": "gzip"})
    assert ExportTraceServiceResponse.FromString(again.content) == answer
    assert counts(ll, tenant)["tool_calls"] == 1


def test_otlp_json_with_hex_ids_and_an_impression(
    ll: LearnLoop, tenant: str, server_url: str, key: str
) -> None:
    ll.items.put(tenant, {"kind": "faq", "title": "Opening hours", "body": "9 to 5"})
    shown = ll.recommender.recommend(tenant, {"query": "when do you open"})
    trace, span = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    attrs = [
        {"key": "openinference.span.kind", "value": {"stringValue": "CHAIN"}},
        {"key": "input.value", "value": {"stringValue": "when do you open?"}},
        {"key": "learnloop.impression_id", "value": {"stringValue": str(shown.impression_id)}},
        {"key": "learnloop.feedback.kind", "value": {"stringValue": "stars"}},
        {"key": "learnloop.feedback.value", "value": {"intValue": "5"}},
    ]
    request = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": trace, "spanId": span, "name": "answer", "kind": 1,
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000250000000",
        "attributes": attrs, "status": {"code": 1},
    }]}]}]}  # fmt: skip
    response = post(server_url, key, json.dumps(request).encode(),
                    **{"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 200 and response.json() == {}
    with ll.db.connection() as conn:
        row = conn.execute(
            "SELECT execution_id FROM executions WHERE tenant_id = %s AND idempotency_key = %s",
            (tenant, f"otel:{trace}"),
        ).fetchone()
        rating = conn.execute(
            "SELECT kind, value, impression_id FROM feedback WHERE tenant_id = %s", (tenant,)
        ).fetchone()
    assert row is not None
    run = ll.tracking.get_execution(tenant, row["execution_id"])
    assert (run.goal, run.duration_ms, run.impression_id) == (
        "when do you open?", 250.0, shown.impression_id)  # fmt: skip
    assert rating == {"kind": "stars", "value": "5", "impression_id": shown.impression_id}

    # another tenant's impression is refused for that span; the same ids are its own spans
    other = ll.tenants.create(f"{tenant}-b").tenant_id
    other_key = ll.keys.create(other, "otel", ["write"]).key
    refused = post(server_url, other_key, json.dumps(request).encode(),
                   **{"Content-Type": "application/json"})  # fmt: skip
    assert refused.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert f"no impression {shown.impression_id} in this tenant" in refused.text
    assert counts(ll, other) == {"executions": 0, "tool_calls": 0, "feedback": 0,
                                 "trace_spans": 0}  # fmt: skip


def test_bad_requests_get_a_clear_4xx(
    ll: LearnLoop, tenant: str, server_url: str, key: str
) -> None:
    def error(response: httpx.Response, status: int) -> str:
        assert response.status_code == status, response.text
        return str(response.json()["error"]["message"])

    assert "application/x-protobuf or application/json" in error(
        post(server_url, key, b"{}", **{"Content-Type": "text/plain"}), 415
    )
    assert "not a protobuf ExportTraceServiceRequest" in error(
        post(server_url, key, b"\xff\xff\xff"), 400
    )
    assert "not valid gzip data" in error(
        post(server_url, key, b"plain", **{"Content-Encoding": "gzip"}), 400
    )
    assert "gzip, deflate or none" in error(
        post(server_url, key, b"", **{"Content-Encoding": "br"}), 415
    )
    bomb = gzip.compress(b"\0" * (6 * 1024 * 1024))  # 6 KB that inflate past the 5 MB limit
    assert "over the 5 MB limit" in error(
        post(server_url, key, bomb, **{"Content-Encoding": "gzip"}), 413
    )
    bad_id = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}
    assert "traceId must be hex digits" in error(
        post(server_url, key, json.dumps(bad_id).encode(), **{"Content-Type": "application/json"}),
        400,
    )
    reader = ll.keys.create(tenant, "reader", ["read"]).key
    assert "needs the 'write' scope" in error(post(server_url, reader, b""), 403)
    assert counts(ll, tenant) == {"executions": 0, "tool_calls": 0, "feedback": 0,
                                  "trace_spans": 0}  # fmt: skip


def test_the_example_in_docs_opentelemetry_md_runs(
    server_url: str, ll: LearnLoop, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (Path(__file__).parent.parent / "docs" / "opentelemetry.md").read_text()
    example = re.findall(r"```python\n(.*?)```", text, re.DOTALL)[0]
    exec(example, {"URL": server_url, "API_KEY": ll.keys.create(tenant, "docs", ["write"]).key})
    printed = capsys.readouterr().out.splitlines()
    run = execution_of(ll, tenant, int(printed[-1], 16))
    assert run.goal == "my disk is almost full"
    assert [(c.tool, c.success) for c in run.tool_calls] == [("disk_usage", True)]


def test_the_same_spans_sent_at_once_are_stored_once(
    ll: LearnLoop, tenant: str, server_url: str, key: str
) -> None:
    def build(tracer: Any) -> None:
        for n in range(3):  # three traces, each a run with two tool calls
            with tracer.start_as_current_span(f"run {n}") as run:
                run.set_attribute("gen_ai.operation.name", "invoke_agent")
                for tool_name in ("a", "b"):
                    with tracer.start_as_current_span(f"execute_tool {tool_name}") as tool:
                        tool.set_attribute("gen_ai.operation.name", "execute_tool")

    spans = captured(TracerProvider(), build)
    whole = encode_spans(spans).SerializeToString()
    halves = [encode_spans(spans[::2]).SerializeToString(),
              encode_spans(spans[1::2]).SerializeToString()]  # fmt: skip
    bodies = [whole, *halves, *reversed(halves), whole]
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda body: post(server_url, key, body), bodies))
    assert [a.status_code for a in answers] == [200] * len(bodies)
    assert counts(ll, tenant) == {"executions": 3, "tool_calls": 6, "feedback": 0,
                                  "trace_spans": 9}  # fmt: skip
    for span in spans:
        if span.name.startswith("run"):
            run = execution_of(ll, tenant, span.context.trace_id)
            assert run.goal == span.name and sorted(c.tool for c in run.tool_calls) == ["a", "b"]
            assert [c.seq for c in run.tool_calls] == [1, 2]

"""OpenTelemetry in: how fast OTLP trace exports become executions and tool calls.

    .venv/bin/python bench/traces_bench.py [--traces 200] [--tools 9] [--data-dir DIR]

Spans are made by the real OpenTelemetry SDK (an ``invoke_agent`` span with ``--tools``
``execute_tool`` children per trace, GenAI semantic conventions) and encoded by the
exporter's own encoder into one protobuf ``ExportTraceServiceRequest``. Measured, in
process, on the embedded PostgreSQL in ``--data-dir`` (default: a temporary one):

* decode: ``api.otlp.decode`` of the gzipped body (inflate, protobuf, spans as learnloop
  reads them);
* take: ``Traces.take`` of those spans into a fresh tenant (claim, one execution per trace,
  its tool calls), and the same spans again (every one a duplicate, nothing stored).

One line of figures: spans, body bytes, and spans/s of each step.
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
import uuid
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from learnloop import LearnLoop
from learnloop.api import otlp
from learnloop.settings import Settings


def spans(traces: int, tools: int) -> bytes:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    for n in range(traces):
        with tracer.start_as_current_span("invoke_agent bench") as run:
            run.set_attribute("gen_ai.operation.name", "invoke_agent")
            run.set_attribute("input.value", f"question {n}")
            for t in range(tools):
                with tracer.start_as_current_span(f"execute_tool t{t}") as tool:
                    tool.set_attribute("gen_ai.operation.name", "execute_tool")
                    tool.set_attribute("gen_ai.tool.name", f"t{t}")
                    tool.set_attribute("gen_ai.tool.call.arguments", f'{{"n": {n}}}')
                    tool.set_attribute("gen_ai.tool.call.result", '{"ok": true}')
    body: bytes = encode_spans(exporter.get_finished_spans()).SerializeToString()
    return gzip.compress(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=200)
    parser.add_argument("--tools", type=int, default=9)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="learnloop-bench-traces-"))
    body = spans(args.traces, args.tools)
    started = time.perf_counter()
    decoded = otlp.decode(body, otlp.PROTOBUF, "gzip", 64 * 1024 * 1024)
    decode_s = time.perf_counter() - started
    with LearnLoop.open(Settings(data_dir=data_dir, database_url=None)) as ll:
        tenant = ll.tenants.create(f"bench-{uuid.uuid4().hex[:8]}").tenant_id
        started = time.perf_counter()
        first = ll.traces.take(tenant, decoded.spans)
        take_s = time.perf_counter() - started
        started = time.perf_counter()
        again = ll.traces.take(tenant, decoded.spans)
        again_s = time.perf_counter() - started
    n = len(decoded.spans)
    assert first.executions == args.traces and first.tool_calls == args.traces * args.tools
    assert again.duplicates == n and again.executions == again.tool_calls == 0
    print(
        f"traces: {n} spans ({args.traces} traces x {args.tools + 1}), {len(body)} bytes gzipped; "
        f"decode {n / decode_s:,.0f} spans/s; take {n / take_s:,.0f} spans/s "
        f"({take_s * 1000:.0f} ms); again, all duplicates, {n / again_s:,.0f} spans/s"
    )


if __name__ == "__main__":
    main()

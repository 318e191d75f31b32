"""OTLP/HTTP trace requests and answers, with opentelemetry-proto's generated messages.

A request is an ``ExportTraceServiceRequest`` as protobuf (``application/x-protobuf``) or as
OTLP's JSON (``application/json``, ids in hex), optionally gzip- or deflate-compressed
(``Content-Encoding``); the answer is an ``ExportTraceServiceResponse`` in the request's
format, its ``partial_success`` saying how many spans were rejected and why.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from learnloop.api.limits import BodyTooLarge
from learnloop.errors import InvalidInput
from learnloop.events.spans import Span, SpanEvent
from learnloop.events.traces import Intake

PROTOBUF, JSON = "application/x-protobuf", "application/json"
IDS = ("traceId", "spanId", "parentSpanId")
MAX_MESSAGES = 5  # rejections named in partial_success.error_message


class UndecodableBody(InvalidInput):
    """The body is not an ExportTraceServiceRequest in the format its Content-Type names."""

    status_code = 400
    code = "invalid_otlp"


class UnsupportedMediaType(InvalidInput):
    """Send application/x-protobuf or application/json, uncompressed, gzip or deflate."""

    status_code = 415
    code = "unsupported_media_type"


@dataclass(frozen=True)
class Decoded:
    spans: list[Span]
    media_type: str


def decode(body: bytes, content_type: str, encoding: str, max_bytes: int) -> Decoded:
    """The spans of a request; UndecodableBody or UnsupportedMediaType say what to fix."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type not in (PROTOBUF, JSON):
        raise UnsupportedMediaType(
            f"Content-Type {content_type or '(none)'} is not taken here: send an "
            f"ExportTraceServiceRequest as {PROTOBUF} or {JSON}"
        )
    raw = _decompressed(body, encoding.strip().lower(), max_bytes)
    request = _protobuf(raw) if media_type == PROTOBUF else _json(raw)
    return Decoded(list(_spans(request)), media_type)


def answer(intake: Intake, media_type: str) -> bytes:
    """The ExportTraceServiceResponse: rejections in partial_success, and a note of the
    ignored spans (rejected_spans 0 with a message, as OTLP allows for warnings)."""
    response = ExportTraceServiceResponse()
    notes = intake.rejected[:MAX_MESSAGES]
    if len(intake.rejected) > MAX_MESSAGES:
        notes.append(f"and {len(intake.rejected) - MAX_MESSAGES} more rejected")
    if intake.ignored:
        notes.append(
            f"{intake.ignored} span(s) carried no GenAI or OpenInference attributes and were "
            "ignored"
        )
    if notes:
        response.partial_success.rejected_spans = len(intake.rejected)
        response.partial_success.error_message = "; ".join(notes)
    if media_type == PROTOBUF:
        return bytes(response.SerializeToString())
    return str(json_format.MessageToJson(response, indent=None)).encode()


def _decompressed(body: bytes, encoding: str, max_bytes: int) -> bytes:
    if encoding in ("", "identity"):
        return body
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}.get(encoding)
    if wbits is None:
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding} is not taken here: send gzip, deflate or none"
        )
    inflater = zlib.decompressobj(wbits)
    try:
        raw = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise UndecodableBody(f"the body is not valid {encoding} data: {exc}") from exc
    if len(raw) > max_bytes or inflater.unconsumed_tail:
        raise BodyTooLarge(max_bytes)
    if not inflater.eof:
        raise UndecodableBody(f"the {encoding} body ends early")
    return raw


def _protobuf(raw: bytes) -> ExportTraceServiceRequest:
    try:
        request: ExportTraceServiceRequest = ExportTraceServiceRequest.FromString(raw)
    except (DecodeError, RecursionError) as exc:
        raise UndecodableBody(
            f"the body is not a protobuf ExportTraceServiceRequest: {exc}"
        ) from exc
    return request


def _json(raw: bytes) -> ExportTraceServiceRequest:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise UndecodableBody(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UndecodableBody("the body must be a JSON object with resourceSpans")
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(_ids_as_base64(data), request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError) as exc:
        raise UndecodableBody(f"the body is not an OTLP ExportTraceServiceRequest: {exc}") from exc
    return request


def _ids_as_base64(data: dict[str, Any]) -> dict[str, Any]:
    """OTLP's JSON writes ids in hex, where protobuf's JSON mapping reads bytes as base64."""
    for resource in _list(data, "resourceSpans"):
        for scope in _list(resource, "scopeSpans"):
            for span in _list(scope, "spans"):
                _convert_ids(span)
                for link in _list(span, "links"):
                    _convert_ids(link)
    return data


def _convert_ids(holder: dict[str, Any]) -> None:
    for key in IDS:
        value = holder.get(key)
        if isinstance(value, str) and value:
            try:
                holder[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise UndecodableBody(f"{key} must be hex digits, not {value[:40]!r}") from None


def _list(holder: Any, key: str) -> list[Any]:
    value = holder.get(key) if isinstance(holder, dict) else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _spans(request: ExportTraceServiceRequest) -> Any:
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                yield _span(span)


def _span(span: ProtoSpan) -> Span:
    return Span(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() or None,
        name=span.name,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        failed=span.status.code == Status.STATUS_CODE_ERROR,
        status_message=span.status.message,
        attributes=_attributes(span.attributes),
        events=tuple(SpanEvent(e.name, _attributes(e.attributes)) for e in span.events),
    )


def _attributes(pairs: Any) -> dict[str, Any]:
    kvs: list[KeyValue] = list(pairs)
    return {kv.key: _value(kv.value) for kv in kvs}


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return binascii.hexlify(value.bytes_value).decode()
    return getattr(value, which)

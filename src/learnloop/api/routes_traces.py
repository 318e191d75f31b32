"""OpenTelemetry in: OTLP/HTTP trace exports become executions, tool calls and feedback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from learnloop.api import otlp
from learnloop.api.deps import LL, WriteTenant

router = APIRouter(prefix="/v1", tags=["tracking"])

REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "description": "An OTLP ExportTraceServiceRequest; Content-Encoding gzip or deflate "
        "may compress it.",
        "content": {
            otlp.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            otlp.JSON: {"schema": {"type": "object"}},
        },
    }
}
ANSWERS: dict[int | str, dict[str, object]] = {
    200: {
        "description": "An OTLP ExportTraceServiceResponse, in the request's format",
        "content": {
            otlp.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            otlp.JSON: {"schema": {"type": "object"}},
        },
    },
    400: {"description": "The body is not an ExportTraceServiceRequest"},
    413: {"description": "The body, or the body once decompressed, is over the size limit"},
    415: {"description": "Not protobuf or JSON, or an unknown Content-Encoding"},
}


@router.post("/traces", openapi_extra=REQUEST_BODY, responses=ANSWERS, response_class=Response)
async def take_traces(
    request: Request,
    ll: LL,
    tenant: WriteTenant,
    content_type: Annotated[str, Header()] = "",
    content_encoding: Annotated[
        str, Header(json_schema_extra={"enum": ["identity", "gzip", "deflate"]})
    ] = "identity",
) -> Response:
    """Spans sent by an OpenTelemetry exporter (OTLP/HTTP): GenAI semantic-convention and
    OpenInference spans become the trace's execution, its tool calls and feedback; each
    span is taken in once (by trace id and span id), others are counted and ignored."""
    body = await request.body()
    limit: int = request.app.state.max_request_bytes
    decoded = otlp.decode(body, content_type, content_encoding, limit)
    intake = await run_in_threadpool(ll.traces.take, tenant, decoded.spans)
    return Response(otlp.answer(intake, decoded.media_type), media_type=decoded.media_type)

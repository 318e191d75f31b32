"""History import (an existing assistant's audit log, as impressions and events) and the
KPI templates to download. Included before routes_ingest, whose /v1/imports/{import_id}
would take these paths."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from learnloop.api.deps import LL, ReadTenant, WriteTenant
from learnloop.history import HistoryReport
from learnloop.ingest.templates import TEMPLATES, template

router = APIRouter(prefix="/v1", tags=["ingest"])


@router.post(
    "/imports/log",
    response_model=HistoryReport,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": False,  # an empty log imports nothing
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                # any text: with skip_bad_rows every line that is no entry is left out
                "text/csv": {"schema": {"description": "CSV or JSON Lines text"}},
            },
        }
    },
)
async def import_log(
    request: Request,
    ll: LL,
    tenant: WriteTenant,
    filename: Annotated[
        str, Query(min_length=1, max_length=300, description="the log's name: .jsonl or .csv")
    ] = "log.jsonl",
    format: Annotated[
        Literal["jsonl", "csv"] | None, Query(description="default: from filename")
    ] = None,
    source: Annotated[
        str, Query(min_length=1, max_length=100, description="the system the log comes from")
    ] = "log",
    policy: Annotated[
        str, Query(min_length=1, max_length=200, description="for entries that name none")
    ] = "imported",
    rebase: Annotated[bool, Query(description="move the times so the latest is now")] = False,
    skip_bad_rows: bool = False,
) -> HistoryReport:
    """An assistant's audit log, the raw body (JSON Lines, or CSV with one row per solution
    presented; docs/ingest.md#history): each entry an impression, each choice an event.
    Idempotent by source and entry id; all or nothing unless skip_bad_rows, a 422 naming
    each bad line and field."""
    data = await request.body()
    options = {"source": source, "policy": policy, "rebase": rebase,
               "skip_bad_rows": skip_bad_rows}  # fmt: skip
    return await run_in_threadpool(
        ll.history.import_log, tenant, data, filename, options, format=format
    )


@router.get("/imports/templates")
def list_templates(tenant: ReadTenant) -> list[dict[str, str]]:
    """The standard KPI templates: name, media type, the kind an import finds in it."""
    return [t.summary() for t in TEMPLATES.values()]


@router.get("/imports/templates/{name}", response_class=Response)
def get_template(name: str, tenant: ReadTenant) -> Response:
    """One template's file, to fill in and send back to POST /v1/imports."""
    found, data = template(name)
    headers = {"Content-Disposition": f'attachment; filename="{found.name}"'}
    return Response(data, media_type=found.media_type, headers=headers)

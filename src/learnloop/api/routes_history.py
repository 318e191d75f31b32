"""History import: an existing assistant's audit log, as impressions and events. Included
before routes_ingest, beside its /v1/imports/{import_id}."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from starlette.concurrency import run_in_threadpool

from learnloop.api.deps import LL, WriteTenant
from learnloop.history import HistoryReport

router = APIRouter(prefix="/v1", tags=["ingest"])


@router.post(
    "/imports/log",
    response_model=HistoryReport,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
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


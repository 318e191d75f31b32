"""Imports (file uploads), saved column mappings, accounts and their KPI history."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from learnloop.api.deps import LL, ReadTenant, WriteTenant
from learnloop.errors import InvalidInput
from learnloop.ingest import ImportReport, SavedMapping
from learnloop.ingest.accounts import (
    Account,
    DataEvent,
    HealthPoint,
    KpiRevision,
    KpiSeries,
    KpiValue,
)
from learnloop.ingest.kpis import DataEventType
from learnloop.ingest.models import KpiValuesIn
from learnloop.json_types import Moment
from learnloop.validation import MAX_ID

router = APIRouter(prefix="/v1", tags=["ingest"])
OPTION_FIELDS = (
    "kind",
    "mapping",
    "skip_bad_rows",
    "account",
    "item_kind",
    "header_row",
    "skip",
    "range",
    "sheet",
    "title_column",
    "title_template",
    "on_duplicate",
)

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "kind": {"type": "string"},
                        "mapping": {"type": "string", "description": "JSON {field: column}"},
                        "skip_bad_rows": {"type": "boolean"},
                        "account": {"type": "string"},
                        "item_kind": {"type": "string"},
                        "header_row": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "from 1; 0 for no header row",
                        },
                        "skip": {"type": "integer", "minimum": 0},
                        "range": {"type": "string", "description": "A1:F200, Sheet!A1:F200"},
                        "sheet": {"type": "string"},
                        "title_column": {"type": "string"},
                        "title_template": {"type": "string", "description": "e.g. {Name} ({Year})"},
                        "on_duplicate": {
                            "type": "string",
                            "enum": ["warn", "skip", "merge", "off"],
                        },
                    },
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class ImportPage(BaseModel):
    imports: list[ImportReport]
    next_cursor: int | None = Field(description="pass as ?cursor= for the next page")


@router.post(
    "/imports",
    response_model=ImportReport,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_UPLOAD_BODY,
)
async def upload(
    request: Request,
    ll: LL,
    tenant: WriteTenant,
    filename: Annotated[
        str | None, Query(description="the file's name, for a raw body (not multipart)")
    ] = None,
    kind: Annotated[str | None, Query(description="kpi_csv, kpi_list, faq, ...")] = None,
    mapping: Annotated[str | None, Query(description="JSON {field: column}")] = None,
    skip_bad_rows: bool = False,
    account: str | None = None,
    item_kind: str | None = None,
    header_row: Annotated[
        str | None, Query(description="the header's row number, from 1; 0 for none")
    ] = None,
    skip: Annotated[str | None, Query(description="rows to ignore at the top")] = None,
    range: Annotated[
        str | None, Query(description="cells to read: A1:F200, Sheet!A1:F200, B:F, 5:200")
    ] = None,
    sheet: Annotated[str | None, Query(description="the one sheet to import")] = None,
    title_column: Annotated[
        str | None, Query(description="the column that titles each item")
    ] = None,
    title_template: Annotated[
        str | None, Query(description="item titles from columns: {Name} ({Year})")
    ] = None,
    on_duplicate: Annotated[
        str | None,
        Query(
            description="a new item repeating a stored one of its kind (or an earlier row): "
            "warn (store it, report it), skip, merge or off (default: no check, "
            "which embeds every new row during the import)"
        ),
    ] = None,
) -> ImportReport:
    """Import one file: multipart (field ``file``) or the raw body with ?filename=.

    Delimited text, Excel (.xlsx, .xlsm, .xls), ODS, JSON, JSON Lines or Markdown, gzip
    compressed or not. All or nothing unless skip_bad_rows; a file that does not fit gets a
    422 that lists what was expected and what was seen. header_row, skip, range, sheet,
    title_column and title_template correct what is found (query or multipart fields).
    """
    given: dict[str, Any] = {
        "kind": kind,
        "mapping": mapping,
        "skip_bad_rows": skip_bad_rows,
        "account": account,
        "item_kind": item_kind,
        "header_row": header_row,
        "skip": skip,
        "range": range,
        "sheet": sheet,
        "title_column": title_column,
        "title_template": title_template,
        "on_duplicate": on_duplicate,
    }
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        data, filename = await _multipart(request, given)
    else:
        data = await request.body()
        if not filename:
            raise InvalidInput(
                "send the file as multipart (field 'file') or name it: ?filename=accounts.csv"
            )
    options = {k: v for k, v in given.items() if v is not None}
    if isinstance(options.get("mapping"), str):
        options["mapping"] = _json_mapping(options["mapping"])
    return await run_in_threadpool(ll.imports.import_file, tenant, data, filename, options)


async def _multipart(request: Request, given: dict[str, Any]) -> tuple[bytes, str]:
    async with request.form() as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("the multipart body has no file field named 'file'")
        for name in OPTION_FIELDS:
            value = form.get(name)
            if isinstance(value, str) and value.strip():
                given[name] = (
                    value.strip().lower() in ("1", "true", "yes", "on")
                    if (name == "skip_bad_rows")
                    else value
                )
        return await upload.read(), upload.filename or "upload"


def _json_mapping(text: str) -> dict[str, Any]:
    try:
        mapping = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f'mapping: not valid JSON ({exc}); send {{"field": "column"}}') from exc
    if not isinstance(mapping, dict):
        raise InvalidInput('mapping: send a JSON object {"field": "column"}')
    return mapping


@router.get("/imports", response_model=ImportPage)
def list_imports(
    ll: LL,
    tenant: ReadTenant,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> ImportPage:
    """Imports newest first, each with its counts and errors."""
    reports, next_cursor = ll.imports.list(tenant, limit=limit, cursor=cursor)
    return ImportPage(imports=reports, next_cursor=next_cursor)


@router.get("/imports/mappings", response_model=list[SavedMapping])
def list_mappings(ll: LL, tenant: ReadTenant) -> list[SavedMapping]:
    """The column mappings saved for this tenant."""
    return ll.imports.mappings(tenant)


@router.get("/imports/{import_id}", response_model=ImportReport)
def get_import(import_id: int, ll: LL, tenant: ReadTenant) -> ImportReport:
    return ll.imports.get(tenant, import_id)


@router.get("/accounts", response_model=list[Account])
def list_accounts(
    ll: LL, tenant: ReadTenant, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[Account]:
    """Accounts with their health scores."""
    return ll.accounts.list(tenant, limit=limit)


@router.get("/accounts/{account_id}", response_model=Account)
def get_account(account_id: str, ll: LL, tenant: ReadTenant) -> Account:
    return ll.accounts.get(tenant, account_id)


@router.get("/accounts/{account_id}/kpis", response_model=list[KpiValue])
def account_kpis(account_id: str, ll: LL, tenant: ReadTenant) -> list[KpiValue]:
    """The account's KPI history, oldest value first per KPI."""
    return ll.accounts.kpis(tenant, account_id)


@router.post("/accounts/{account_id}/kpis", response_model=ImportReport, status_code=201)
def record_kpis(account_id: str, body: KpiValuesIn, ll: LL, tenant: WriteTenant) -> ImportReport:
    """KPI values of the account as they happen: dated ones are points of its series,
    upserted by (account, KPI, time); stored as an import, with its events."""
    return ll.imports.record_kpis(tenant, account_id, body)


@router.get("/accounts/{account_id}/kpis/series", response_model=list[KpiSeries])
def kpi_series(
    account_id: str,
    ll: LL,
    tenant: ReadTenant,
    kpi: Annotated[str | None, Query(min_length=1, max_length=300)] = None,
    since: Moment | None = None,
    until: Moment | None = None,
) -> list[KpiSeries]:
    """Each KPI of the account (or the one named) over time, with its trend."""
    return ll.accounts.series(tenant, account_id, kpi=kpi, since=since, until=until)


@router.get("/accounts/{account_id}/kpis/revisions", response_model=list[KpiRevision])
def kpi_revisions(account_id: str, ll: LL, tenant: ReadTenant) -> list[KpiRevision]:
    """The values of the account that a later value for the same point replaced."""
    return ll.accounts.revisions(tenant, account_id)


@router.get("/accounts/{account_id}/health", response_model=list[HealthPoint])
def health_history(
    account_id: str,
    ll: LL,
    tenant: ReadTenant,
    since: Moment | None = None,
    until: Moment | None = None,
) -> list[HealthPoint]:
    """The account's health score at every time of its KPI series."""
    return ll.accounts.health_history(tenant, account_id, since=since, until=until)


@router.get("/data-events", response_model=list[DataEvent])
def data_events(
    ll: LL,
    tenant: ReadTenant,
    type: DataEventType | None = None,
    account: Annotated[str | None, Query(min_length=1, max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int | None, Query(ge=1)] = None,
) -> list[DataEvent]:
    """What KPI writes changed, newest first: kpi_updated, temporal_data_added,
    health_scores_updated."""
    return ll.accounts.events(tenant, type=type, account_id=account, limit=limit, cursor=cursor)

"""The shapes of an import: its options, its report, and the error that refuses one."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from learnloop.errors import ImportRejected, InvalidInput
from learnloop.ingest.ranges import parse_range
from learnloop.knowledge.duplicates import DuplicateFound, OnDuplicate
from learnloop.knowledge.models import Kind
from learnloop.validation import Input

TableKind = Literal[
    "kpi_csv", "kpi_list", "faq", "accounts", "document",
    "salesforce_accounts", "salesforce_contacts", "salesforce_deals",
    "hubspot_accounts", "hubspot_contacts", "hubspot_deals",
]  # fmt: skip
MAX_ERRORS_KEPT = 1000


class ImportOptions(Input):
    """How to read a file; everything is optional."""

    read_from_text = True  # form fields and query parameters

    kind: TableKind | None = Field(
        default=None, description="what the table holds; found from the columns when omitted"
    )
    mapping: dict[str, str] = Field(
        default_factory=dict,
        description="field -> column name, e.g. {'kpi': 'Messgröße'}; saved for the next file "
        "with the same columns",
    )
    skip_bad_rows: bool = Field(
        default=False,
        description="store the good rows and report the bad ones, instead of "
        "storing nothing when a row is bad",
    )
    account: str | None = Field(
        default=None,
        max_length=300,
        description="the account a KPI list without an account column belongs to",
    )
    item_kind: Kind | None = Field(
        default=None,
        description="the item kind for Markdown files (default: playbook where "
        "the path says so, else runbook)",
    )
    header_row: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="the header's row number, from 1; 0 for "
        "a table without a header; found from what the rows hold when omitted",
    )
    skip: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description="rows to ignore at the top of each sheet before looking for the table",
    )
    range: str | None = Field(
        default=None,
        max_length=200,
        description="the cells to read, "
        "as A1:F200, Sheet!A1:F200, B:F or 5:200; taken literally (its first row is the header "
        "unless header_row says otherwise, no search for the table's end)",
    )
    sheet: str | None = Field(
        default=None,
        min_length=1,
        max_length=300,
        description="the one sheet of a workbook to import, by name (or position from 1)",
    )
    title_column: str | None = Field(
        default=None,
        min_length=1,
        max_length=300,
        description="the column whose value titles "
        "each item of a generic table (a column name, or a letter such as C)",
    )
    title_template: str | None = Field(
        default=None,
        min_length=3,
        max_length=500,
        description="the title of each item of a "
        "generic table from its columns, e.g. '{Name} ({Year})'",
    )

    @field_validator("range")
    @classmethod
    def _range(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_range(value)
            except InvalidInput as exc:
                raise ValueError(exc.message.removeprefix("range ")) from None
        return value

    on_duplicate: OnDuplicate = Field(
        default="off",
        description="a new item that repeats a stored item of its kind (or "
        "an earlier row): warn (store it, report it), skip, merge into it, or off (no check; "
        "the default for imports: the check embeds every new row during the import)",
    )


class KpiValueIn(Input):
    """One KPI value of an account; with ``recorded_at``, a point of its time series."""

    kpi: str = Field(min_length=1, max_length=300)
    value: float = Field(allow_inf_nan=False)
    recorded_at: datetime | None = Field(
        default=None,
        description="when it was measured; the same account, KPI and time "
        "again updates the point. Without it: the latest value, as of now",
    )
    unit: str | None = Field(default=None, max_length=50)
    target: float | None = Field(default=None, allow_inf_nan=False)
    weight: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    category: str | None = Field(default=None, max_length=300)
    impact_level: str | None = Field(default=None, max_length=50)
    health_component: str | None = Field(default=None, max_length=300)


class KpiValuesIn(Input):
    values: list[KpiValueIn] = Field(min_length=1, max_length=10_000)


class RowError(BaseModel):
    """One thing wrong with one row."""

    sheet: str
    row: int = Field(
        description="the row's number in the file or sheet, counting from 1; 0 for the file "
        "as a whole (it could not be read, or holds nothing to import)"
    )
    column: str | None
    message: str


class SheetReport(BaseModel):
    """What was found in one table of the file."""

    name: str
    kind: str
    confidence: float
    header_row: int | None = Field(description="the header's row number, from 1; null if none")
    header_rows: list[int] = Field(
        default_factory=list,
        description="every row merged into the header (a header over several rows), from 1",
    )
    columns: list[str]
    mapping: dict[str, str] = Field(description="field -> the column that fed it")
    rows: int
    first_row: int | None = Field(default=None, description="the first data row's number")
    last_row: int | None = Field(default=None, description="the last data row's number")
    stopped_at: int | None = Field(
        default=None,
        description="the row where the table was found to end; null at the end of the sheet",
    )
    table: str = Field(
        default="",
        description="where the table was found and why: the header row and its "
        "evidence, the data rows, where and why it stops",
    )
    title: str | None = Field(
        default=None,
        description="how the items of a generic table are titled, and why",
    )
    title_column: str | None = None
    note: str | None = None


class ImportCounts(BaseModel):
    rows: int = 0
    bad_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    accounts: int = 0
    kpi_values: int = 0
    duplicates: int = Field(default=0, description="new items found to repeat another")
    duplicates_skipped: int = 0
    duplicates_merged: int = 0


class ImportReport(BaseModel):
    """One import: what the file was, what was found, what was stored, what was wrong."""

    import_id: int | None = None
    file_name: str
    format: str
    kind: str
    confidence: float
    status: Literal["succeeded", "partial", "failed"] = "succeeded"
    encoding: str | None = None
    delimiter: str | None = None
    sheets: list[SheetReport] = Field(default_factory=list)
    counts: ImportCounts = Field(default_factory=ImportCounts)
    errors: list[RowError] = Field(default_factory=list)
    duplicates: list[DuplicateFound] = Field(
        default_factory=list, description="the duplicates found (the first 1000)"
    )
    duration_ms: float = 0.0
    created_at: datetime | None = None

    def details(self) -> dict[str, Any]:
        fields = {"encoding", "delimiter", "sheets", "duplicates"}
        return self.model_dump(mode="json", include=fields)


class SavedMapping(BaseModel):
    signature: str
    columns: list[str]
    mapping: dict[str, str]
    updated_at: datetime


def rejected(report: ImportReport) -> ImportRejected:
    """The error for an import whose bad rows stopped it, naming the first ten."""
    shown = "; ".join(_describe(e) for e in report.errors[:10])
    more = len(report.errors) - 10
    return ImportRejected(
        f"{report.file_name}: {report.counts.bad_rows} bad rows of {report.counts.rows}, "
        f"nothing stored (import {report.import_id}): {shown}"
        + (f"; and {more} more" if more > 0 else "")
        + "; fix them, or import with skip_bad_rows (--skip-bad-rows) to store the rest",
        report,
    )


def _describe(error: RowError) -> str:
    column = f", column {error.column!r}" if error.column else ""
    return f"{error.sheet} row {error.row}{column}: {error.message}"

"""Importing files: read, detect, map, validate, then store everything in one transaction.

An import is all or nothing by default: a bad row stores nothing and the error names every
bad row (row number, column, what is wrong). With ``skip_bad_rows`` the good rows are
stored and the bad ones reported. Items are stored without vectors (the worker embeds
them); accounts, KPI values, health scores and the import record commit with them.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from psycopg.types.json import Jsonb

from learnloop._sql import load_queries
from learnloop.errors import InvalidInput, NotFound
from learnloop.ingest import kpis
from learnloop.ingest.adapt import Plan, Rows, add_table
from learnloop.ingest.detect import Detection, detect, expected_columns, normalise
from learnloop.ingest.markdown import markdown_item
from learnloop.ingest.models import (
    MAX_ERRORS_KEPT,
    ImportOptions,
    ImportReport,
    KpiValuesIn,
    RowError,
    SavedMapping,
    SheetReport,
    rejected,
)
from learnloop.ingest.readers import MARKDOWN, Source, decode, unpack
from learnloop.ingest.reading import read_tables, sheet_report, titles_for
from learnloop.ingest.tables import Table
from learnloop.knowledge import ItemIn, Items, OnDuplicate
from learnloop.ports import Connection, Store
from learnloop.validation import parse

Q = load_queries("learnloop.ingest")
SUMMARY_SHEETS = ("summary", "overview", "dashboard", "totals")


class Imports:
    """Files into items, accounts and KPI values; each import recorded and listable."""

    def __init__(self, db: Store, items: Items):
        self.db = db
        self.items = items

    def import_file(
        self,
        tenant_id: str,
        data: bytes,
        file_name: str,
        options: ImportOptions | dict[str, Any] | None = None,
    ) -> ImportReport:
        """Import one file (delimited text, spreadsheet, JSON, JSON Lines or Markdown)."""
        opts = parse(ImportOptions, options or {})
        if "\x00" in file_name:
            raise InvalidInput("file name: must not contain the NUL character (\\u0000)")
        started = time.perf_counter()
        try:
            data, inner = unpack(data, file_name)
        except InvalidInput as exc:
            self._record_failure(tenant_id, _unreadable(file_name, exc), started)
            raise
        if PurePath(inner).suffix.lower() in MARKDOWN:
            return self.import_markdown(tenant_id, [(inner, data)], opts, name=file_name)
        try:
            source, tables = read_tables(data, inner, opts)
            saved = self._saved_mappings(tenant_id, tables) if not opts.mapping else {}
            plan, report = plan_tables(source, tables, file_name, opts, saved)
        except InvalidInput as exc:  # the file as a whole does not fit: recorded, then raised
            self._record_failure(tenant_id, _unreadable(file_name, exc), started)
            raise
        return self._store(tenant_id, plan, report, opts, tables, started)

    def record_kpis(
        self, tenant_id: str, account_id: str, data: KpiValuesIn | dict[str, Any]
    ) -> ImportReport:
        """KPI values of one account sent as they happen (dated: points of its series),
        stored as an import of their own through the same checks, upsert and events."""
        given = parse(KpiValuesIn, data)
        if not account_id.strip() or len(account_id) > 300:
            raise InvalidInput("account id: 1 to 300 characters")
        rows = [v.model_dump(mode="json") | {"account_id": account_id} for v in given.values]
        body = json.dumps(rows).encode()
        return self.import_file(tenant_id, body, f"api:{account_id}.json", {"kind": "kpi_csv"})

    def import_markdown(
        self,
        tenant_id: str,
        files: Sequence[tuple[str, bytes]],
        options: ImportOptions | dict[str, Any] | None = None,
        name: str | None = None,
    ) -> ImportReport:
        """Import Markdown files (path, bytes), one item each, as one import."""
        opts = parse(ImportOptions, options or {})
        started = time.perf_counter()
        plan, kinds, sure = Plan(), set(), []
        for path, data in files:
            plan.rows += 1
            try:
                text, _ = decode(data, path)
                item, confidence = markdown_item(text, path, opts.item_kind)
                plan.items.append(self._checked(item))
            except InvalidInput as exc:
                plan.bad_rows += 1
                plan.errors.append(RowError(sheet=path, row=1, column=None, message=exc.message))
                continue
            kinds.add(item["kind"])
            sure.append(confidence)
        kind = kinds.pop() if len(kinds) == 1 else "markdown"
        confidence = round(sum(sure) / len(sure), 3) if sure else 0.0
        report = ImportReport(
            file_name=name or (files[0][0] if len(files) == 1 else f"{len(files)} files"),
            format="markdown",
            kind=kind,
            confidence=confidence,
        )
        return self._store(tenant_id, plan, report, opts, [], started)

    def list(
        self, tenant_id: str, *, limit: int = 50, cursor: int | None = None
    ) -> tuple[builtins.list[ImportReport], int | None]:
        """Imports newest first, and the cursor of the next page (None at the end)."""
        if not 1 <= limit <= 500:
            raise InvalidInput(f"limit must be between 1 and 500, not {limit}")
        params = {"tenant_id": tenant_id, "cursor": cursor, "limit": limit + 1}
        with self.db.connection() as conn:
            rows = conn.execute(Q["list_imports"], params).fetchall()
        reports = [_report(row) for row in rows[:limit]]
        return reports, (reports[-1].import_id if len(rows) > limit else None)

    def get(self, tenant_id: str, import_id: int) -> ImportReport:
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "import_id": import_id}
            row = conn.execute(Q["get_import"], params).fetchone()
        if row is None:
            raise NotFound(f"no import {import_id} in this tenant")
        return _report(row)

    def mappings(self, tenant_id: str) -> builtins.list[SavedMapping]:
        """The column mappings saved for this tenant, newest first."""
        with self.db.connection() as conn:
            rows = conn.execute(Q["list_mappings"], {"tenant_id": tenant_id}).fetchall()
        return [SavedMapping.model_validate(row) for row in rows]

    def _checked(self, item: dict[str, Any]) -> dict[str, Any]:
        return parse(ItemIn, item).model_dump()

    # ------------------------------------------------------------------ storing

    def _store(
        self,
        tenant_id: str,
        plan: Plan,
        report: ImportReport,
        opts: ImportOptions,
        tables: builtins.list[Table],
        started: float,
    ) -> ImportReport:
        report.counts.rows, report.counts.bad_rows = plan.rows, plan.bad_rows
        report.errors = plan.errors[:MAX_ERRORS_KEPT]
        if plan.errors and not opts.skip_bad_rows:
            report.status = "failed"
            self._record_failure(tenant_id, report, started)
            raise rejected(report)
        report.status = "partial" if plan.errors else "succeeded"
        with self.db.transaction() as conn:
            self._insert_record(conn, tenant_id, report, started)
            self._write(conn, tenant_id, plan, report, opts)
            if opts.mapping:
                self._save_mappings(conn, tenant_id, tables, opts.mapping)
            report.duration_ms = _ms(started)
            conn.execute(Q["finish_import"], _record_params(tenant_id, report))
        return report

    def _write(
        self,
        conn: Connection,
        tenant_id: str,
        plan: Plan,
        report: ImportReport,
        opts: ImportOptions,
    ) -> None:
        if plan.items:
            _write_items(self.items, conn, tenant_id, plan, report, opts.on_duplicate)
        if plan.accounts:
            _link_named_accounts(conn, tenant_id, plan)
            for account in plan.accounts.values():
                params = account | {"tenant_id": tenant_id, "attrs": Jsonb(account["attrs"])}
                report.counts.accounts += conn.execute(Q["upsert_account"], params).rowcount
        if plan.kpis:
            kpis.write(conn, tenant_id, plan, report)

    def _insert_record(
        self, conn: Connection, tenant_id: str, report: ImportReport, started: float
    ) -> None:
        report.duration_ms = _ms(started)
        row = conn.execute(Q["insert_import"], _record_params(tenant_id, report)).fetchone()
        assert row is not None
        report.import_id, report.created_at = row["import_id"], row["created_at"]

    def _record_failure(self, tenant_id: str, report: ImportReport, started: float) -> None:
        with self.db.transaction() as conn:
            self._insert_record(conn, tenant_id, report, started)

    def _saved_mappings(
        self, tenant_id: str, tables: builtins.list[Table]
    ) -> dict[str, dict[str, str]]:
        signatures = [signature(t.header) for t in tables if t.rows]
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "signatures": signatures}
            rows = conn.execute(Q["get_mappings"], params).fetchall()
        return {row["signature"]: row["mapping"] for row in rows}

    def _save_mappings(
        self,
        conn: Connection,
        tenant_id: str,
        tables: builtins.list[Table],
        mapping: dict[str, str],
    ) -> None:
        for table in tables:
            own = {f: c for f, c in mapping.items() if c in table.header}
            if table.rows and own:
                params = {
                    "tenant_id": tenant_id,
                    "signature": signature(table.header),
                    "columns": table.header,
                    "mapping": Jsonb(own),
                }
                conn.execute(Q["save_mapping"], params)


def parse_file(
    data: bytes, file_name: str, options: ImportOptions | dict[str, Any] | None = None
) -> tuple[Plan, ImportReport]:
    """Read, detect, map and validate a table file without storing anything."""
    opts = parse(ImportOptions, options or {})
    source, tables = read_tables(data, file_name, opts)
    return plan_tables(source, tables, file_name, opts, {})


def plan_tables(
    source: Source,
    tables: list[Table],
    file_name: str,
    opts: ImportOptions,
    saved: dict[str, dict[str, str]],
) -> tuple[Plan, ImportReport]:
    """What the tables hold and what would be stored, without touching the database."""
    data = [t for t in tables if t.rows]
    if not data:
        raise InvalidInput(_no_rows(file_name, tables))
    found = {id(t): _detect(t, opts, saved, len(data) == 1) for t in data}
    is_kpi = any(d.kind.startswith("kpi") for d in found.values())
    plan, sheets = Plan(), []
    for table in tables:
        detection = found.get(id(table))
        note = _skip_note(table, detection, is_kpi and len(data) > 1)
        titles = titles_for(table, detection, opts) if note is None else None
        sheets.append(sheet_report(table, detection, note, titles))
        if detection is None or note is not None:
            continue
        rows = Rows(
            table, detection.kind, detection.columns, file_name, opts, len(tables) > 1, titles
        )
        add_table(plan, rows)
    used = [s for s in sheets if s.note is None and s.rows]
    kind, confidence = _file_kind(used)
    report = ImportReport(
        file_name=file_name,
        format=source.format,
        kind=kind,
        confidence=confidence,
        encoding=source.encoding,
        delimiter=source.delimiter,
        sheets=sheets,
    )
    return plan, report


def _detect(
    table: Table, opts: ImportOptions, saved: dict[str, dict[str, str]], single: bool
) -> Detection:
    """The kind and columns of a table; a mapping naming a missing column is refused for
    a one-table file, and applies only to the tables that have its columns otherwise."""
    mapping = (
        opts.mapping if single else {f: c for f, c in opts.mapping.items() if c in table.header}
    )
    mapping = mapping or saved.get(signature(table.header), {})
    try:
        return detect(table.header, mapping, opts.kind)
    except InvalidInput as exc:
        raise InvalidInput(f"{table.name}: {exc.message}") from exc


def signature(header: builtins.list[str]) -> str:
    """The same columns (by normalised name, in order) give the same signature."""
    names = json.dumps([normalise(column) for column in header])
    return hashlib.sha256(names.encode()).hexdigest()[:32]


def _write_items(
    items: Items,
    conn: Connection,
    tenant_id: str,
    plan: Plan,
    report: ImportReport,
    on_duplicate: OnDuplicate,
) -> None:
    """The plan's items, the new ones checked for duplicates; counted in the report."""
    checked = items.put_checked(
        tenant_id, plan.items, on_duplicate=on_duplicate, conn=conn, embed=False
    )
    counts = report.counts
    for _, outcome in checked.results:
        if outcome in ("skipped", "merged"):
            name = f"duplicates_{outcome}"
            setattr(counts, name, getattr(counts, name) + 1)
        else:
            setattr(counts, outcome, getattr(counts, outcome) + 1)
    counts.duplicates = len(checked.found)
    report.duplicates = checked.found[:MAX_ERRORS_KEPT]


def _link_named_accounts(conn: Connection, tenant_id: str, plan: Plan) -> None:
    """A KPI row naming its account by name joins the account of that name, if one exists."""
    full = {a["name"].lower(): key for key, a in plan.accounts.items() if a["full"]}
    named = [a["name"].lower() for a in plan.accounts.values() if not a["full"] and a["name"]]
    if named:
        params = {"tenant_id": tenant_id, "names": named}
        for row in conn.execute(Q["find_accounts_by_name"], params).fetchall():
            full.setdefault(row["name"].lower(), row["account_id"])
    moved = {}
    for key, account in list(plan.accounts.items()):
        target = full.get((account["name"] or "").lower())
        if not account["full"] and target is not None and target != key:
            moved[key] = target
            del plan.accounts[key]
    for kpi in plan.kpis:
        kpi["account_id"] = moved.get(kpi["account_id"], kpi["account_id"])


def _unreadable(file_name: str, exc: InvalidInput) -> ImportReport:
    """The record of a file refused as a whole (row 0: the file, not one of its rows)."""
    fmt = PurePath(file_name).suffix.lower().lstrip(".") or "unknown"
    error = RowError(sheet=file_name, row=0, column=None, message=exc.message)
    return ImportReport(
        file_name=file_name,
        format=fmt,
        kind="unknown",
        confidence=0.0,
        status="failed",
        errors=[error],
    )


def _no_rows(file_name: str, tables: builtins.list[Table]) -> str:
    seen = (
        "; ".join(
            f"{t.name}: "
            + (f"columns {', '.join(t.header)} and no rows under them" if t.header else "empty")
            for t in tables
        )
        or "no tables"
    )
    return (
        f"{file_name}: nothing to import: expected a header row and at least one data row "
        f"(for a KPI list {expected_columns('kpi_list')}); seen {seen}"
    )


def _skip_note(table: Table, detection: Detection | None, kpi_workbook: bool) -> str | None:
    if detection is None:
        return "no data rows"
    if kpi_workbook and normalise(table.name) in SUMMARY_SHEETS:
        return "a summary sheet: not imported; health scores are computed from the KPI values"
    return None


def _file_kind(sheets: builtins.list[SheetReport]) -> tuple[str, float]:
    kinds = {s.kind for s in sheets}
    confidence = round(sum(s.confidence for s in sheets) / len(sheets), 3) if sheets else 0.0
    if "accounts" in kinds and kinds & {"kpi_csv", "kpi_list"}:
        return "kpi_workbook", confidence
    if len(kinds) == 1:
        return kinds.pop(), confidence
    return "workbook", confidence


def _record_params(tenant_id: str, report: ImportReport) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "import_id": report.import_id,
        "file_name": report.file_name,
        "format": report.format,
        "kind": report.kind,
        "confidence": report.confidence,
        "status": report.status,
        "counts": Jsonb(report.counts.model_dump()),
        "errors": Jsonb([e.model_dump() for e in report.errors]),
        "details": Jsonb(report.details()),
        "duration_ms": report.duration_ms,
    }


def _report(row: dict[str, Any]) -> ImportReport:
    details = row.pop("details") or {}
    return ImportReport.model_validate(row | details)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)

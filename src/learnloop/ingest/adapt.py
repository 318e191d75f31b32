"""Rows to what is stored: items, accounts and KPI values, with an error for each bad row.

Every row becomes one thing with a stable key, so importing the same file again finds
what it stored the first time: items by kind + external_id, accounts by account_id, KPI
values by a fingerprint of the row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from learnloop.ingest import crm, values
from learnloop.ingest.models import ImportOptions, RowError
from learnloop.ingest.tables import Table, is_blank
from learnloop.ingest.titles import Titles
from learnloop.knowledge.models import MAX_TAGS, MAX_TITLE

MAX_EXTERNAL_ID = 300


class RowProblem(ValueError):
    """A row cannot be stored: what is wrong, and in which column."""

    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


@dataclass
class Plan:
    """What one import will write, and what it found wrong."""

    items: list[dict[str, Any]] = field(default_factory=list)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    kpis: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0
    bad_rows: int = 0


@dataclass
class Rows:
    """One table's rows with the field -> column mapping found for it."""

    table: Table
    kind: str
    columns: dict[str, str]
    source: str
    options: ImportOptions
    multi: bool = False
    titles: Titles | None = None

    def __post_init__(self) -> None:
        self._at = {f: self.table.header.index(c) for f, c in self.columns.items()}

    def get(self, row: list[Any], name: str) -> Any:
        """The value of field ``name`` in ``row``; None when absent or blank."""
        at = self._at.get(name)
        value = None if at is None else row[at]
        return None if is_blank(value) else value


def add_table(plan: Plan, rows: Rows) -> None:
    """Convert every row of ``rows`` into ``plan``; a bad row adds errors and nothing else."""
    convert = CONVERTERS[rows.kind]
    for row, number, width in zip(
        rows.table.rows, rows.table.numbers, rows.table.widths, strict=True
    ):
        plan.rows += 1
        try:
            _check_width(rows.table, width)
            convert(plan, rows, row, number)
        except RowProblem as problem:
            plan.bad_rows += 1
            plan.errors.append(
                RowError(
                    sheet=rows.table.name,
                    row=number,
                    column=problem.column,
                    message=problem.message,
                )
            )


def _check_width(table: Table, width: int) -> None:
    if width > len(table.header):
        raise RowProblem(None, f"{width} values, but the header names {len(table.header)} columns")


def _required(rows: Rows, row: list[Any], name: str) -> Any:
    value = rows.get(row, name)
    if value is None:
        raise RowProblem(rows.columns.get(name), f"{name} is empty; every row needs one")
    return value


def _number(rows: Rows, row: list[Any], name: str) -> float | None:
    value = rows.get(row, name)
    if value is None:
        return None
    try:
        return values.number(value)
    except ValueError as exc:
        raise RowProblem(rows.columns[name], str(exc)) from None


def _item(rows: Rows, data: dict[str, Any]) -> dict[str, Any]:
    """The item's fields, checked against the item rules here, row by row (ItemIn's rules,
    without its per-value walk: cells are already free of NUL characters)."""
    title = str(data["title"]).strip()[:MAX_TITLE]
    if not title:
        raise RowProblem(None, "the row has no text to use as a title")
    tags = list(dict.fromkeys(t[:100] for t in data.get("tags", [])))
    if len(tags) > MAX_TAGS:
        raise RowProblem(None, f"{len(tags)} tags; at most {MAX_TAGS}")
    external_id = data["external_id"]
    if len(external_id) > MAX_EXTERNAL_ID:
        column = rows.columns.get("id")
        raise RowProblem(
            column,
            f"the key {external_id[:40]!r}... (file name and id) is over "
            f"{MAX_EXTERNAL_ID} characters; use shorter ids or file names",
        )
    return {
        "kind": data["kind"],
        "title": title,
        "body": data.get("body", ""),
        "tags": tags,
        "attrs": data.get("attrs", {}),
        "external_id": external_id,
        "status": "active",
    }


def _tags(rows: Rows, row: list[Any], *names: str) -> list[str]:
    found: list[str] = []
    for name in names:
        value = rows.get(row, name)
        if value is not None:
            found += [t.strip() for t in str(value).replace(";", ",").split(",") if t.strip()]
    return found


def _row_values(rows: Rows, row: list[Any]) -> dict[str, Any]:
    return {c: v for c, v in zip(rows.table.header, row, strict=True) if not is_blank(v)}


def _faq(plan: Plan, rows: Rows, row: list[Any], number: int) -> None:
    question = str(_required(rows, row, "question"))
    answer = str(_required(rows, row, "answer"))
    key = rows.get(row, "id") or hashlib.sha1(question.lower().encode()).hexdigest()[:16]
    plan.items.append(
        _item(
            rows,
            {
                "kind": "faq",
                "title": question,
                "body": answer,
                "external_id": f"faq:{key}",
                "tags": _tags(rows, row, "category", "tags"),
            },
        )
    )


def _document(plan: Plan, rows: Rows, row: list[Any], number: int) -> None:
    cells = _row_values(rows, row)
    key = rows.get(row, "id")
    titled = rows.titles.title(rows.table.header, row) if rows.titles else None
    title = titled or f"{rows.table.name} row {number}"
    body = rows.get(row, "body")
    lines = "\n".join(f"{c}: {_shown(v)}" for c, v in cells.items() if v not in (title, body))
    text = "\n\n".join(str(part) for part in (body, lines) if part)
    where = f"{rows.source}:{rows.table.name}" if rows.multi else rows.source
    plan.items.append(
        _item(
            rows,
            {
                "kind": rows.options.item_kind or "document",
                "title": title,
                "body": text,
                "external_id": f"{rows.source}#{key}"
                if key is not None
                else f"{where}#row{number}",
                "tags": _tags(rows, row, "tags"),
                "attrs": {
                    "source": rows.source,
                    "sheet": rows.table.name,
                    "row": number,
                    "values": _jsonable(cells),
                },
            },
        )
    )


def _account(plan: Plan, rows: Rows, row: list[Any], number: int) -> None:
    account_id, name = _account_key(rows, row, required=True)
    assert account_id is not None and name is not None
    segment = values.text(rows.get(row, "segment"))
    used = {rows.columns.get(f) for f in ("account", "account_id", "segment")}
    attrs = {c: v for c, v in _row_values(rows, row).items() if c not in used}
    account_attrs = _jsonable(attrs)
    account = {
        "account_id": account_id,
        "name": name,
        "segment": segment,
        "attrs": account_attrs,
        "full": True,
    }
    lines = [f"Segment: {segment}"] if segment else []
    body = "\n".join(lines + [f"{k}: {v}" for k, v in attrs.items()])
    plan.items.append(
        _item(
            rows,
            {
                "kind": "account",
                "title": name,
                "body": body,
                "external_id": f"account:{account_id}",
                "tags": [segment] if segment else [],
                "attrs": {**account_attrs, "account_id": account_id, "segment": segment},
            },
        )
    )
    plan.accounts[account_id] = account


def _account_key(rows: Rows, row: list[Any], *, required: bool) -> tuple[str | None, str | None]:
    account_id = values.text(rows.get(row, "account_id"))
    name = values.text(rows.get(row, "account"))
    if account_id is None and name is None:
        if rows.options.account is not None:
            return values.slug(rows.options.account), rows.options.account
        if required:
            column = rows.columns.get("account") or rows.columns.get("account_id")
            raise RowProblem(column, "the account is empty; every row needs one")
        return None, None
    return account_id or values.slug(name or ""), name or account_id


def _kpi(plan: Plan, rows: Rows, row: list[Any], number: int) -> None:
    kpi = str(_required(rows, row, "kpi"))
    raw = _required(rows, row, "value")
    value = _number(rows, row, "value")
    account_id, name = _account_key(rows, row, required=rows.kind == "kpi_csv")
    recorded = rows.get(row, "recorded_at")
    try:
        recorded_at = None if recorded is None else values.when(recorded)
    except ValueError as exc:
        raise RowProblem(rows.columns["recorded_at"], str(exc)) from None
    weight = _number(rows, row, "weight")
    if weight is not None and weight < 0:
        raise RowProblem(rows.columns["weight"], f"weight {weight:g} is negative")
    unit = values.text(rows.get(row, "unit")) or ("%" if str(raw).strip().endswith("%") else None)
    record = {
        "account_id": account_id,
        "kpi": kpi,
        "value": value,
        "unit": unit,
        "category": values.text(rows.get(row, "category")),
        "target": _number(rows, row, "target"),
        "weight": 1.0 if weight is None else weight,
        "impact_level": values.text(rows.get(row, "impact_level")),
        "health_component": values.text(rows.get(row, "health_component")),
        "recorded_at": recorded_at,
    }
    record["fingerprint"] = _fingerprint(record)
    plan.kpis.append(record)
    if account_id is not None and account_id not in plan.accounts:
        plan.accounts[account_id] = {
            "account_id": account_id,
            "name": name,
            "segment": None,
            "attrs": {},
            "full": False,
        }


def _fingerprint(record: dict[str, Any]) -> str:
    canonical = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool | dict | list) else str(v)
        for k, v in data.items()
    }


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


# ------------------------------------------------------------------ CRM exports (crm.py)


def _crm_text(rows: Rows, row: list[Any], name: str) -> str | None:
    return values.text(rows.get(row, name))


def _crm_figure(plan: Plan, rows: Rows, row: list[Any], account_id: str, kpi: str,
                field_name: str, unit: str | None, category: str,
                recorded: Any = None) -> float | None:  # fmt: skip
    """A CRM figure of the row as a KPI value of its account (weight 0: no health score)."""
    value = _number(rows, row, field_name)
    if value is None:
        return None
    try:
        recorded_at = None if recorded is None else values.when(recorded)
    except ValueError as exc:
        raise RowProblem(None, str(exc)) from None
    record = {
        "account_id": account_id, "kpi": kpi, "value": value, "unit": unit,
        "category": category, "target": None, "weight": 0.0, "impact_level": None,
        "health_component": None, "recorded_at": recorded_at,
    }  # fmt: skip
    record["fingerprint"] = _fingerprint(record)
    plan.kpis.append(record)
    return value


def _crm_account(plan: Plan, rows: Rows, row: list[Any], number: int) -> None:
    account_id = _crm_text(rows, row, "account_id")
    name = _crm_text(rows, row, "account")
    if account_id is None and name is None:
        column = rows.columns.get("account_id") or rows.columns.get("account")
        raise RowProblem(column, "the account has neither an id nor a name")
    account_id = account_id or values.slug(name or "")
    name = name or account_id
    fields = ("type", "lifecycle_stage", "industry", "city", "state", "country", "owner",
              "website", "phone")  # fmt: skip
    info: dict[str, Any] = {"crm": crm.crm_of(rows.kind)} | crm.attrs(
        lambda f: _crm_text(rows, row, f), fields
    )
    modified = rows.get(row, "modified_at")
    for kpi, field_name, unit in (("Annual Revenue", "annual_revenue", "currency"),
                                  ("Number of Employees", "employees", "employees")):  # fmt: skip
        value = _crm_figure(plan, rows, row, account_id, kpi, field_name, unit,
                            "Firmographics", modified)  # fmt: skip
        if value is not None:
            info[field_name] = value
    segment = info.get("industry")
    lines = [f"{k.replace('_', ' ').capitalize()}: {_shown(v)}" for k, v in info.items()]
    plan.items.append(_item(rows, {
        "kind": "account", "title": name, "body": "\n".join(lines),
        "external_id": f"account:{account_id}",
        "tags": [t for t in (info["crm"], segment, info.get("type") or
                             info.get("lifecycle_stage")) if t],
        "attrs": {**info, "account_id": account_id, "segment": segment},
    }))  # fmt: skip
    plan.accounts[account_id] = {"account_id": account_id, "name": name, "segment": segment,
                                 "attrs": info, "full": True}  # fmt: skip


def _crm_linked(plan: Plan, rows: Rows, row: list[Any]) -> str | None:
    """The row's account (by id, else by name), known to the plan; None when it names none."""
    account_id = _crm_text(rows, row, "account_id")
    name = _crm_text(rows, row, "account")
    if account_id is None and name is None:
        return None
    account_id = account_id or values.slug(name or "")
    if account_id not in plan.accounts:
        plan.accounts[account_id] = {"account_id": account_id, "name": name or account_id,
                                     "segment": None, "attrs": {}, "full": False}  # fmt: skip
    return account_id


def _crm_contact(plan: Plan, rows: Rows, row: list[Any], number: int) -> None:
    first, last = _crm_text(rows, row, "first_name"), _crm_text(rows, row, "last_name")
    email = _crm_text(rows, row, "email")
    person = " ".join(p for p in (first, last) if p) or email
    if person is None:
        raise RowProblem(rows.columns.get("last_name"), "the contact has no name and no email")
    key = _crm_text(rows, row, "contact_id") or email or values.slug(person)
    account_id = _crm_linked(plan, rows, row)
    fields = ("job_title", "email", "phone", "city", "country", "owner", "lifecycle_stage")
    info = {"crm": crm.crm_of(rows.kind)} | crm.attrs(lambda f: _crm_text(rows, row, f), fields)
    account = _crm_text(rows, row, "account")
    title = person + (f" ({info['job_title']})" if "job_title" in info else "")
    lines = [f"{k.replace('_', ' ').capitalize()}: {v}" for k, v in info.items()]
    if account:
        lines.insert(0, f"Account: {account}")
    plan.items.append(_item(rows, {
        "kind": "document", "title": title, "body": "\n".join(lines),
        "external_id": f"{info['crm']}:contact:{key}", "tags": ["contact", info["crm"]],
        "attrs": {**info, "account_id": account_id, "contact_id": key, "name": person},
    }))  # fmt: skip


def _crm_deal(plan: Plan, rows: Rows, row: list[Any], number: int) -> None:
    deal = _crm_text(rows, row, "deal")
    if deal is None:
        raise RowProblem(rows.columns.get("deal"), "the deal has no name")
    key = _crm_text(rows, row, "deal_id") or values.slug(deal)
    account_id = _crm_linked(plan, rows, row)
    stage = _crm_text(rows, row, "stage")
    info: dict[str, Any] = {"crm": crm.crm_of(rows.kind)} | crm.attrs(
        lambda f: _crm_text(rows, row, f),
        ("stage", "currency", "close_date", "type", "pipeline", "owner"),
    )
    probability = _number(rows, row, "probability")
    if probability is not None:
        info["probability"] = probability
    if account_id is not None:
        amount = _crm_figure(plan, rows, row, account_id, "Deal amount", "amount",
                             info.get("currency") or "currency", stage or "Pipeline",
                             rows.get(row, "close_date"))  # fmt: skip
    else:
        amount = _number(rows, row, "amount")
    if amount is not None:
        info["amount"] = amount
    account = _crm_text(rows, row, "account")
    lines = [f"{k.replace('_', ' ').capitalize()}: {_shown(v)}" for k, v in info.items()]
    if account:
        lines.insert(0, f"Account: {account}")
    plan.items.append(_item(rows, {
        "kind": "document", "title": f"Deal: {deal}", "body": "\n".join(lines),
        "external_id": f"{info['crm']}:deal:{key}",
        "tags": [t for t in ("deal", info["crm"], stage) if t],
        "attrs": {**info, "account_id": account_id, "deal_id": key, "name": deal},
    }))  # fmt: skip


Converter = Callable[[Plan, Rows, list[Any], int], None]
CONVERTERS: dict[str, Converter] = {
    "faq": _faq,
    "document": _document,
    "accounts": _account,
    "kpi_csv": _kpi,
    "kpi_list": _kpi,
    **{kind: _crm_account for kind in crm.KINDS if kind.endswith("_accounts")},
    **{kind: _crm_contact for kind in crm.KINDS if kind.endswith("_contacts")},
    **{kind: _crm_deal for kind in crm.KINDS if kind.endswith("_deals")},
}

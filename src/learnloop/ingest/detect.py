"""What a table holds, and which column feeds which field.

Columns are matched to fields by name, after normalising (lower case, runs of anything
but letters and digits as one underscore), against each field's synonyms. A mapping
given by the caller (``{"field": "column"}``) wins over the synonyms. The kind is the
one whose required fields are all found; its confidence is the share of its fields
(required and optional) that were found, so a KPI CSV with every usual column scores 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from learnloop.errors import InvalidInput
from learnloop.ingest import crm

SYNONYMS: dict[str, tuple[str, ...]] = {
    "kpi": (
        "kpi",
        "kpi_name",
        "kpi_parameter",
        "parameter",
        "metric",
        "metric_name",
        "indicator",
        "kpi_metric",
        "measure",
    ),
    "value": (
        "value",
        "kpi_value",
        "current_value",
        "actual",
        "actual_value",
        "score",
        "result",
        "amount",
        "data",
    ),
    "category": ("category", "kpi_category", "group", "area", "pillar", "dimension"),
    "account_id": ("account_id", "customer_id", "client_id", "company_id", "acct_id"),
    "account": (
        "account",
        "account_name",
        "customer",
        "customer_name",
        "client",
        "client_name",
        "company",
        "company_name",
        "organisation",
        "organization",
    ),
    "segment": ("segment", "tier", "customer_segment", "plan", "industry"),
    "unit": ("unit", "units", "uom", "unit_of_measure"),
    "target": ("target", "goal", "target_value", "benchmark"),
    "weight": ("weight", "kpi_weight", "weighting"),
    "impact_level": ("impact", "impact_level", "priority", "importance", "severity"),
    "health_component": (
        "health_component",
        "health_score_component",
        "component",
        "health_category",
        "in_health_score",
    ),
    "recorded_at": (
        "recorded_at",
        "date",
        "as_of",
        "as_of_date",
        "timestamp",
        "measured_at",
        "period",
        "month",
    ),
    "question": ("question", "q", "faq", "query", "questions"),
    "answer": ("answer", "a", "response", "reply", "answers"),
    "title": ("title", "name", "subject", "heading"),
    "body": ("body", "content", "text", "description", "details", "steps"),
    "tags": ("tags", "tag", "labels", "keywords"),
    "id": ("id", "external_id", "key", "uid", "ref"),
}

# kind -> (required fields, optional fields)
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "kpi_csv": (
        ("kpi", "value", "account"),
        (
            "category",
            "account_id",
            "unit",
            "target",
            "weight",
            "impact_level",
            "health_component",
            "recorded_at",
        ),
    ),
    "kpi_list": (
        ("kpi", "value"),
        ("category", "unit", "target", "weight", "impact_level", "health_component", "recorded_at"),
    ),
    "faq": (("question", "answer"), ("category", "tags", "id")),
    "accounts": (("account",), ("account_id", "segment")),
    "document": ((), ("title", "body", "tags", "id")),
}
KIND_ORDER = ("kpi_csv", "kpi_list", "faq", "accounts", "document")


@dataclass
class Detection:
    """The kind found, how sure, and the column of each field found."""

    kind: str
    confidence: float
    columns: dict[str, str] = field(default_factory=dict)


def normalise(name: str) -> str:
    """'KPI / Parameter ' -> 'kpi_parameter'."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def match_columns(header: list[str], mapping: dict[str, str] | None = None) -> dict[str, str]:
    """field -> column: the explicit mapping first, then the first column named by a synonym."""
    mapping = mapping or {}
    unknown = [c for c in mapping.values() if c not in header]
    if unknown:
        raise InvalidInput(
            f"the mapping names columns the file does not have: {', '.join(unknown)}; "
            f"seen columns: {', '.join(header)}"
        )
    found = {f: c for f, c in mapping.items() if f in SYNONYMS}
    by_name = {normalise(column): column for column in reversed(header)}
    used = set(found.values())
    for name, synonyms in SYNONYMS.items():
        if name in found:
            continue
        column = next((by_name[s] for s in synonyms if s in by_name), None)
        if column is not None and column not in used:
            found[name] = column
            used.add(column)
    return found


def detect(
    header: list[str], mapping: dict[str, str] | None = None, kind: str | None = None
) -> Detection:
    """The best kind for these columns, or the one asked for (checked against the columns).
    A Salesforce or HubSpot export is told by its columns first (``crm``)."""
    if not mapping and (kind is None or kind in crm.KINDS):
        found = crm.detect({normalise(c): c for c in reversed(header)}, kind)
        if found is not None:
            return Detection(found[0], _crm_confidence(found[1]), found[1])
        if kind is not None:
            raise InvalidInput(
                f"the file does not look like a {kind.replace('_', ' ')} export; seen columns: "
                f"{', '.join(header) or '(none)'}"
            )
    columns = match_columns(header, mapping)
    fields = set(columns)
    if "account" not in fields and "account_id" in fields:
        fields.add("account")
    if kind is not None:
        _check_kind(kind, header, fields)
        return Detection(kind, _confidence(kind, fields), columns)
    for name in KIND_ORDER:
        required, _ = KINDS[name]
        if set(required) <= fields:
            return Detection(name, _confidence(name, fields), columns)
    return Detection("document", 0.5, columns)


def expected_columns(kind: str) -> str:
    """'kpi (or KPI Name, kpi_name, ...), value (or ...)' for an error message."""
    required, _ = KINDS[kind]
    return "; ".join(f"{f} (any of: {', '.join(SYNONYMS[f][:6])})" for f in required)


def _check_kind(kind: str, header: list[str], fields: set[str]) -> None:
    if kind not in KINDS:
        raise InvalidInput(
            f"unknown kind {kind!r}; expected one of: {', '.join(KIND_ORDER + crm.KINDS)}"
        )
    missing = [f for f in KINDS[kind][0] if f not in fields]
    if missing:
        raise InvalidInput(
            f"the file does not look like {kind}: expected columns {expected_columns(kind)}; "
            f"missing {', '.join(missing)}; seen columns: {', '.join(header) or '(none)'}; "
            "name the columns with a mapping (field=column)"
        )


def _crm_confidence(columns: dict[str, str]) -> float:
    """0.8 for the columns that tell the export, up to 1.0 with more of its fields."""
    return round(min(1.0, 0.8 + 0.02 * len(columns)), 3)


def _confidence(kind: str, fields: set[str]) -> float:
    """0.6 for the required fields alone, up to 1.0 as the optional ones are found too."""
    required, optional = KINDS[kind]
    if not required:
        return 0.5
    return round(0.6 + 0.4 * len(set(optional) & fields) / len(optional), 3)

"""The standard KPI templates a customer fills in: built here (Excel with openpyxl, CSV),
each with example rows, and each imported as it is by ``learnloop import`` (a test
round-trips every one).

- ``kpi_standard.xlsx``: the KPI dashboard workbook: sheets ``Account Info`` (accounts),
  ``KPI Data`` (Health Score Component, KPI/Parameter, Data, ... per account) and
  ``Summary`` (not imported: health scores are computed from the KPI values);
- ``kpi_simple.xlsx``: one sheet ``KPIs`` (KPI Name, Value, Category) for one account;
- ``kpi.csv``: kpi_name, value, category, account_name and the optional columns;
- ``accounts.csv``: account_id, account_name, segment.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook

from learnloop.errors import NotFound

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ACCOUNTS = [["A-1", "Acme Corp", "Enterprise"], ["A-2", "Globex", "SMB"]]
KPI_HEADER = ["Account Name", "Category", "Health Score Component", "KPI/Parameter", "Data",
              "Unit", "Target", "Weight", "Impact Level", "Date"]  # fmt: skip
KPI_ROWS: list[list[Any]] = [
    ["Acme Corp", "Adoption", "Product usage", "Weekly active users", 45, "%", 60, 2, "High",
     "2026-01-31"],
    ["Acme Corp", "Support", "Support experience", "CSAT", 82, "%", 90, 1, "Medium",
     "2026-01-31"],
    ["Globex", "Adoption", "Product usage", "Weekly active users", 72, "%", 60, 2, "High",
     "2026-01-31"],
    ["Globex", "Support", "Support experience", "CSAT", 95, "%", 90, 1, "Medium",
     "2026-01-31"],
]  # fmt: skip


@dataclass(frozen=True)
class Template:
    name: str
    media_type: str
    kind: str  # what the import finds in it
    description: str
    build: Callable[[], bytes]

    def summary(self) -> dict[str, str]:
        return {"name": self.name, "media_type": self.media_type, "kind": self.kind,
                "description": self.description}  # fmt: skip


def _xlsx(sheets: dict[str, list[list[Any]]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def _standard() -> bytes:
    return _xlsx({
        "Account Info": [["Account ID", "Account Name", "Segment"], *ACCOUNTS],
        "KPI Data": [KPI_HEADER, *KPI_ROWS],
        "Summary": [["Account Name", "Health Score"],
                    ["(computed by learnloop from the KPI values)", None]],
    })  # fmt: skip


def _simple() -> bytes:
    return _xlsx({"KPIs": [["KPI Name", "Value", "Category", "Unit", "Target"],
                           ["Weekly active users", 45, "Adoption", "%", 60],
                           ["CSAT", 82, "Support", "%", 90],
                           ["Open tickets", 12, "Support", None, None]]})  # fmt: skip


def _kpi_csv() -> bytes:
    header = ["kpi_name", "value", "category", "account_name", "unit", "target", "weight",
              "impact_level", "health_component", "recorded_at"]  # fmt: skip
    rows = [[r[3], r[4], r[1], r[0], r[5], r[6], r[7], r[8], r[2], r[9]] for r in KPI_ROWS]
    return _csv([header, *rows])


def _accounts_csv() -> bytes:
    return _csv([["account_id", "account_name", "segment"], *ACCOUNTS])


TEMPLATES = {
    t.name: t
    for t in (
        Template("kpi_standard.xlsx", XLSX, "kpi_workbook",
                 "the KPI dashboard workbook: Account Info, KPI Data (Health Score Component, "
                 "KPI/Parameter, Data, ... per account), Summary", _standard),
        Template("kpi_simple.xlsx", XLSX, "kpi_list",
                 "one sheet KPIs: KPI Name, Value, Category (import with --account)", _simple),
        Template("kpi.csv", "text/csv", "kpi_csv",
                 "kpi_name, value, category, account_name, unit, target, weight, "
                 "impact_level, health_component, recorded_at", _kpi_csv),
        Template("accounts.csv", "text/csv", "accounts",
                 "account_id, account_name, segment", _accounts_csv),
    )
}  # fmt: skip


def template(name: str) -> tuple[Template, bytes]:
    """The template called ``name`` and its bytes; NotFound naming the ones there are."""
    found = TEMPLATES.get(name)
    if found is None:
        raise NotFound(f"no template {name!r}; there are {', '.join(TEMPLATES)}")
    return found, found.build()

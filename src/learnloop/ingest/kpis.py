"""Writing KPI values in an import's transaction: dated values upserted by (account, KPI,
time), undated ones appended as the latest; then the accounts' health scores, now and at
every point of their series, and the data events that say what changed.

Events, one per account and type: ``temporal_data_added`` (new points of the series),
``kpi_updated`` (a stored point given new figures, or a new latest value without a date),
``health_scores_updated`` (the account's current health score changed).
"""

from __future__ import annotations

import builtins
from collections import defaultdict
from typing import Any, Literal, get_args

from psycopg.types.json import Jsonb

from learnloop._sql import load_queries
from learnloop.ingest.adapt import Plan
from learnloop.ingest.health import health_score
from learnloop.ingest.models import ImportReport
from learnloop.ingest.series import health_over_time
from learnloop.ports import Connection

Q = load_queries("learnloop.ingest")
DataEventType = Literal["kpi_updated", "temporal_data_added", "health_scores_updated"]
DATA_EVENT_TYPES: tuple[str, ...] = get_args(DataEventType)
COLUMNS = {
    "account_ids": "account_id", "kpis": "kpi", "categories": "category",
    "values": "value", "units": "unit", "targets": "target", "weights": "weight",
    "impacts": "impact_level", "components": "health_component",
    "recorded": "recorded_at", "fingerprints": "fingerprint",
}  # fmt: skip


class _Changes:
    """What one write did, per account: the KPIs and times it added or updated."""

    def __init__(self) -> None:
        self.by: dict[tuple[str, str | None], builtins.list[dict[str, Any]]] = defaultdict(list)

    def add(self, kind: str, row: dict[str, Any]) -> None:
        self.by[(kind, row["account_id"])].append(row)

    def accounts(self) -> builtins.list[str]:
        return sorted({a for _, a in self.by if a is not None})


def write(conn: Connection, tenant_id: str, plan: Plan, report: ImportReport) -> None:
    """Store the plan's KPI values, the health scores and the events they make."""
    changes = _Changes()
    dated = [k for k in plan.kpis if k["recorded_at"] is not None]
    undated = [k for k in plan.kpis if k["recorded_at"] is None]
    if dated:
        for row in conn.execute(Q["upsert_kpi_points"], _params(tenant_id, dated, report)):
            changes.add("temporal_data_added" if row["inserted"] else "kpi_updated", row)
    if undated:
        for row in conn.execute(Q["append_kpi_values"], _params(tenant_id, undated, report)):
            changes.add("kpi_updated", row)
    report.counts.kpi_values = sum(len(rows) for rows in changes.by.values())
    accounts = changes.accounts()
    _events(conn, tenant_id, changes, report.import_id)
    _update_health(conn, tenant_id, accounts, report.import_id)


def _params(
    tenant_id: str, kpis: builtins.list[dict[str, Any]], report: ImportReport
) -> dict[str, Any]:
    params: dict[str, Any] = {name: [k[key] for k in kpis] for name, key in COLUMNS.items()}
    return params | {"tenant_id": tenant_id, "import_id": report.import_id}


def _events(conn: Connection, tenant_id: str, changes: _Changes, import_id: int | None) -> None:
    for (kind, account_id), rows in sorted(changes.by.items(), key=lambda kv: str(kv[0])):
        times = sorted(r["recorded_at"] for r in rows if r.get("recorded_at") is not None)
        payload = {"kpis": sorted({r["kpi"] for r in rows}), "values": len(rows)}
        if times:
            payload |= {"from": times[0].isoformat(), "to": times[-1].isoformat()}
        emit(conn, tenant_id, kind, account_id, import_id, payload)


def emit(
    conn: Connection,
    tenant_id: str,
    kind: str,
    account_id: str | None,
    import_id: int | None,
    payload: dict[str, Any],
) -> None:
    conn.execute(Q["insert_data_event"], {
        "tenant_id": tenant_id, "type": kind, "account_id": account_id,
        "import_id": import_id, "payload": Jsonb(payload),
    })  # fmt: skip


def _update_health(
    conn: Connection, tenant_id: str, account_ids: builtins.list[str], import_id: int | None
) -> None:
    """The current score from the latest value of each KPI, and the score at every time of
    the accounts' series (rebuilt whole: a value may land anywhere in the history)."""
    if not account_ids:
        return
    params = {"tenant_id": tenant_id, "account_ids": account_ids}
    before = {
        r["account_id"]: r["health_score"]
        for r in conn.execute(Q["health_scores_of"], params).fetchall()
    }
    latest: dict[str, builtins.list[dict[str, Any]]] = {}
    for row in conn.execute(Q["latest_kpis"], params).fetchall():
        latest.setdefault(row["account_id"], []).append(row)
    for account_id, rows in latest.items():
        score = health_score(rows)
        conn.execute(Q["set_health"], params | {"account_id": account_id, "health_score": score})
        if score != before.get(account_id):
            payload = {"before": before.get(account_id), "after": score}
            emit(conn, tenant_id, "health_scores_updated", account_id, import_id, payload)
    _rebuild_history(conn, tenant_id, account_ids)


def _rebuild_history(conn: Connection, tenant_id: str, account_ids: builtins.list[str]) -> None:
    params = {"tenant_id": tenant_id, "account_ids": account_ids}
    series: dict[str, builtins.list[dict[str, Any]]] = defaultdict(list)
    for row in conn.execute(Q["account_series_rows"], params).fetchall():
        series[row["account_id"]].append(row)
    columns: dict[str, builtins.list[Any]] = {"account_ids": [], "as_of": [], "scores": [],
                                              "kpis": []}  # fmt: skip
    for account_id, rows in series.items():
        for as_of, score, count in health_over_time(rows):
            for name, value in zip(columns, (account_id, as_of, score, count), strict=True):
                columns[name].append(value)
    conn.execute(Q["clear_health_history"], params)
    conn.execute(Q["insert_health_history"], columns | {"tenant_id": tenant_id})

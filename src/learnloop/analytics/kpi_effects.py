"""Playbook effects measured on the KPI series: for each report, the mean of each KPI of
its account in the window before the playbook started against the mean in the window after
it ended (values during the run are left out); then per playbook and KPI, over its reports.

A report counts for a KPI only when both windows hold a value. ``improved`` counts the
reports whose KPI moved the good way (down for a KPI whose name says lower is better).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel, Field

from learnloop._sql import load_queries
from learnloop.context.effects import lower_is_better
from learnloop.errors import InvalidInput
from learnloop.ingest.series import window_effect
from learnloop.ports import Store

Q = load_queries("learnloop.analytics")


class KpiEffect(BaseModel):
    playbook: str
    kpi: str
    reports: int = Field(description="reports with a value in both windows")
    accounts: int
    mean_before: float
    mean_after: float
    mean_change: float = Field(description="mean over the reports of (after - before)")
    mean_relative_change: float | None = Field(description="mean of change / |before|")
    improved: int = Field(description="reports whose KPI moved the good way")
    lower_is_better: bool


class KpiEffects(BaseModel):
    window_days: int
    effects: list[KpiEffect]


def kpi_effects(
    db: Store, tenant_id: str, window_days: int = 30, playbook: str | None = None
) -> KpiEffects:
    """Every playbook's before/after effect on every KPI of the accounts it ran for."""
    if not 1 <= window_days <= 3650:
        raise InvalidInput(f"window_days must be between 1 and 3650, not {window_days}")
    params = {"tenant_id": tenant_id, "days": window_days, "playbook": playbook}
    with db.connection() as conn:
        rows = conn.execute(Q["playbook_kpi_windows"], params).fetchall()
    runs: dict[tuple[int, str], dict[str, Any]] = {}
    for row in rows:
        run = runs.setdefault(
            (row["report_id"], row["kpi"]),
            {"playbook": row["playbook"], "account": row["account_id"], "before": [], "after": []},
        )
        if row["recorded_at"] < row["started"]:
            run["before"].append(row["value"])
        elif row["recorded_at"] > row["ended"]:
            run["after"].append(row["value"])
    grouped: dict[tuple[str, str], list[tuple[str, tuple[float, float, float, bool]]]] = (
        defaultdict(list)
    )
    for (_, kpi), run in runs.items():
        measured = window_effect(kpi, run["before"], run["after"])
        if measured is not None:
            grouped[(run["playbook"], kpi)].append((run["account"], measured))
    effects = [_effect(p, k, found) for (p, k), found in sorted(grouped.items())]
    return KpiEffects(window_days=window_days, effects=effects)


def _effect(
    playbook: str, kpi: str, found: list[tuple[str, tuple[float, float, float, bool]]]
) -> KpiEffect:
    n = len(found)
    measured = [m for _, m in found]
    relative = [c / abs(b) for b, _, c, _ in measured if b]
    return KpiEffect(
        playbook=playbook,
        kpi=kpi,
        reports=n,
        accounts=len({a for a, _ in found}),
        mean_before=sum(m[0] for m in measured) / n,
        mean_after=sum(m[1] for m in measured) / n,
        mean_change=sum(m[2] for m in measured) / n,
        mean_relative_change=sum(relative) / len(relative) if relative else None,
        improved=sum(1 for m in measured if m[3]),
        lower_is_better=lower_is_better(kpi),
    )

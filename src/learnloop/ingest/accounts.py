"""Reading accounts, their health scores and their KPI history."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from learnloop._sql import load_queries
from learnloop.errors import InvalidInput, NotFound
from learnloop.ingest.kpis import DataEventType
from learnloop.ingest.series import Trend, describe, trend
from learnloop.ports import Store

Q = load_queries("learnloop.ingest")


class Account(BaseModel):
    account_id: str
    name: str
    segment: str | None
    attrs: dict[str, Any]
    health_score: float | None
    health_updated_at: datetime | None
    created_at: datetime
    updated_at: datetime


class KpiValue(BaseModel):
    value_id: int
    account_id: str | None
    kpi: str
    category: str | None
    value: float
    unit: str | None
    target: float | None
    weight: float
    impact_level: str | None
    health_component: str | None
    recorded_at: datetime
    import_id: int | None


class KpiPoint(BaseModel):
    recorded_at: datetime
    value: float
    unit: str | None
    target: float | None


class KpiSeries(BaseModel):
    """One KPI of an account over time, oldest point first, with its trend."""

    kpi: str
    points: list[KpiPoint]
    trend: Trend | None


class HealthPoint(BaseModel):
    as_of: datetime
    score: float | None = Field(description="0..100; null when no KPI could be scored")
    kpis: int = Field(description="the KPIs known at that time")


class DataEvent(BaseModel):
    event_id: int
    type: DataEventType
    account_id: str | None
    import_id: int | None
    payload: dict[str, Any]
    created_at: datetime


class KpiRevision(BaseModel):
    """A value an upsert replaced: the point, the figures it held, what replaced them."""

    revision_id: int
    value_id: int
    kpi: str
    value: float
    unit: str | None
    target: float | None
    recorded_at: datetime
    import_id: int | None
    replaced_by: int | None = Field(description="the import that replaced it")
    replaced_at: datetime


EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)


class Accounts:
    def __init__(self, db: Store):
        self.db = db

    def get(self, tenant_id: str, account_id: str) -> Account:
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "account_id": account_id}
            row = conn.execute(Q["get_account"], params).fetchone()
        if row is None:
            raise NotFound(f"no account {account_id!r} in this tenant")
        return Account.model_validate(row)

    def list(self, tenant_id: str, *, limit: int = 100) -> builtins.list[Account]:
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "limit": limit}
            rows = conn.execute(Q["list_accounts"], params).fetchall()
        return [Account.model_validate(row) for row in rows]

    def kpis(self, tenant_id: str, account_id: str) -> builtins.list[KpiValue]:
        """Every KPI value of the account, oldest first per KPI: the history."""
        self.get(tenant_id, account_id)
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "account_id": account_id}
            rows = conn.execute(Q["kpi_history"], params).fetchall()
        return [KpiValue.model_validate(row) for row in rows]

    def series(
        self,
        tenant_id: str,
        account_id: str,
        *,
        kpi: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> builtins.list[KpiSeries]:
        """Each KPI of the account (or the one named) as a time series, with its trend."""
        rows = self._rows("kpi_series", tenant_id, account_id, since, until, kpi=kpi)
        grouped: dict[str, builtins.list[KpiPoint]] = {}
        for row in rows:
            grouped.setdefault(row["kpi"], []).append(KpiPoint.model_validate(row))
        return [
            KpiSeries(
                kpi=name,
                points=points,
                trend=trend(name, [(p.recorded_at, p.value) for p in points]),
            )
            for name, points in grouped.items()
        ]

    def health_history(
        self,
        tenant_id: str,
        account_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> builtins.list[HealthPoint]:
        """The account's health score at every time of its KPI series."""
        rows = self._rows("health_history", tenant_id, account_id, since, until)
        return [HealthPoint.model_validate(row) for row in rows]

    def revisions(self, tenant_id: str, account_id: str) -> builtins.list[KpiRevision]:
        """The values of the account that an upsert replaced, oldest replacement first."""
        rows = self._rows("kpi_revisions", tenant_id, account_id, None, None)
        return [KpiRevision.model_validate(row) for row in rows]

    def events(
        self,
        tenant_id: str,
        *,
        type: str | None = None,
        account_id: str | None = None,
        limit: int = 100,
        cursor: int | None = None,
    ) -> builtins.list[DataEvent]:
        """The data events (kpi_updated, temporal_data_added, health_scores_updated), newest
        first."""
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
        params = {
            "tenant_id": tenant_id,
            "type": type,
            "account_id": account_id,
            "limit": limit,
            "cursor": cursor,
        }
        with self.db.connection() as conn:
            rows = conn.execute(Q["list_data_events"], params).fetchall()
        return [DataEvent.model_validate(row) for row in rows]

    def _rows(
        self,
        query: str,
        tenant_id: str,
        account_id: str,
        since: datetime | None,
        until: datetime | None,
        **extra: Any,
    ) -> builtins.list[dict[str, Any]]:
        self.get(tenant_id, account_id)
        if since is not None and until is not None and since > until:
            raise InvalidInput("since must not be after until")
        params = {
            "tenant_id": tenant_id,
            "account_id": account_id,
            "since": since or EARLIEST,
            "until": until or LATEST,
        } | extra
        with self.db.connection() as conn:
            return conn.execute(Q[query], params).fetchall()

    def trend_lines(self, tenant_id: str, account: str, days: int) -> builtins.list[str]:
        """One line per KPI (and the health score) of the account (by id or name) over the
        last ``days`` days before its newest value; none for an unknown account."""
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "account": account}
            row = conn.execute(Q["account_by_id_or_name"], params).fetchone()
        if row is None or row["newest"] is None:
            return []
        since = row["newest"] - timedelta(days=days)
        lines = []
        health = self.health_history(tenant_id, row["account_id"], since=since)
        scored = [(h.as_of, h.score) for h in health if h.score is not None]
        if len(scored) > 1:
            lines.append(describe(_trend("Health score", scored)))
        for s in self.series(tenant_id, row["account_id"], since=since):
            if s.trend is not None and s.trend.points > 1:
                lines.append(describe(s.trend))
        return lines


def _trend(name: str, points: builtins.list[tuple[datetime, float]]) -> Trend:
    found = trend(name, points)
    assert found is not None
    return found

"""Reading accounts, their health scores and their KPI history."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from learnloop._sql import load_queries
from learnloop.errors import InvalidInput, NotFound
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

"""Analytics: the one object the entry points call; it reads the rollups, refreshing them
first when they are older than ``max_staleness``."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from learnloop.analytics import kpi_effects, lifecycle, metrics, playbooks, rollups, tools
from learnloop.analytics.kpi_effects import KpiEffects
from learnloop.analytics.models import (
    ExperimentResult,
    Funnel,
    ItemRanking,
    LifecycleFlag,
    LifecycleRules,
    Metrics,
    MetricsFilter,
    Period,
    PlaybookReport,
    PolicyResult,
    ReferrerFunnels,
    RefreshResult,
    StrategyShare,
    ToolReport,
)
from learnloop.knowledge import Items
from learnloop.ports import Store
from learnloop.validation import parse

Filter = MetricsFilter | dict[str, Any] | None


class Analytics:
    """Metrics, tool and playbook effectiveness, lifecycle rules.

    ``max_staleness`` seconds: a read refreshes the tenant's rollups first when this
    process last refreshed them longer ago (0: always; None: never, leave it to the worker).
    """

    def __init__(self, db: Store, items: Items, *, max_staleness: float | None = 60.0):
        self.db = db
        self.items = items
        self.max_staleness = max_staleness
        self._fresh: dict[str, float] = {}

    def refresh(self, tenant_id: str, *, full: bool = False, wait: bool = False) -> RefreshResult:
        """Bring the tenant's rollups up to date (safe from many workers at once); with
        ``wait``, a refresh already running serves this call instead (``rollups.refresh``)."""
        result = rollups.refresh(self.db, tenant_id, full=full, wait=wait)
        if result.refreshed or result.refreshed_at is not None:
            self._fresh[tenant_id] = time.monotonic()
        return result

    def refresh_all(self) -> list[RefreshResult]:
        """Refresh every tenant with new activity: the worker's periodic task."""
        return rollups.refresh_all(self.db)

    def set_windows(self, tenant_id: str, *, abandon_seconds: int, conversion_seconds: int) -> None:
        rollups.set_windows(
            self.db,
            tenant_id,
            abandon_seconds=abandon_seconds,
            conversion_seconds=conversion_seconds,
        )
        self._fresh.pop(tenant_id, None)

    def metrics(self, tenant_id: str, f: Filter = None, period: Period = "day") -> Metrics:
        return metrics.metrics(self.db, tenant_id, self._ready(tenant_id, f), period)

    def funnel(self, tenant_id: str, f: Filter = None) -> Funnel:
        ready = self._ready(tenant_id, f)
        conversion = rollups.windows(self.db, tenant_id)[1]
        return metrics.funnel(self.db, tenant_id, ready, conversion)

    def referrers(self, tenant_id: str, f: Filter = None, *, limit: int = 50) -> ReferrerFunnels:
        """The funnel per referrer (read from the events, so always current)."""
        conversion = rollups.windows(self.db, tenant_id)[1]
        return metrics.referrer_funnels(
            self.db, tenant_id, parse(MetricsFilter, f or {}), conversion, limit
        )

    def strategies(self, tenant_id: str, f: Filter = None) -> list[StrategyShare]:
        return metrics.strategy_mix(self.db, tenant_id, self._ready(tenant_id, f))

    def policies(self, tenant_id: str, f: Filter = None) -> list[PolicyResult]:
        return metrics.policies(self.db, tenant_id, self._ready(tenant_id, f))

    def experiments(self, tenant_id: str, f: Filter = None) -> list[ExperimentResult]:
        return metrics.experiments(self.db, tenant_id, self._ready(tenant_id, f))

    def top_items(
        self,
        tenant_id: str,
        f: Filter = None,
        *,
        limit: int = 10,
        min_shown: int = 5,
        kinds: list[str] | None = None,
    ) -> ItemRanking:
        ready = self._ready(tenant_id, f)
        return metrics.items(
            self.db, tenant_id, ready, limit=limit, min_shown=min_shown, kinds=kinds
        )

    def tools(self, tenant_id: str, f: Filter = None, *, min_runs: int = 5) -> ToolReport:
        return tools.tools(self.db, tenant_id, self._ready(tenant_id, f), min_runs=min_runs)

    def playbooks(self, tenant_id: str, f: Filter = None) -> PlaybookReport:
        return playbooks.playbooks(self.db, tenant_id, parse(MetricsFilter, f or {}))

    def kpi_effects(
        self, tenant_id: str, *, window_days: int = 30, playbook: str | None = None
    ) -> KpiEffects:
        """Each playbook's effect on its accounts' KPIs: the window before it ran against
        the window after."""
        return kpi_effects.kpi_effects(self.db, tenant_id, window_days, playbook)

    def lifecycle(
        self,
        tenant_id: str,
        rules: LifecycleRules | dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> list[LifecycleFlag]:
        """What the rules flag now: a report, nothing changed."""
        self._ready(tenant_id, None)
        return lifecycle.report(self.db, tenant_id, parse(LifecycleRules, rules or {}), now)

    def apply_lifecycle(
        self,
        tenant_id: str,
        rules: LifecycleRules | dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> list[LifecycleFlag]:
        """Set the status of every flagged item; returns the flags applied."""
        flags = self.lifecycle(tenant_id, rules, now)
        return lifecycle.apply(self.items, flags, tenant_id)

    def _ready(self, tenant_id: str, f: Filter) -> MetricsFilter:
        if self.max_staleness is not None:
            last = self._fresh.get(tenant_id)
            if last is None or time.monotonic() - last >= self.max_staleness:
                self.refresh(tenant_id, wait=True)
        return parse(MetricsFilter, f or {})

"""Analytics: metrics by day or week, the funnel, items, experiments, tools, playbooks, and
the lifecycle rules (a report, and applying it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from learnloop.analytics import (
    ExperimentResult,
    Funnel,
    ItemRanking,
    LifecycleFlag,
    LifecycleRules,
    Metrics,
    PlaybookReport,
    PolicyResult,
    ReferrerFunnels,
    RefreshResult,
    StrategyShare,
    ToolReport,
)
from learnloop.analytics.kpi_effects import KpiEffects
from learnloop.analytics.models import LifecycleApplied, Period
from learnloop.api.deps import LL, ReadTenant, WriteTenant
from learnloop.json_types import Day

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])


def _filters(
    since: Annotated[Day | None, Query(description="first UTC day; default 30 days ago")] = None,
    until: Annotated[Day | None, Query(description="last UTC day; default today")] = None,
    policy: Annotated[str | None, Query(max_length=200)] = None,
    strategy: Annotated[str | None, Query(max_length=200)] = None,
    experiment: Annotated[str | None, Query(max_length=200)] = None,
    variant: Annotated[str | None, Query(max_length=200)] = None,
    segment: Annotated[
        str | None, Query(max_length=200, description="the context's segment")
    ] = None,
) -> dict[str, Any]:
    given = {
        "since": since,
        "until": until,
        "policy": policy,
        "strategy": strategy,
        "experiment": experiment,
        "variant": variant,
        "segment": segment,
    }
    return {name: value for name, value in given.items() if value is not None}


Filters = Annotated[dict[str, Any], Depends(_filters)]


@router.get("/metrics", response_model=Metrics)
def metrics(ll: LL, tenant: ReadTenant, filters: Filters, period: Period = "day") -> Metrics:
    """Recommendation, click-through, success and abandon rates, first-choice accuracy, MRR,
    time to decision and clicks per impression, by day or week, with totals."""
    return ll.analytics.metrics(tenant, filters, period)


@router.get("/funnel/referrers", response_model=ReferrerFunnels)
def funnel_by_referrer(
    ll: LL,
    tenant: ReadTenant,
    filters: Filters,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="referrers, most impressions first")
    ] = 50,
) -> ReferrerFunnels:
    """The funnel per referrer (the events' `referrer`: ai_chat, search, alert_page, ...): an
    impression counts for the referrer of its first event that names one ('' for none)."""
    return ll.analytics.referrers(tenant, filters, limit=limit)


@router.get("/funnel", response_model=Funnel)
def funnel(ll: LL, tenant: ReadTenant, filters: Filters) -> Funnel:
    """viewed -> clicked -> executed -> succeeded within the conversion window."""
    return ll.analytics.funnel(tenant, filters)


@router.get("/strategies", response_model=list[StrategyShare])
def strategies(ll: LL, tenant: ReadTenant, filters: Filters) -> list[StrategyShare]:
    """The presentation-strategy mix."""
    return ll.analytics.strategies(tenant, filters)


@router.get("/policies", response_model=list[PolicyResult])
def policies(ll: LL, tenant: ReadTenant, filters: Filters) -> list[PolicyResult]:
    """Each ranking policy's impressions: click-through, success, first-choice accuracy."""
    return ll.analytics.policies(tenant, filters)


@router.get("/experiments", response_model=list[ExperimentResult])
def experiments(ll: LL, tenant: ReadTenant, filters: Filters) -> list[ExperimentResult]:
    """Each experiment's variants against its control."""
    return ll.analytics.experiments(tenant, filters)


@router.get("/items", response_model=ItemRanking)
def items(
    ll: LL,
    tenant: ReadTenant,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    min_shown: Annotated[int, Query(ge=0, le=2**31 - 1)] = 5,
    kind: Annotated[list[str] | None, Query()] = None,
) -> ItemRanking:
    """The top and bottom items by click-through rate."""
    return ll.analytics.top_items(tenant, filters, limit=limit, min_shown=min_shown, kinds=kind)


@router.get("/tools", response_model=ToolReport)
def tools(
    ll: LL,
    tenant: ReadTenant,
    filters: Filters,
    min_runs: Annotated[int, Query(ge=1, le=2**31 - 1)] = 5,
) -> ToolReport:
    """Per tool: executions, success rate, mean and p95 duration, first and last use."""
    return ll.analytics.tools(tenant, filters, min_runs=min_runs)


@router.get("/playbooks", response_model=PlaybookReport)
def playbooks(ll: LL, tenant: ReadTenant, filters: Filters) -> PlaybookReport:
    """Playbook effectiveness by account segment, from the playbook reports."""
    return ll.analytics.playbooks(tenant, filters)


@router.get("/playbooks/kpi-effects", response_model=KpiEffects)
def playbook_kpi_effects(
    ll: LL,
    tenant: ReadTenant,
    window_days: Annotated[int, Query(ge=1, le=3650)] = 30,
    playbook: Annotated[str | None, Query(min_length=1, max_length=300)] = None,
) -> KpiEffects:
    """Each playbook's effect on the KPI series of the accounts it ran for: the mean in
    the window before it started against the mean in the window after it ended."""
    return ll.analytics.kpi_effects(tenant, window_days=window_days, playbook=playbook)


@router.post("/lifecycle/report", response_model=list[LifecycleFlag])
def lifecycle_report(ll: LL, tenant: ReadTenant, rules: LifecycleRules) -> list[LifecycleFlag]:
    """What the lifecycle rules flag to promote, deprecate or archive; nothing changes."""
    return ll.analytics.lifecycle(tenant, rules)


@router.post("/lifecycle/apply", response_model=LifecycleApplied)
def lifecycle_apply(ll: LL, tenant: WriteTenant, rules: LifecycleRules) -> LifecycleApplied:
    """Apply the lifecycle rules: each flagged item gets its new status."""
    return LifecycleApplied(applied=ll.analytics.apply_lifecycle(tenant, rules))


@router.post("/refresh", response_model=RefreshResult)
def refresh(ll: LL, tenant: ReadTenant, full: bool = False) -> RefreshResult:
    """Bring the rollups up to date now (the worker does it on a schedule)."""
    return ll.analytics.refresh(tenant, full=full)

"""What analytics answers: metric series, funnels, item, tool and playbook effectiveness,
experiment results and lifecycle flags; and the filters and rules it takes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, get_args

from pydantic import BaseModel, Field, model_validator

from learnloop.validation import Input

Period = Literal["day", "week"]
Action = Literal["promote", "deprecate", "archive"]
LifecycleKind = Literal["tool", "runbook", "playbook"]


class MetricsFilter(Input):
    """Which impressions to count: a range of UTC days and optional dimensions."""

    since: date | None = Field(default=None, description="first day; default 30 days ago")
    until: date | None = Field(default=None, description="last day; default today")
    policy: str | None = Field(default=None, max_length=200)
    strategy: str | None = Field(default=None, max_length=200)
    experiment: str | None = Field(default=None, max_length=200)
    variant: str | None = Field(default=None, max_length=200)
    segment: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> MetricsFilter:
        if self.since and self.until and self.until < self.since:
            raise ValueError(f"until ({self.until}) is before since ({self.since})")
        return self


class Counts(BaseModel):
    """Impression counts as the rollups keep them, with the rates they give."""

    impressions: int = 0
    recommended: int = 0
    viewed: int = 0
    clicked: int = 0
    clicks: int = 0
    first_choice: int = 0
    rr_sum: float = 0.0
    decision_ms_sum: float = 0.0
    abandoned: int = 0
    open: int = 0
    executed: int = 0
    succeeded: int = 0
    failed: int = 0
    dismissed: int = 0
    view_click_ms_sum: float = 0.0
    view_click_n: int = 0
    click_exec_ms_sum: float = 0.0
    click_exec_n: int = 0
    exec_success_ms_sum: float = 0.0
    exec_success_n: int = 0


class Rates(BaseModel):
    """The rates of a set of impressions; None where the denominator is zero."""

    recommendation_rate: float | None = Field(description="impressions that showed something")
    click_through_rate: float | None = Field(description="shown impressions with a click")
    success_rate: float | None = Field(description="shown impressions that succeeded")
    first_choice_accuracy: float | None = Field(description="first clicks on rank 1")
    mean_reciprocal_rank: float | None = Field(description="mean of 1 / rank of first click")
    mean_time_to_decision_ms: float | None = Field(description="impression to first click")
    clicks_per_impression: float | None
    abandon_rate: float | None = Field(description="shown, nothing clicked within the window")


class MetricsPoint(BaseModel):
    period: date
    counts: Counts
    rates: Rates


class Metrics(BaseModel):
    period: Period
    since: date
    until: date
    series: list[MetricsPoint]
    totals: MetricsPoint
    helpfulness_rate: float | None = Field(description="feedback that was positive")
    feedback: int


class FunnelStep(BaseModel):
    step: Literal["viewed", "clicked", "executed", "succeeded"]
    impressions: int
    conversion_from_previous: float | None
    mean_ms_from_previous: float | None


class Funnel(BaseModel):
    since: date
    until: date
    conversion_window_seconds: int
    shown: int
    steps: list[FunnelStep]


class ReferrerFunnel(BaseModel):
    """The funnel of the impressions whose first event naming a referrer named this one."""

    referrer: str = Field(description="'' for impressions none of whose events named one")
    impressions: int = Field(description="impressions with at least one event")
    steps: list[FunnelStep]
    success_rate: float | None = Field(description="succeeded / impressions")


class ReferrerFunnels(BaseModel):
    since: date
    until: date
    conversion_window_seconds: int
    referrers: list[ReferrerFunnel]


class StrategyShare(BaseModel):
    strategy: str
    impressions: int
    share: float
    click_through_rate: float | None
    success_rate: float | None


class PolicyResult(BaseModel):
    """How the impressions of one ranking policy did."""

    policy: str
    impressions: int
    click_through_rate: float | None
    success_rate: float | None
    first_choice_accuracy: float | None
    mean_reciprocal_rank: float | None


class VariantResult(BaseModel):
    variant: str
    impressions: int
    click_through_rate: float | None
    success_rate: float | None
    first_choice_accuracy: float | None
    lift_vs_control: float | None = Field(description="success rate difference to the control")
    p_value: float | None = Field(description="two-proportion z-test against the control")


class ExperimentResult(BaseModel):
    experiment: str
    control: str
    variants: list[VariantResult]


class ItemStat(BaseModel):
    item_id: int
    kind: str
    title: str
    status: str
    shown: int
    shown_first: int
    clicked: int
    executed: int
    succeeded: int
    failed: int
    dismissed: int
    click_through_rate: float | None
    success_rate: float | None
    last_used_at: datetime | None


class ItemRanking(BaseModel):
    top: list[ItemStat]
    bottom: list[ItemStat]


class ToolStat(BaseModel):
    tool: str
    item_id: int | None
    executions: int
    successes: int
    success_rate: float
    mean_duration_ms: float
    p95_duration_ms: float
    first_used_at: datetime
    last_used_at: datetime


class ToolReport(BaseModel):
    tools: list[ToolStat]
    top: list[str] = Field(description="best success rate among tools with enough runs")
    low: list[str] = Field(description="worst success rate among tools with enough runs")


class MetricChange(BaseModel):
    metric: str
    reports: int
    mean_before: float
    mean_after: float
    mean_change: float
    mean_relative_change: float | None


class PlaybookStat(BaseModel):
    playbook: str
    segment: str = Field(description="the account segment; '' when the account has none")
    reports: int
    completed: int
    failed: int
    success_rate: float | None = Field(description="completed of those that ended")
    mean_days_to_outcome: float | None
    accounts: int
    metrics: list[MetricChange]


class PlaybookReport(BaseModel):
    playbooks: list[PlaybookStat]
    best_by_segment: dict[str, str] = Field(description="segment -> the playbook that works best")


class LifecycleRules(Input):
    """When a tool, runbook or playbook is flagged; every threshold can be changed."""

    unused_days: int = Field(
        default=90, ge=1, le=36_500, description="archive after this long unused"
    )
    min_runs: int = Field(
        default=20, ge=1, le=2**31 - 1, description="runs needed before judging success"
    )
    deprecate_below: float = Field(default=0.5, ge=0, le=1, description="success rate floor")
    promote_above: float = Field(default=0.8, ge=0, le=1, description="success rate to promote")
    kinds: list[LifecycleKind] = Field(default_factory=lambda: list(get_args(LifecycleKind)))

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleRules:
        if self.promote_above < self.deprecate_below:
            raise ValueError("promote_above must not be below deprecate_below")
        return self


class LifecycleFlag(BaseModel):
    item_id: int
    kind: str
    title: str
    status: str
    action: Action
    new_status: str
    reason: str
    runs: int
    success_rate: float | None
    last_used_at: datetime | None


class LifecycleApplied(BaseModel):
    applied: list[LifecycleFlag]


class RefreshResult(BaseModel):
    tenant_id: str
    refreshed: bool = Field(description="false when another refresh of the tenant was running")
    since: date | None = Field(description="the first day recomputed")
    refreshed_at: datetime | None

"""Playbook effectiveness from the playbook reports: success rate, time to outcome and the
metric changes, by playbook and account segment; which playbook works best per segment."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from learnloop._sql import load_queries
from learnloop.analytics.metrics import params, ratio
from learnloop.analytics.models import MetricChange, MetricsFilter, PlaybookReport, PlaybookStat
from learnloop.ports import Store
from learnloop.validation import HUGE, TINY

Q = load_queries("learnloop.analytics")
ENDED = {"completed", "failed", "abandoned"}
MIN_ENDED = 2  # reports that ended before a playbook can be best for a segment


@dataclass
class _Group:
    reports: int = 0
    completed: int = 0
    ended: int = 0
    days: list[float] = field(default_factory=list)
    accounts: set[str] = field(default_factory=set)
    changes: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def add(self, report: dict[str, Any]) -> None:
        self.reports += 1
        self.accounts.add(report["account"])
        status = report["status"]
        self.completed += status == "completed"
        self.ended += status in ENDED
        if status == "completed" and report["started_at"] and report["ended_at"]:
            self.days.append((report["ended_at"] - report["started_at"]).total_seconds() / 86400)
        for outcome in report["outcomes"]:
            before, after = outcome.get("before"), outcome.get("after")
            if _readable(before) and _readable(after) and isinstance(outcome.get("metric"), str):
                self.changes.setdefault(outcome["metric"], []).append((before, after))


def _readable(value: Any) -> bool:
    """A number the means can hold: what the API accepts (a value stored by other means
    beyond that is left out, so one outlier cannot overflow a report).

    >>> _readable(3.5), _readable(0), _readable(1.7e308), _readable(1e-300), _readable("2")
    (True, True, False, False, False)
    """
    if not isinstance(value, int | float):
        return False
    return value == 0 or TINY <= abs(value) <= HUGE


def playbooks(db: Store, tenant_id: str, f: MetricsFilter) -> PlaybookReport:
    """Reports made in the period, grouped by playbook and the segment of their account."""
    p = params(tenant_id, f)
    with db.connection() as conn:
        reports = conn.execute(Q["playbook_reports"], p).fetchall()
        accounts = conn.execute(Q["account_segments"], p).fetchall()
    segments: dict[str, str] = {}
    for account in accounts:
        segments[account["title"]] = account["segment"]
        if account["external_id"]:
            segments[account["external_id"]] = account["segment"]
    groups: dict[tuple[str, str], _Group] = defaultdict(_Group)
    for report in reports:
        groups[(report["playbook"], segments.get(report["account"], ""))].add(report)
    stats = [_stat(playbook, segment, g) for (playbook, segment), g in sorted(groups.items())]
    return PlaybookReport(playbooks=stats, best_by_segment=best_by_segment(stats))


def best_by_segment(stats: list[PlaybookStat]) -> dict[str, str]:
    """The playbook with the highest success rate in each segment (ties: more reports)."""
    best: dict[str, PlaybookStat] = {}
    for s in stats:
        if s.success_rate is None or s.completed + s.failed < MIN_ENDED:
            continue
        current = best.get(s.segment)
        key = (s.success_rate, s.reports)
        if current is None or key > (current.success_rate or 0.0, current.reports):
            best[s.segment] = s
    return {segment: s.playbook for segment, s in sorted(best.items())}


def _stat(playbook: str, segment: str, g: _Group) -> PlaybookStat:
    return PlaybookStat(
        playbook=playbook,
        segment=segment,
        reports=g.reports,
        completed=g.completed,
        failed=g.ended - g.completed,
        success_rate=ratio(g.completed, g.ended),
        mean_days_to_outcome=ratio(sum(g.days), len(g.days)),
        accounts=len(g.accounts),
        metrics=[_change(metric, pairs) for metric, pairs in sorted(g.changes.items())],
    )


def _change(metric: str, pairs: list[tuple[float, float]]) -> MetricChange:
    n = len(pairs)
    before = sum(b for b, _ in pairs) / n
    after = sum(a for _, a in pairs) / n
    relative = [(a - b) / abs(b) for b, a in pairs if b]
    return MetricChange(
        metric=metric,
        reports=n,
        mean_before=before,
        mean_after=after,
        mean_change=after - before,
        mean_relative_change=ratio(sum(relative), len(relative)),
    )

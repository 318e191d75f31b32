"""Analytics on the real database: rollups built from real impressions (the recommend path),
events, feedback, executions and reports, then read as metrics, funnels, tools, playbooks
and lifecycle flags, through the library, the HTTP API and the command line."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from learnloop.analytics.tools import bucket_of, percentile
from learnloop.cli.main import app
from learnloop.errors import InvalidInput, NotFound
from learnloop.service import LearnLoop

FAQS = [
    {"kind": "faq", "external_id": "pw", "title": "Reset a password",
     "body": "Settings > Security > Reset password"},
    {"kind": "faq", "external_id": "inv", "title": "Download an invoice",
     "body": "Billing > Invoices > Download"},
    {"kind": "faq", "external_id": "refund", "title": "Ask for a refund",
     "body": "Write to billing within 30 days of the charge"},
]  # fmt: skip


@dataclass
class Scenario:
    tenant: str
    shown: dict[str, list[int]]  # impression label -> item ids shown, best first
    impressions: dict[str, str]


def _backdate(ll: LearnLoop, tenant: str, impression_id: str, by: timedelta) -> None:
    with ll.db.connection() as conn:
        conn.execute(
            "UPDATE impressions SET created_at = created_at - %(by)s"
            " WHERE tenant_id = %(t)s AND impression_id = %(i)s",
            {"by": by, "t": tenant, "i": impression_id},
        )


@pytest.fixture(scope="module")
def scenario(ll: LearnLoop) -> Iterator[Scenario]:
    """Five impressions of one tenant: A chosen first and solved, B chosen second, C shown
    and left, D dismissed (all two hours ago), E a click eight days ago; three ratings."""
    tenant = ll.tenants.create(f"t-{uuid.uuid4().hex[:12]}").tenant_id
    ll.items.put_many(tenant, FAQS)
    ll.recommender.set_threshold(tenant, 0.0)
    shown, ids = {}, {}
    for label in "ABCDE":
        answer = ll.recommender.recommend(tenant, {"query": "a question about my account"})
        ids[label] = str(answer.impression_id)
        shown[label] = [r.item.item_id for r in answer.recommendations]
        assert len(shown[label]) >= 2, answer.strategy
    for label in "ABCD":
        _backdate(ll, tenant, ids[label], timedelta(hours=2))
    _backdate(ll, tenant, ids["E"], timedelta(days=8))
    now = datetime.now(UTC)
    soon = (now - timedelta(hours=2) + timedelta(minutes=5)).isoformat()  # within the windows
    eight_days_ago = (now - timedelta(days=8) + timedelta(minutes=1)).isoformat()
    a, b, d, e = ids["A"], ids["B"], ids["D"], ids["E"]
    results = ll.events.record(tenant, [
        {"type": "viewed", "impression_id": a, "occurred_at": soon},
        {"type": "clicked", "impression_id": a, "item_id": shown["A"][0], "occurred_at": soon},
        {"type": "executed", "impression_id": a, "item_id": shown["A"][0], "occurred_at": soon},
        {"type": "succeeded", "impression_id": a, "item_id": shown["A"][0], "occurred_at": soon},
        {"type": "viewed", "impression_id": b, "occurred_at": soon},
        {"type": "clicked", "impression_id": b, "item_id": shown["B"][1], "occurred_at": soon},
        {"type": "dismissed", "impression_id": d, "item_id": shown["D"][0], "occurred_at": soon},
        {"type": "clicked", "impression_id": e, "item_id": shown["E"][0],
         "occurred_at": eight_days_ago},
    ])  # fmt: skip
    assert all(r.status == "stored" for r in results), results
    for value in ("up", "up", "down"):
        ll.feedback.add(tenant, {"impression_id": a, "kind": "thumbs", "value": value})
    ll.analytics.refresh(tenant)
    yield Scenario(tenant, shown, ids)


def test_totals_count_clicks_first_choice_abandon_and_helpfulness(
    ll: LearnLoop, scenario: Scenario
) -> None:
    m = ll.analytics.metrics(scenario.tenant, {"since": date.today() - timedelta(days=10)})
    c, r = m.totals.counts, m.totals.rates
    assert (c.impressions, c.recommended, c.clicked, c.first_choice) == (5, 5, 3, 2)
    assert (c.executed, c.succeeded, c.dismissed, c.abandoned) == (1, 1, 1, 2)
    assert r.first_choice_accuracy == pytest.approx(2 / 3)
    assert r.mean_reciprocal_rank == pytest.approx((1 + 0.5 + 1) / 3)
    assert r.click_through_rate == pytest.approx(3 / 5)
    assert r.success_rate == pytest.approx(1 / 5)
    assert r.abandon_rate == pytest.approx(2 / 5)
    assert r.mean_time_to_decision_ms is not None and r.mean_time_to_decision_ms > 60_000
    assert m.helpfulness_rate == pytest.approx(2 / 3) and m.feedback == 3
    assert len(m.series) >= 2  # eight days ago, and today (or yesterday)
    assert sum(p.counts.impressions for p in m.series) == 5


def test_weekly_series_starts_on_mondays_and_filters_narrow_it(
    ll: LearnLoop, scenario: Scenario
) -> None:
    weekly = ll.analytics.metrics(scenario.tenant, {}, "week")
    assert all(p.period.weekday() == 0 for p in weekly.series)
    assert sum(p.counts.clicked for p in weekly.series) == 3
    today = datetime.now(UTC).date()
    recent = ll.analytics.metrics(scenario.tenant, {"since": today - timedelta(days=2)})
    assert recent.totals.counts.impressions == 4
    assert ll.analytics.metrics(scenario.tenant, {"policy": "nonesuch"}).series == []
    with pytest.raises(InvalidInput, match="before since"):
        ll.analytics.metrics(scenario.tenant, {"since": today, "until": today - timedelta(1)})


def test_funnel_steps_conversions_and_times(ll: LearnLoop, scenario: Scenario) -> None:
    funnel = ll.analytics.funnel(scenario.tenant)
    steps = {s.step: s for s in funnel.steps}
    assert funnel.shown == 5
    assert [s.impressions for s in funnel.steps] == [2, 3, 1, 1]
    assert steps["executed"].conversion_from_previous == pytest.approx(1 / 3)
    assert steps["clicked"].mean_ms_from_previous is not None
    assert steps["viewed"].mean_ms_from_previous is None
    assert funnel.conversion_window_seconds == 7 * 86400


def test_items_top_and_bottom_and_strategy_mix(ll: LearnLoop, scenario: Scenario) -> None:
    ranking = ll.analytics.top_items(scenario.tenant, min_shown=1)
    assert ranking.top[0].clicked >= ranking.bottom[0].clicked
    assert sum(s.clicked for s in ranking.top) == 3  # the clicks that named an item
    first = scenario.shown["A"][0]
    solved = next(s for s in ranking.top if s.item_id == first)
    assert solved.succeeded >= 1 and solved.shown >= 1
    policies = ll.analytics.policies(scenario.tenant)
    assert [p.impressions for p in policies] == [5]
    assert policies[0].first_choice_accuracy == pytest.approx(2 / 3)
    mix = ll.analytics.strategies(scenario.tenant)
    assert sum(s.impressions for s in mix) == 5
    assert sum(s.share for s in mix) == pytest.approx(1.0)


def test_refresh_recomputes_only_what_changed_and_is_idempotent(
    ll: LearnLoop, scenario: Scenario
) -> None:
    tenant = scenario.tenant
    before = ll.analytics.metrics(tenant).totals.counts
    again = ll.analytics.refresh(tenant)
    assert again.refreshed and again.since is not None
    assert ll.analytics.metrics(tenant).totals.counts == before
    c = scenario.impressions["C"]
    ll.events.record(tenant, [{"type": "clicked", "impression_id": c}])
    result = ll.analytics.refresh(tenant)
    assert result.since is not None and result.since <= datetime.now(UTC).date()
    after = ll.analytics.metrics(tenant).totals.counts
    assert after.clicked == before.clicked + 1
    assert after.abandoned == before.abandoned  # clicked after the abandon window: still left
    full = ll.analytics.refresh(tenant, full=True)
    assert full.since == date(1970, 1, 1)
    assert ll.analytics.metrics(tenant).totals.counts == after


def test_windows_decide_what_counts_and_rebuild(ll: LearnLoop, scenario: Scenario) -> None:
    tenant = scenario.tenant
    ll.analytics.set_windows(tenant, abandon_seconds=10 * 3600, conversion_seconds=86400)
    try:
        counts = ll.analytics.metrics(tenant).totals.counts
        assert counts.abandoned == 0  # two hours old: their ten hours are not over
        assert counts.clicked < 5 and counts.impressions == 5
        assert ll.analytics.funnel(tenant).conversion_window_seconds == 86400
    finally:
        ll.analytics.set_windows(tenant, abandon_seconds=1800, conversion_seconds=7 * 86400)
    assert ll.analytics.metrics(tenant).totals.counts.abandoned == 2
    with pytest.raises(NotFound, match="no tenant"):
        ll.analytics.refresh("no-such-tenant")


def test_experiment_variants_against_control(ll: LearnLoop, scenario: Scenario) -> None:
    tenant = scenario.tenant
    with ll.db.connection() as conn:  # as a running experiment would have logged them
        for label in "ABCDE":
            conn.execute(
                "UPDATE impressions SET experiment = 'exp', variant = %(v)s"
                " WHERE tenant_id = %(t)s AND impression_id = %(i)s",
                {"v": "control" if label in "AB" else "b", "t": tenant,
                 "i": scenario.impressions[label]},
            )  # fmt: skip
    ll.analytics.refresh(tenant, full=True)
    [result] = ll.analytics.experiments(tenant)
    assert (result.experiment, result.control) == ("exp", "control")
    by = {v.variant: v for v in result.variants}
    assert (by["control"].impressions, by["b"].impressions) == (2, 3)
    assert by["control"].success_rate == 0.5 and by["b"].success_rate == 0.0
    assert by["b"].lift_vs_control == pytest.approx(-0.5)
    assert by["b"].p_value is not None and 0 < by["b"].p_value < 1
    assert by["control"].lift_vs_control is None
    only_b = ll.analytics.metrics(tenant, {"experiment": "exp", "variant": "b"})
    assert only_b.totals.counts.impressions == 3


def test_another_tenant_sees_nothing(ll: LearnLoop, scenario: Scenario, tenant: str) -> None:
    assert ll.analytics.metrics(tenant).totals.counts.impressions == 0
    assert ll.analytics.top_items(tenant, min_shown=0).top == []


def _runs(ll: LearnLoop, tenant: str, tool: str, outcomes: list[bool], start: datetime) -> None:
    for n, success in enumerate(outcomes):
        ll.tracking.execution(tenant, {
            "goal": f"use {tool}", "success": success, "duration_ms": 100.0 * (n + 1),
            "started_at": (start + timedelta(hours=n)).isoformat(),
            "tool_calls": [{"tool": tool, "success": success, "duration_ms": 100.0 * (n + 1)}],
        })  # fmt: skip


def test_tools_success_durations_first_last_and_performers(ll: LearnLoop, tenant: str) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    _runs(ll, tenant, "restart_service", [True] * 8 + [False] * 2, start)
    _runs(ll, tenant, "query_metrics", [True] * 2 + [False] * 8, start)
    report = ll.analytics.tools(tenant, min_runs=5)
    by = {t.tool: t for t in report.tools}
    restart = by["restart_service"]
    assert (restart.executions, restart.successes) == (10, 8)
    assert restart.success_rate == pytest.approx(0.8)
    assert restart.mean_duration_ms == pytest.approx(550.0)
    assert restart.p95_duration_ms == pytest.approx(1000, rel=0.2)
    assert restart.first_used_at == start and restart.last_used_at == start + timedelta(hours=9)
    assert report.top == ["restart_service"] and report.low == ["query_metrics"]


def test_percentile_of_a_histogram_is_within_a_bucket() -> None:
    durations = [float(d) for d in range(1, 1001)]
    hist: dict[int, int] = {}
    for d in durations:
        hist[bucket_of(d)] = hist.get(bucket_of(d), 0) + 1
    assert percentile(hist, 0.95) == pytest.approx(950, rel=0.1)
    assert percentile({}, 0.95) == 0.0


def test_playbooks_by_segment_with_metric_changes(ll: LearnLoop, tenant: str) -> None:
    ll.items.put_many(tenant, [
        {"kind": "account", "external_id": "acme", "title": "Acme", "attrs": {"segment": "smb"}},
        {"kind": "account", "external_id": "big", "title": "Big Co",
         "attrs": {"segment": "enterprise"}},
    ])  # fmt: skip
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def report(account: str, playbook: str, status: str, days: int, before: float) -> None:
        ll.tracking.report(tenant, {
            "account": account, "playbook": playbook, "status": status, "steps_total": 3,
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(days=days)).isoformat(),
            "outcomes": [{"metric": "nps", "before": before, "after": before + 10}],
        })  # fmt: skip

    report("acme", "onboarding", "completed", 10, 20)
    report("Acme", "onboarding", "completed", 20, 40)
    report("acme", "churn save", "failed", 5, 10)
    report("acme", "churn save", "completed", 5, 10)
    report("big", "churn save", "completed", 30, 50)
    report("big", "churn save", "completed", 30, 50)
    out = ll.analytics.playbooks(tenant, {"since": date(2025, 1, 1)})
    by = {(p.playbook, p.segment): p for p in out.playbooks}
    onboarding = by[("onboarding", "smb")]
    assert (onboarding.reports, onboarding.completed, onboarding.accounts) == (2, 2, 2)
    assert onboarding.success_rate == 1.0 and onboarding.mean_days_to_outcome == 15.0
    nps = onboarding.metrics[0]
    assert (nps.metric, nps.mean_before, nps.mean_after, nps.mean_change) == ("nps", 30, 40, 10)
    assert nps.mean_relative_change == pytest.approx((10 / 20 + 10 / 40) / 2)
    assert by[("churn save", "smb")].success_rate == 0.5
    assert out.best_by_segment == {"enterprise": "churn save", "smb": "onboarding"}


def test_lifecycle_report_and_apply(ll: LearnLoop, tenant: str) -> None:
    (weak, _), (strong, _), (stale, _) = ll.items.put_many(tenant, [
        {"kind": "tool", "external_id": "tool-q", "title": "query_metrics: read metrics",
         "attrs": {"tool_name": "query_metrics"}},
        {"kind": "tool", "external_id": "restart_service", "title": "restart a service",
         "status": "draft"},
        {"kind": "runbook", "external_id": "rb-old", "title": "An old runbook"},
    ])  # fmt: skip
    start = datetime.now(UTC) - timedelta(days=2)
    _runs(ll, tenant, "query_metrics", [True] * 2 + [False] * 8, start)
    _runs(ll, tenant, "restart_service", [True] * 9 + [False], start)
    rules = {"min_runs": 10, "deprecate_below": 0.5, "promote_above": 0.8, "unused_days": 30}
    flags = {f.item_id: f for f in ll.analytics.lifecycle(tenant, rules)}
    assert flags[weak.item_id].action == "deprecate" and flags[weak.item_id].runs == 10
    assert flags[strong.item_id].action == "promote"
    assert stale.item_id not in flags  # made today: not unused for 30 days yet
    later = datetime.now(UTC) + timedelta(days=31)
    flags = {f.item_id: f for f in ll.analytics.lifecycle(tenant, rules, now=later)}
    assert flags[stale.item_id].action == "archive"
    applied = ll.analytics.apply_lifecycle(tenant, rules)
    assert {f.item_id for f in applied} == {weak.item_id, strong.item_id}
    assert ll.items.get(tenant, weak.item_id).status == "deprecated"
    assert ll.items.get(tenant, strong.item_id).status == "active"
    assert ll.analytics.lifecycle(tenant, rules) == []
    with pytest.raises(InvalidInput, match="promote_above"):
        ll.analytics.lifecycle(tenant, {"promote_above": 0.2, "deprecate_below": 0.5})


def test_http_metrics_funnel_tools_lifecycle(api: TestClient, scenario: Scenario) -> None:
    metrics = api.get("/v1/analytics/metrics", params={"period": "week"})
    assert metrics.status_code == 200, metrics.text
    assert metrics.json()["period"] == "week"
    for path in ("funnel", "strategies", "policies", "experiments", "items", "tools", "playbooks"):
        answer = api.get(f"/v1/analytics/{path}")
        assert answer.status_code == 200, (path, answer.text)
    bad = api.get("/v1/analytics/metrics", params={"since": "2026-02-01", "until": "2026-01-01"})
    assert bad.status_code == 422 and "before since" in bad.json()["error"]["message"]
    assert api.get("/v1/analytics/metrics", params={"period": "month"}).status_code == 422
    report = api.post("/v1/analytics/lifecycle/report", json={"min_runs": 3})
    assert report.status_code == 200 and report.json() == []
    refused = api.post("/v1/analytics/lifecycle/apply", json={"min_runs": 0})
    assert refused.status_code == 422
    refreshed = api.post("/v1/analytics/refresh")
    assert refreshed.status_code == 200 and refreshed.json()["refreshed"] is True


def test_http_needs_a_key(app_client: TestClient) -> None:
    answer = app_client.get("/v1/analytics/metrics", headers={"Authorization": ""})
    assert answer.status_code == 401


def test_cli_metrics_tools_and_lifecycle(database_url: str, scenario: Scenario) -> None:
    runner = CliRunner()
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": scenario.tenant, "COLUMNS": "100"}

    def run(*args: str) -> str:
        result = runner.invoke(app, ["analytics", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.stdout

    data: dict[str, Any] = json.loads(run("metrics", "--json", "--period", "week"))
    assert data["totals"]["counts"]["impressions"] == 5
    table = run("metrics", "--since", (date.today() - timedelta(days=10)).isoformat())
    assert "first-choice accuracy" in table and "funnel" in table
    assert "impressions" in run("items")
    assert json.loads(run("tools", "--json"))["tools"] == []
    assert json.loads(run("lifecycle", "--json")) == []
    assert "nothing to apply" in run("lifecycle-apply")
    assert "refreshed" in run("refresh", "--full")


def test_imported_accounts_give_reports_their_segment(ll: LearnLoop, tenant: str) -> None:
    data = b"account_id,account_name,segment\nzen-1,Zenith Ltd,mid-market\n"
    report = ll.imports.import_file(tenant, data, "accounts.csv")
    assert report.counts.accounts == 1
    ll.tracking.report(tenant, {
        "account": "zen-1", "playbook": "renewal", "status": "completed", "steps_total": 2,
        "started_at": "2026-02-01T00:00:00+00:00", "ended_at": "2026-02-03T00:00:00+00:00",
    })  # fmt: skip
    out = ll.analytics.playbooks(tenant, {"since": date(2025, 1, 1)})
    assert [(p.playbook, p.segment) for p in out.playbooks] == [("renewal", "mid-market")]


def test_a_read_that_finds_a_refresh_running_is_served_by_it(ll: LearnLoop, tenant: str) -> None:
    """The dashboard's panels load at once: the ones that lose the refresh lock wait for
    the refresh that holds it and read what it wrote, not the rollups from before."""
    import threading

    from learnloop.analytics import Analytics

    analytics = Analytics(ll.db, ll.items, max_staleness=0)
    first = analytics.refresh(tenant)
    assert first.refreshed
    key = "SELECT pg_advisory_xact_lock(hashtext('learnloop.analytics'), hashtext(%(t)s))"
    results: dict[str, Any] = {}
    with ll.db.transaction() as running:  # a refresh in progress, holding the lock
        running.execute(key, {"t": tenant})
        worker = threading.Thread(
            target=lambda: results.update(worker=analytics.refresh(tenant))
        )  # the worker's refresh skips the tenant at once
        worker.start()
        worker.join(10)
        assert results["worker"].refreshed is False and results["worker"].refreshed_at is None
        reader = threading.Thread(
            target=lambda: results.update(read=analytics.refresh(tenant, wait=True))
        )
        reader.start()
        reader.join(1.0)
        assert reader.is_alive()  # waiting for the running refresh, not reading old rollups
        running.execute(
            "UPDATE analytics_state SET refreshed_at = now() + interval '1 second'"
            " WHERE tenant_id = %(t)s",
            {"t": tenant},
        )
    reader.join(10)
    assert not reader.is_alive()
    served = results["read"]
    assert served.refreshed is False  # it did not refresh a second time, it read the new one
    assert served.refreshed_at is not None and served.refreshed_at > first.refreshed_at

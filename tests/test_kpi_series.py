"""KPI time series: dated values upserted by (account, KPI, time) through the ordinary import
and the API, what an upsert replaced kept, the data events, health scores over time, trends
in the context block, and playbook effects as before/after windows on the series."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from learnloop import LearnLoop
from learnloop.errors import InvalidInput, NotFound

JAN = (
    "account_id,account,kpi,value,target,date\n"
    "acme,Acme Corp,Churn rate,6.0,,2026-01-01\n"
    "acme,Acme Corp,NPS,30,60,2026-01-01\n"
    "acme,Acme Corp,Churn rate,5.5,,2026-01-15\n"
    "acme,Acme Corp,NPS,33,60,2026-01-15\n"
)
FEB = (
    "account_id,account,kpi,value,target,date\n"
    "acme,Acme Corp,NPS,36,60,2026-01-15\n"  # a corrected figure for a stored point
    "acme,Acme Corp,Churn rate,4.0,,2026-02-20\n"
    "acme,Acme Corp,NPS,48,60,2026-02-20\n"
    "acme,Acme Corp,NPS,54,60,2026-03-01\n"
)


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def _import(ll: LearnLoop, tenant: str, text: str, name: str = "kpis.csv") -> int:
    return ll.imports.import_file(tenant, text.encode(), name).counts.kpi_values


def test_points_upsert_by_account_kpi_and_time(ll: LearnLoop, tenant: str) -> None:
    assert _import(ll, tenant, JAN) == 4
    assert _import(ll, tenant, JAN) == 0  # the same file again changes nothing
    assert _import(ll, tenant, FEB) == 4  # one point updated, three added
    [churn, nps] = ll.accounts.series(tenant, "acme")
    assert [(p.recorded_at.date().isoformat(), p.value) for p in nps.points] == [
        ("2026-01-01", 30),
        ("2026-01-15", 36),
        ("2026-02-20", 48),
        ("2026-03-01", 54),
    ]
    assert [p.value for p in churn.points] == [6.0, 5.5, 4.0]
    [old] = ll.accounts.revisions(tenant, "acme")  # the replaced figure is kept
    assert (old.kpi, old.value, old.recorded_at) == ("NPS", 33, _at("2026-01-15"))
    assert nps.trend is not None and churn.trend is not None
    assert (nps.trend.direction, nps.trend.better, nps.trend.points) == ("up", True, 4)
    assert (churn.trend.direction, churn.trend.better) == ("down", True)  # lower is better
    assert nps.trend.slope_per_day == pytest.approx(0.4, abs=0.05)


def test_data_events_say_what_each_write_changed(ll: LearnLoop, tenant: str) -> None:
    _import(ll, tenant, JAN)
    _import(ll, tenant, FEB)
    events = ll.accounts.events(tenant, account_id="acme")
    kinds = [e.type for e in reversed(events)]
    assert kinds == [
        "temporal_data_added",
        "health_scores_updated",
        "kpi_updated",
        "temporal_data_added",
        "health_scores_updated",
    ]
    updated = next(e for e in events if e.type == "kpi_updated")
    assert updated.payload["kpis"] == ["NPS"] and updated.payload["values"] == 1
    added = events[1]
    assert added.type == "temporal_data_added" and added.payload["values"] == 3
    assert added.payload["from"].startswith("2026-02-20")
    assert ll.accounts.events(tenant, type="kpi_updated")[0].import_id == updated.import_id
    assert ll.accounts.events(f"{tenant}-none") == []


def test_health_score_at_every_point_of_the_series(ll: LearnLoop, tenant: str) -> None:
    _import(ll, tenant, JAN)
    _import(ll, tenant, FEB)
    history = ll.accounts.health_history(tenant, "acme")
    assert [h.as_of.date().isoformat() for h in history] == [
        "2026-01-01",
        "2026-01-15",
        "2026-02-20",
        "2026-03-01",
    ]
    # churn (6, 5.5, 4: a percentage on 0..100) and NPS against its target of 60
    expected = [(6 + 50) / 2, (5.5 + 60) / 2, (4 + 80) / 2, (4 + 90) / 2]
    assert [h.score for h in history] == pytest.approx(expected)
    assert ll.accounts.get(tenant, "acme").health_score == pytest.approx(expected[-1])
    since = ll.accounts.health_history(tenant, "acme", since=_at("2026-02-01"))
    assert len(since) == 2


def test_values_sent_as_they_happen_go_through_the_same_upsert(ll: LearnLoop, tenant: str) -> None:
    point = {"kpi": "Active users", "value": 120, "recorded_at": "2026-04-01T09:00:00Z"}
    report = ll.imports.record_kpis(tenant, "globex", {"values": [point]})
    assert (report.format, report.counts.kpi_values) == ("json", 1)
    again = ll.imports.record_kpis(tenant, "globex", {"values": [point | {"value": 125}]})
    assert again.counts.kpi_values == 1
    [series] = ll.accounts.series(tenant, "globex")
    assert [p.value for p in series.points] == [125]
    # 120 users cannot be put on 0..100: no health score, so no health event
    assert [e.type for e in ll.accounts.events(tenant, account_id="globex")] == [
        "kpi_updated",
        "temporal_data_added",
    ]
    with pytest.raises(InvalidInput, match="value"):
        ll.imports.record_kpis(tenant, "globex", {"values": [{"kpi": "x", "value": "many"}]})
    with pytest.raises(InvalidInput, match="kpi"):
        ll.imports.record_kpis(tenant, "globex", {"values": [{"kpi": " ", "value": 1}]})


def test_trends_in_the_context_block(ll: LearnLoop, tenant: str) -> None:
    _import(ll, tenant, JAN)
    _import(ll, tenant, FEB)
    block = ll.context.build(
        tenant, {"query": "how is the account doing", "account": "acme", "k": 1}
    )
    [part] = [p for p in block.parts if p.citation.kind == "trends"]
    assert part.text.startswith("[trends acme] KPI trends of acme over the last 90 days:")
    assert (
        "NPS: 30 -> 54 (+80.0%) from 2026-01-01 to 2026-03-01, up (better), 4 points" in part.text
    )
    assert "Churn rate: 6 -> 4 (-33.3%)" in part.text and "down (better)" in part.text
    assert "Health score: 28 -> 47" in part.text
    assert part.text in block.text
    short = ll.context.build(tenant, {"query": "q", "account": "Acme Corp", "trend_days": 15})
    [recent] = [p for p in short.parts if p.citation.kind == "trends"]
    assert "NPS: 48 -> 54" in recent.text  # the last 15 days before the newest value
    none = ll.context.build(tenant, {"query": "q", "account": "acme", "trend_days": 0})
    assert not [p for p in none.parts if p.citation.kind == "trends"]


def test_playbook_effects_as_before_and_after_windows(ll: LearnLoop, tenant: str) -> None:
    _import(ll, tenant, JAN)
    _import(ll, tenant, FEB)
    ll.tracking.report(
        tenant,
        {
            "account": "acme",
            "playbook": "Churn rescue",
            "status": "completed",
            "steps_total": 3,
            "started_at": "2026-01-20T00:00:00Z",
            "ended_at": "2026-02-10T00:00:00Z",
        },
    )
    ll.tracking.report(
        tenant,
        {
            "account": "Acme Corp",
            "playbook": "Kickoff",
            "status": "completed",
            "steps_total": 1,
            "started_at": "2025-06-01T00:00:00Z",
            "ended_at": "2025-06-02T00:00:00Z",
        },
    )
    report = ll.analytics.kpi_effects(tenant, window_days=30)
    effects = {(e.playbook, e.kpi): e for e in report.effects}
    assert set(effects) == {("Churn rescue", "Churn rate"), ("Churn rescue", "NPS")}
    churn = effects[("Churn rescue", "Churn rate")]  # before: 6 and 5.5; after: 4
    assert (churn.mean_before, churn.mean_after, churn.improved) == (5.75, 4.0, 1)
    assert churn.lower_is_better and churn.mean_change == pytest.approx(-1.75)
    nps = effects[("Churn rescue", "NPS")]  # before: 30 and 36; after: 48 and 54
    assert (nps.mean_before, nps.mean_after, nps.reports) == (33.0, 51.0, 1)
    narrow = ll.analytics.kpi_effects(tenant, window_days=10)
    assert {(e.kpi, e.mean_before) for e in narrow.effects} == {("Churn rate", 5.5), ("NPS", 36.0)}
    with pytest.raises(InvalidInput, match="window_days"):
        ll.analytics.kpi_effects(tenant, window_days=0)


def test_series_over_http_and_tenants_apart(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    sent = api.post(
        "/v1/accounts/initech/kpis",
        json={
            "values": [
                {"kpi": "Tickets", "value": 40, "recorded_at": "2026-05-01"},
                {"kpi": "Tickets", "value": 25, "recorded_at": "2026-05-08"},
            ]
        },
    )
    assert sent.status_code == 201 and sent.json()["counts"]["kpi_values"] == 2
    [series] = api.get("/v1/accounts/initech/kpis/series").json()
    assert series["trend"]["direction"] == "down" and series["trend"]["better"] is True
    assert len(api.get("/v1/accounts/initech/health").json()) == 2
    events = api.get("/v1/data-events", params={"type": "temporal_data_added"}).json()
    assert [e["account_id"] for e in events] == ["initech"]
    assert api.get("/v1/accounts/initech/kpis/revisions").json() == []
    effects = api.get("/v1/analytics/playbooks/kpi-effects", params={"window_days": 7})
    assert effects.status_code == 200 and effects.json()["effects"] == []
    bad = api.post("/v1/accounts/initech/kpis", json={"values": [{"kpi": "Tickets"}]})
    assert bad.status_code == 422 and "value" in bad.text
    assert api.get("/v1/data-events", params={"type": "clicked"}).status_code == 422
    other = ll.tenants.create(f"{tenant}-b").tenant_id
    assert ll.accounts.events(other) == []
    with pytest.raises(NotFound, match="no account 'initech'"):
        ll.accounts.series(other, "initech")

"""One impossible number already stored never breaks the analytics reads (issue 19): the input
refuses it now, but a row written by SQL or by an older version must still read."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from learnloop.service import LearnLoop
from learnloop.validation import MAX_DURATION_MS

HUGE = 1.7e308


def _call(ll: LearnLoop, tenant: str, tool: str, hours_ago: int) -> None:
    started = datetime.now(UTC) - timedelta(hours=hours_ago)
    ll.tracking.execution(tenant, {
        "goal": f"use {tool}", "success": True, "duration_ms": 100.0,
        "started_at": started.isoformat(),
        "tool_calls": [{"tool": tool, "success": True, "duration_ms": 100.0}],
    })  # fmt: skip


def test_tool_durations_stored_beyond_any_bound_still_read(
    api: TestClient, ll: LearnLoop, tenant: str
) -> None:
    for hours in (1, 2, 3):
        _call(ll, tenant, "restart_service", hours)
    _call(ll, tenant, "query_metrics", 1)
    with ll.db.transaction() as conn:  # what the API refuses, stored anyway
        conn.execute(
            "UPDATE tool_calls SET duration_ms = %s WHERE tenant_id = %s AND tool = %s",
            (HUGE, tenant, "restart_service"),
        )
    ll.analytics.refresh(tenant, full=True)
    with ll.db.transaction() as conn:  # a rollup row an older version could have written
        conn.execute(
            "UPDATE tool_daily SET duration_ms_sum = %s, duration_hist = '{\"4092\": 1}'"
            " WHERE tenant_id = %s AND tool = %s",
            (HUGE, tenant, "query_metrics"),
        )

    answer = api.get("/v1/analytics/tools")
    assert answer.status_code == 200, answer.text
    by = {t["tool"]: t for t in answer.json()["tools"]}
    assert by["restart_service"]["executions"] == 3
    for tool in by.values():
        for field in ("mean_duration_ms", "p95_duration_ms"):
            assert math.isfinite(tool[field]) and tool[field] <= MAX_DURATION_MS * 1.2, tool
    assert api.get("/v1/analytics/metrics").status_code == 200
    with ll.db.connection() as conn:  # the old rollup row was read as it is, not rebuilt
        row = conn.execute(
            "SELECT duration_ms_sum FROM tool_daily WHERE tenant_id = %s AND tool = %s",
            (tenant, "query_metrics"),
        ).fetchone()
    assert row is not None and row["duration_ms_sum"] == HUGE


def test_playbook_outcomes_stored_beyond_any_bound_are_left_out(
    api: TestClient, ll: LearnLoop, tenant: str
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for before in (20.0, 40.0):
        ll.tracking.report(tenant, {
            "account": "acme", "playbook": "onboarding", "status": "completed",
            "steps_total": 3, "started_at": start.isoformat(),
            "ended_at": (start + timedelta(days=2)).isoformat(),
            "outcomes": [{"metric": "nps", "before": before, "after": before + 10}],
        })  # fmt: skip
    with ll.db.transaction() as conn:  # two more, beyond what the API accepts
        conn.execute(
            "UPDATE reports SET outcomes = outcomes || %s::jsonb WHERE tenant_id = %s",
            (f'[{{"metric": "nps", "before": 1e-320, "after": {HUGE}}}, {{"before": 1}}]', tenant),
        )
    answer = api.get("/v1/analytics/playbooks", params={"since": "2025-01-01"})
    assert answer.status_code == 200, answer.text
    nps = answer.json()["playbooks"][0]["metrics"][0]
    assert (nps["reports"], nps["mean_before"], nps["mean_after"]) == (2, 30, 40)

"""Where events happen: page_context and referrer on events (the API, the SDK, the
beacon), stored and validated, and the funnel by referrer through the library, the HTTP
API and the command line. The widget's own setting of both runs in tests/test_widget.py."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from learnloop import Client
from learnloop.cli.main import app
from learnloop.service import LearnLoop

FAQS = [
    {"kind": "faq", "external_id": "pw", "title": "Reset a password",
     "body": "Settings > Security > Reset password"},
    {"kind": "faq", "external_id": "inv", "title": "Download an invoice",
     "body": "Billing > Invoices > Download"},
]  # fmt: skip


def _impressions(ll: LearnLoop, tenant: str, n: int) -> list[tuple[str, int]]:
    ll.items.put_many(tenant, FAQS)
    ll.recommender.set_threshold(tenant, 0.0)
    found = []
    for _ in range(n):
        answer = ll.recommender.recommend(tenant, {"query": "a question about my account"})
        found.append((str(answer.impression_id), answer.recommendations[0].item.item_id))
    return found


def _stored(ll: LearnLoop, tenant: str) -> list[dict[str, Any]]:
    with ll.db.connection() as conn:
        return conn.execute(
            "SELECT type, page_context, referrer FROM events WHERE tenant_id = %s"
            " ORDER BY event_id",
            (tenant,),
        ).fetchall()


def test_events_keep_page_context_and_referrer_and_funnels_group_by_it(
    ll: LearnLoop, tenant: str, database_url: str
) -> None:
    (a, ia), (b, _), (c, ic), (d, _) = _impressions(ll, tenant, 4)
    page = {"path": "/alerts/42", "title": "Disk almost full"}
    results = ll.events.record(tenant, [
        {"type": "viewed", "impression_id": a, "referrer": "ai_chat", "page_context": page},
        {"type": "clicked", "impression_id": a, "item_id": ia, "referrer": "search"},
        {"type": "succeeded", "impression_id": a, "item_id": ia},
        {"type": "viewed", "impression_id": b, "referrer": "ai_chat"},
        {"type": "clicked", "impression_id": c, "item_id": ic, "referrer": "alert_page"},
        {"type": "executed", "impression_id": c, "item_id": ic, "referrer": "alert_page"},
        {"type": "viewed", "impression_id": d},
    ])  # fmt: skip
    assert [r.status for r in results] == ["stored"] * 7
    stored = _stored(ll, tenant)
    assert stored[0] == {"type": "viewed", "page_context": page, "referrer": "ai_chat"}
    assert stored[2] == {"type": "succeeded", "page_context": None, "referrer": None}

    found = ll.analytics.referrers(tenant)
    by = {r.referrer: r for r in found.referrers}
    # a's first referrer is ai_chat (its later 'search' click still counts for ai_chat)
    assert {k: v.impressions for k, v in by.items()} == {"ai_chat": 2, "alert_page": 1, "": 1}
    chat = by["ai_chat"]
    assert [(s.step, s.impressions) for s in chat.steps] == [
        ("viewed", 2),
        ("clicked", 1),
        ("executed", 0),
        ("succeeded", 1),
    ]
    assert chat.steps[1].conversion_from_previous == 0.5
    assert chat.success_rate == 0.5
    assert [s.impressions for s in by["alert_page"].steps] == [0, 1, 1, 0]
    assert found.referrers[0].referrer == "ai_chat"  # most impressions first

    runner = CliRunner()
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant, "COLUMNS": "120"}
    shown = runner.invoke(app, ["analytics", "referrers"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "ai_chat" in shown.output and "alert_page" in shown.output
    assert "(none)" in shown.output
    as_json = runner.invoke(app, ["analytics", "referrers", "--json"], env=env)
    assert json.loads(as_json.output)["referrers"][0]["referrer"] == "ai_chat"


def test_event_context_over_http_and_the_sdk_with_clear_errors(
    ll: LearnLoop, tenant: str, api: TestClient
) -> None:
    (a, ia), (b, _) = _impressions(ll, tenant, 2)
    sent = api.post("/v1/events", json={"events": [
        {"type": "clicked", "impression_id": a, "item_id": ia, "referrer": "search",
         "page_context": {"path": "/kb"}},
        {"type": "viewed", "impression_id": a, "referrer": "x" * 2049},
        {"type": "viewed", "impression_id": a, "page_context": {"html": "y" * 5000}},
        {"type": "viewed", "impression_id": a, "page_context": "not an object"},
    ]})  # fmt: skip
    assert sent.status_code == 200, sent.text
    results = sent.json()["results"]
    assert results[0]["status"] == "stored"
    assert [r["status"] for r in results[1:]] == ["error"] * 3
    assert "referrer" in results[1]["error"] and "2048" in results[1]["error"]
    assert "page_context" in results[2]["error"] and "4096" in results[2]["error"]
    assert "page_context" in results[3]["error"]

    client = Client.local(ll, tenant)
    client.event("viewed", b, referrer="alert_page", page_context={"path": "/alerts/7"})
    assert _stored(ll, tenant)[-1] == {
        "type": "viewed",
        "page_context": {"path": "/alerts/7"},
        "referrer": "alert_page",
    }
    funnels = api.get("/v1/analytics/funnel/referrers").json()
    assert {r["referrer"]: r["impressions"] for r in funnels["referrers"]} == {
        "search": 1,
        "alert_page": 1,
    }
    assert api.get("/v1/analytics/funnel/referrers", params={"limit": 0}).status_code == 422


def test_beacon_takes_page_context_and_referrer_within_its_bounds(
    ll: LearnLoop, tenant: str, api: TestClient
) -> None:
    ((a, ia),) = _impressions(ll, tenant, 1)
    events = [
        {"type": "viewed", "impression_id": a, "item_id": ia, "referrer": "ai_chat",
         "page_context": {"path": "/chat", "title": "Help"}},
        {"type": "clicked", "impression_id": a, "item_id": ia, "page_context": ["/chat"]},
        {"type": "clicked", "impression_id": a, "item_id": ia,
         "page_context": {"title": "z" * 2000}},
    ]  # fmt: skip
    answer = api.post(  # with a key of this tenant, as a page may send one
        "/v1/beacon",
        content=json.dumps({"events": events}),
        headers={"content-type": "text/plain"},
    ).json()
    assert (answer["stored"], answer["refused"]) == (1, 2), answer
    assert "page_context must be an object" in answer["errors"][0]["error"]
    assert "1024 bytes" in answer["errors"][1]["error"]
    assert _stored(ll, tenant) == [
        {"type": "viewed", "page_context": {"path": "/chat", "title": "Help"},
         "referrer": "ai_chat"}
    ]  # fmt: skip

"""The learning queue over HTTP and on the command line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from learnloop.cli.main import app
from learnloop.proposals import refresh_views
from learnloop.service import LearnLoop


def test_review_and_apply_over_http(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    item, _ = ll.items.put(tenant, {"kind": "faq", "title": "Card delivery", "body": "5 days"})
    made = api.post(
        "/v1/proposals",
        json={"item_id": item.item_id, "body": "3 working days", "confidence": 80, "author": "bo"},
    )
    assert made.status_code == 201, made.text
    proposal_id = made.json()["proposal_id"]
    assert made.json()["title"] == "Card delivery" and made.json()["embedded"] is True

    listed = api.get("/v1/proposals", params={"order": "age"}).json()
    assert [p["proposal_id"] for p in listed] == [proposal_id]
    edited = api.patch(
        f"/v1/proposals/{proposal_id}",
        json={"body": "2-3 working days", "reviewer": "ana", "note": "faster now"},
    )
    assert edited.json()["body"] == "2-3 working days"
    approved = api.post(f"/v1/proposals/{proposal_id}/approve", json={"reviewer": "ana"})
    assert approved.json()["status"] == "approved"
    assert api.post("/v1/proposals/apply").json() == {"applied": 1}
    assert ll.items.get(tenant, item.item_id).body == "2-3 working days"
    rolled = api.post(f"/v1/proposals/{proposal_id}/rollback", json={"reviewer": "ana"})
    assert rolled.json()["status"] == "rolled_back"
    assert ll.items.get(tenant, item.item_id).body == "5 days"
    audit = api.get(f"/v1/proposals/{proposal_id}/audit").json()
    assert [a["action"] for a in audit] == [
        "created",
        "edited",
        "approved",
        "applied",
        "rolled_back",
    ]


def test_bad_requests_get_a_clear_4xx(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    def error(response: Any) -> tuple[int, str, str]:
        body = response.json()["error"]
        return response.status_code, body["code"], body["message"]

    status, code, message = error(api.post("/v1/proposals", json={"body": "x"}))
    assert (status, code) == (422, "invalid_input") and "needs a title" in message
    assert error(api.post("/v1/proposals", json={"item_id": 987654321, "body": "x"})) == (
        404,
        "not_found",
        "item_id: no item 987654321 in this tenant",
    )
    assert error(api.get("/v1/proposals/987654321"))[:2] == (404, "not_found")
    assert error(api.post("/v1/proposals/1/approve", json={}))[:2] == (422, "invalid_input")
    made = api.post("/v1/proposals", json={"title": "Fees", "body": "None"}).json()
    api.post(f"/v1/proposals/{made['proposal_id']}/reject", json={"reviewer": "ana"})
    assert error(
        api.post(f"/v1/proposals/{made['proposal_id']}/approve", json={"reviewer": "ana"})
    )[:2] == (409, "conflict")
    assert api.get("/v1/proposals", params={"status": "bogus"}).status_code == 422


def test_the_duplicate_threshold_over_http(api: TestClient) -> None:
    assert api.get("/v1/proposals/settings").json() == {"duplicate_threshold": 0.85}
    assert api.put("/v1/proposals/settings", json={"duplicate_threshold": 0.9}).json() == {
        "duplicate_threshold": pytest.approx(0.9)
    }
    assert api.put("/v1/proposals/settings", json={"duplicate_threshold": 2}).status_code == 422


def test_learning_metrics_over_http(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    ll.feedback.correct(tenant, {"original_response": "a", "corrected_answer": "b"})
    refresh_views(ll.db)
    rows = api.get("/v1/learning/metrics").json()
    assert [(r["source"], r["status"], r["proposals"]) for r in rows] == [
        ("correction", "pending", 1)
    ]
    [day] = api.get("/v1/learning/responses").json()
    assert day["corrections"] == 1


def test_the_cli_lists_approves_applies_and_rolls_back(
    ll: LearnLoop, tenant: str, database_url: str
) -> None:
    runner = CliRunner()
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant, "COLUMNS": "120"}

    def run(*args: str) -> str:
        result = runner.invoke(app, ["proposals", *args], env=env)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result.stdout

    item, _ = ll.items.put(tenant, {"kind": "faq", "title": "Card fees", "body": "Free."})
    added = json.loads(
        run(
            "add",
            "--item",
            str(item.item_id),
            "--body",
            "First card free.",
            "--author",
            "bo",
            "--json",
        )
    )
    proposal_id = str(added["proposal_id"])
    assert "Card fees" in run("list")
    assert "created by bo" in run("show", proposal_id)
    run("edit", proposal_id, "--body", "The first card is free.", "--reviewer", "ana")
    assert "approved: proposal" in run("approve", proposal_id, "--reviewer", "ana", "--note", "ok")
    assert "applied 1 proposals" in run("apply")
    assert ll.items.get(tenant, item.item_id).body == "The first card is free."
    assert "rolled back" in run("rollback", proposal_id, "--reviewer", "ana")
    assert ll.items.get(tenant, item.item_id).body == "Free."

    other = json.loads(run("add", "--title", "Lost card", "--body", "Freeze it.", "--json"))
    assert "rejected" in run("reject", str(other["proposal_id"]), "--reviewer", "ana")
    assert json.loads(run("list", "--status", "rejected", "--json"))[0]["title"] == "Lost card"
    failed = runner.invoke(app, ["proposals", "add", "--body", "No title."], env=env)
    assert failed.exit_code == 1 and "needs a title" in failed.stderr

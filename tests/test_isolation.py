"""Tenants never meet through the HTTP API: with B's key, every object of A is unknown.

Tenant A gets real data through the API and the services: items, two imports (an accounts
CSV and a KPI CSV with a saved mapping), recommendations with events, feedback and a
correction, proposals in every state, executions with tool calls, reports, learning
settings and an experiment, analytics rollups, context, a stored response, a tool
selection and playbook advice. A fresh tenant B (one per test) then reads, lists, edits
and acts on A's objects, by id and by listing: it gets 404s, empty lists and figures
without A's data, and A's objects stay as they were. Each check of B has A's own view of
the same route beside it, so what B must not see is there to be seen.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from learnloop import LearnLoop
from learnloop.context import ContextService
from learnloop.context.ports import Completion, Message
from learnloop.proposals import refresh_views

SECRET = "Zanzibar"  # a word only A's data holds
QUERY = "Zanzibar discount pricing"
ACCOUNTS_CSV = (
    "account_id,account_name,segment\n"
    "acme-z,Zanzibar Acme,enterprise\n"
    "beta-z,Zanzibar Beta,enterprise\n"
    "gamma-z,Zanzibar Gamma,smb\n"
)
KPI_CSV = (
    "Kennzahl,Wert,Kunde\nNPS,40,Zanzibar Acme\nCSAT,80,Zanzibar Acme\n"
    "NPS,42,Zanzibar Beta\nCSAT,79,Zanzibar Beta\nNPS,10,Zanzibar Gamma\nCSAT,20,Zanzibar Gamma\n"
)
KPI_MAPPING = {"kpi": "Kennzahl", "value": "Wert", "account": "Kunde"}
RULES = {"min_runs": 1, "deprecate_below": 0.5, "promote_above": 0.8, "unused_days": 1}
STATUSES = ("pending", "approved", "applied", "rejected", "rolled_back")


class _Chat:
    """A chat model that answers at once, so A gets a stored response."""

    provider = "stub"
    model = "stub-1"

    def complete(
        self, system: str, messages: Sequence[Message], *, max_tokens: int | None = None
    ) -> Completion:
        return Completion(text=f"{SECRET}: 40% off", provider=self.provider, model=self.model)

    def close(self) -> None:
        pass


@dataclass
class World:
    """Tenant A, its key and the ids of what it made."""

    tenant: str
    headers: dict[str, str]
    ids: dict[str, Any] = field(default_factory=dict)


def _key(ll: LearnLoop, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ll.keys.create(tenant, 'x').key}"}


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.request.url, response.text)
    return response.json()


def _upload(client: TestClient, headers: dict[str, str], name: str, text: str, **form: str) -> Any:
    files = {"file": (name, text.encode(), "text/csv")}
    return client.post("/v1/imports", files=files, data=form, headers=headers)


@pytest.fixture(scope="module")
def world(app_client: TestClient, ll: LearnLoop) -> World:
    a = ll.tenants.create(f"iso-a-{uuid.uuid4().hex[:8]}").tenant_id
    w = World(a, _key(ll, a))
    c, h, ids = app_client, w.headers, w.ids

    def post(path: str, body: Any, status: int = 200) -> Any:
        return _ok(c.post(path, json=body, headers=h), status)

    def item(**body: Any) -> int:
        return int(post("/v1/items", body, 201)["item"]["item_id"])

    ids["faq"] = item(
        kind="faq",
        title="Zanzibar discount for pricing",
        external_id="pricing",
        body="A's secret price list: Zanzibar customers get 40% off.",
    )
    ids["tool"] = item(
        kind="tool",
        title="Rotate the Zanzibar secret",
        external_id="rotate",
        body="Rotates the Zanzibar vault key.",
        attrs={"name": "rotate_secret"},
    )
    ids["playbook"] = item(
        kind="playbook",
        title="Renewal rescue",
        external_id="renewal",
        body="Win back a Zanzibar sponsor.",
    )
    for account in ("acme-z", "beta-z"):  # account items, as the playbook analytics read them
        item(kind="account", title=f"{SECRET} {account}", external_id=account,
             attrs={"segment": "enterprise"})  # fmt: skip
    ids["imports"] = [
        _ok(_upload(c, h, "accounts.csv", ACCOUNTS_CSV), 201)["import_id"],
        _ok(_upload(c, h, "kpis.csv", KPI_CSV, mapping=json.dumps(KPI_MAPPING)), 201)["import_id"],
    ]
    # learning: a shadow policy, outcomes settled at once, and a running experiment
    _ok(c.put("/v1/tenant/settings", json={"confidence_threshold": 0.0}, headers=h))
    _ok(c.patch("/v1/learning", json={"shadow": "bayes", "rewards": {"wait_seconds": 0}},
                headers=h))  # fmt: skip
    variants = [{"name": "control"}, {"name": "treat", "policy": "bayes"}]
    post("/v1/learning/experiments", {"name": "exp-z", "variants": variants}, 201)
    impressions = []
    for n in range(4):
        context = {"user": f"u-{n}", "session": "sess-a", "account": "acme-z",
                   "segment": "enterprise"}  # fmt: skip
        rec = post("/v1/recommend", {"query": QUERY, "context": context, "k": 3})
        first = rec["recommendations"][0]["item"]["item_id"]
        impressions.append(rec["impression_id"])
        for kind in ("viewed", "clicked", "succeeded"):
            post("/v1/events", {"type": kind, "impression_id": rec["impression_id"],
                                "item_id": first})  # fmt: skip
    ids["impressions"] = impressions
    post("/v1/feedback", {"impression_id": impressions[0], "item_id": first, "kind": "thumbs",
                          "value": "down", "reason": "Zanzibar price was wrong"}, 201)  # fmt: skip
    correction = {"impression_id": impressions[1], "original_response": "10% off",
                  "corrected_answer": "Zanzibar customers get 40% off."}  # fmt: skip
    post("/v1/corrections", correction, 201)
    # executions, tool calls, reports
    ids["executions"] = [
        post("/v1/executions", {
            "goal": "rotate the Zanzibar secret", "success": n == 0, "duration_ms": 100 + n,
            "impression_id": impressions[0],
            "tool_calls": [{"tool": "rotate_secret", "success": n == 0, "duration_ms": 90},
                           {"tool": "rotate_secret", "item_id": ids["tool"], "success": False,
                            "duration_ms": 80}],
        }, 201)["execution_id"]
        for n in range(3)
    ]  # fmt: skip
    post("/v1/reports", {"external_id": "r-beta", "account": "beta-z",
                         "playbook": "Renewal rescue", "playbook_item_id": ids["playbook"],
                         "status": "completed", "steps_total": 2, "steps_completed": 2,
                         "executive_summary": "Zanzibar sponsor re-engaged.",
                         "outcomes": [{"metric": "NPS", "before": 30, "after": 42}]})  # fmt: skip
    post("/v1/reports", {"external_id": "r-acme", "account": "acme-z",
                         "playbook": "Onboarding", "status": "in_progress", "steps_total": 3,
                         "executive_summary": "Zanzibar onboarding under way."})  # fmt: skip
    # proposals: one applied, one approved and waiting, one pending duplicate of the faq
    applied = post("/v1/proposals", {"item_id": ids["playbook"], "body": "Call the sponsor."},
                   201)["proposal_id"]  # fmt: skip
    post(f"/v1/proposals/{applied}/approve", {"reviewer": "ana"})
    assert post("/v1/proposals/apply", None)["applied"] >= 1
    approved = post("/v1/proposals", {"item_id": ids["faq"], "body": "Zanzibar: 45% off."},
                    201)["proposal_id"]  # fmt: skip
    post(f"/v1/proposals/{approved}/approve", {"reviewer": "ana"})
    duplicate = post("/v1/proposals", {"title": "Zanzibar discount for pricing", "kind": "faq",
                                       "body": "A's secret price list: Zanzibar customers get "
                                               "40% off."}, 201)  # fmt: skip
    assert (duplicate["duplicate"]["kind"], duplicate["duplicate"]["id"]) == ("item", ids["faq"])
    rejected = post("/v1/proposals", {"title": "Zanzibar fees", "body": "None."}, 201)
    post(f"/v1/proposals/{rejected['proposal_id']}/reject", {"reviewer": "ana"})
    ids["proposals"] = {"applied": applied, "approved": approved,
                        "pending": duplicate["proposal_id"],
                        "rejected": rejected["proposal_id"]}  # fmt: skip
    # context, a stored response, a tool selection
    post("/v1/context", {"query": QUERY, "account": "acme-z", "session": "sess-a"})
    service = ContextService(ll.db, ll.search, ll.recommender, ll.tracking, ll.tokenizer,
                             chat=_Chat())  # fmt: skip
    answered = service.answer(a, {"query": QUERY, "account": "acme-z"})
    assert answered.response is not None
    ids["response"] = str(answered.response.response_id)
    selection = post("/v1/tools/select", {"query": "rotate the Zanzibar secret",
                                          "use_llm": False})  # fmt: skip
    assert selection["chosen"]["item_id"] == ids["tool"]
    ids["selection"] = selection["selection_id"]
    # the worker's periodic work, done now
    ll.learning.update()
    ll.learning.update()
    refresh_views(ll.db)
    post("/v1/analytics/refresh", None)
    return w


@pytest.fixture
def b(app_client: TestClient, ll: LearnLoop, tenant: str) -> dict[str, str]:
    """The key of a fresh tenant B."""
    app_client.headers.pop("Authorization", None)  # a key left by another test's fixture
    return _key(ll, tenant)


def _no_secret(response: Any) -> Any:
    """The answer, checked to hold nothing of A's."""
    assert SECRET not in response.text, (response.request.url, response.text)
    return response.json()


def test_imports_mappings_accounts_and_kpis(
    app_client: TestClient, world: World, b: dict[str, str]
) -> None:
    c, a = app_client, world.headers
    mine = _ok(c.get("/v1/imports", headers=a))["imports"]
    assert {i["import_id"] for i in mine} == set(world.ids["imports"])
    assert _ok(c.get("/v1/imports/mappings", headers=a))[0]["mapping"] == KPI_MAPPING
    account_a = _ok(c.get("/v1/accounts/acme-z", headers=a))
    assert account_a["name"] == "Zanzibar Acme" and account_a["health_score"] is not None
    kpis_a = _ok(c.get("/v1/accounts/acme-z/kpis", headers=a))
    assert {k["kpi"] for k in kpis_a} == {"NPS", "CSAT"}

    assert _no_secret(c.get("/v1/imports", headers=b)) == {"imports": [], "next_cursor": None}
    for import_id in world.ids["imports"]:
        assert c.get(f"/v1/imports/{import_id}", headers=b).status_code == 404
    assert _no_secret(c.get("/v1/imports/mappings", headers=b)) == []
    assert _no_secret(c.get("/v1/accounts", headers=b)) == []
    for path in ("/v1/accounts/acme-z", "/v1/accounts/acme-z/kpis", "/v1/accounts/beta-z"):
        assert c.get(path, headers=b).status_code == 404, path

    # A's saved mapping does not read B's file; B's accounts of the same ids are B's own
    theirs = _ok(_upload(c, b, "kpis.csv", KPI_CSV.replace(SECRET, "Other")), 201)
    assert theirs["kind"] != "kpi_csv" and theirs["counts"]["kpi_values"] == 0
    accounts = "account_id,account_name,segment\nacme-z,B Corp,smb\n"
    assert _ok(_upload(c, b, "accounts.csv", accounts), 201)["counts"]["accounts"] == 1
    assert [x["name"] for x in _ok(c.get("/v1/accounts", headers=b))] == ["B Corp"]
    assert _ok(c.get("/v1/accounts/acme-z/kpis", headers=b)) == []
    nps = _ok(_upload(c, b, "nps.csv", "kpi,value,account_id\nNPS,5,acme-z\n"), 201)
    assert nps["counts"]["kpi_values"] == 1
    assert _ok(c.get("/v1/accounts/acme-z", headers=b))["health_score"] == 5.0  # B's NPS alone
    named = "kpi,value,account\nNPS,7,Zanzibar Acme\n"  # A's account name: a new account of B's
    assert _ok(_upload(c, b, "named.csv", named), 201)["counts"]["kpi_values"] == 1
    assert {x["account_id"] for x in _ok(c.get("/v1/accounts", headers=b))} == {
        "acme-z",
        "zanzibar-acme",
    }
    assert [(k["kpi"], k["value"]) for k in _ok(c.get("/v1/accounts/acme-z/kpis", headers=b))] == [
        ("NPS", 5.0)
    ]
    assert _ok(c.get("/v1/accounts/acme-z", headers=a)) == account_a
    assert _ok(c.get("/v1/accounts/acme-z/kpis", headers=a)) == kpis_a
    assert len(_ok(c.get("/v1/imports", headers=a))["imports"]) == len(mine)


def test_the_learning_queue(app_client: TestClient, world: World, b: dict[str, str]) -> None:
    c, a, ids = app_client, world.headers, world.ids
    proposals = ids["proposals"]
    listed_a = {s: _ok(c.get("/v1/proposals", params={"status": s}, headers=a)) for s in STATUSES}
    for status, proposal_id in proposals.items():
        assert proposal_id in {p["proposal_id"] for p in listed_a[status]}, status
    sources = {p["source"] for p in listed_a["pending"]}
    assert {"manual", "feedback", "correction"} <= sources
    before = {n: _ok(c.get(f"/v1/proposals/{n}", headers=a)) for n in proposals.values()}
    audits = {n: _ok(c.get(f"/v1/proposals/{n}/audit", headers=a)) for n in proposals.values()}
    assert _ok(c.get("/v1/learning/metrics", headers=a))
    assert _ok(c.get("/v1/learning/responses", headers=a))[0]["impressions"] >= 4

    assert _no_secret(c.get("/v1/learning/metrics", headers=b)) == []
    assert _no_secret(c.get("/v1/learning/responses", headers=b)) == []
    for status in STATUSES:
        for order in ("confidence", "age"):
            params = {"status": status, "order": order}
            assert _no_secret(c.get("/v1/proposals", params=params, headers=b)) == []
    review = {"reviewer": "mallory", "note": "mine now"}
    for proposal_id in proposals.values():
        for method, path, body in [
            ("GET", f"/v1/proposals/{proposal_id}", None),
            ("GET", f"/v1/proposals/{proposal_id}/audit", None),
            ("PATCH", f"/v1/proposals/{proposal_id}", {"body": "stolen", **review}),
            ("POST", f"/v1/proposals/{proposal_id}/approve", review),
            ("POST", f"/v1/proposals/{proposal_id}/reject", review),
            ("POST", f"/v1/proposals/{proposal_id}/rollback", review),
        ]:
            answer = c.request(method, path, json=body, headers=b)
            assert answer.status_code == 404, (method, path, answer.text)
            assert _no_secret(answer)["error"]["code"] == "not_found"
    revise = c.post("/v1/proposals", json={"item_id": ids["faq"], "body": "x"}, headers=b)
    assert revise.status_code == 404 and _no_secret(revise)["error"]["code"] == "not_found"
    assert _ok(c.post("/v1/proposals/apply", headers=b)) == {"applied": 0}
    assert _ok(c.put("/v1/proposals/settings", json={"duplicate_threshold": 0.5}, headers=b))
    # B's copy of A's faq is no duplicate of A's item
    copy = _ok(c.post("/v1/proposals", headers=b, json={
        "title": "Zanzibar discount for pricing", "kind": "faq",
        "body": "A's secret price list: Zanzibar customers get 40% off."}), 201)  # fmt: skip
    assert copy["duplicate"] is None
    assert _ok(c.get("/v1/proposals", params={"duplicates": True}, headers=b)) == []
    assert [p["proposal_id"] for p in _ok(c.get("/v1/proposals", headers=b))] == [
        copy["proposal_id"]
    ]

    assert _ok(c.get("/v1/proposals/settings", headers=a)) == {"duplicate_threshold": 0.85}
    for proposal_id, was in before.items():
        assert _ok(c.get(f"/v1/proposals/{proposal_id}", headers=a)) == was
        assert _ok(c.get(f"/v1/proposals/{proposal_id}/audit", headers=a)) == audits[proposal_id]
    faq = _ok(c.get(f"/v1/items/{ids['faq']}", headers=a))
    assert (faq["version"], faq["body"]) == (1, "A's secret price list: Zanzibar customers "
                                                "get 40% off.")  # fmt: skip


def test_learning_settings_statistics_and_experiments(
    app_client: TestClient, ll: LearnLoop, world: World, b: dict[str, str]
) -> None:
    c, a = app_client, world.headers
    config_a = _ok(c.get("/v1/learning", headers=a))
    assert config_a["shadow"] == "bayes" and config_a["rewards"]["wait_seconds"] == 0
    assert _ok(c.get("/v1/learning/stats", headers=a))
    assert _ok(c.get("/v1/learning/evaluate", headers=a))["impressions"] >= 1
    assert _ok(c.get("/v1/learning/shadow", headers=a))["impressions"] >= 1
    reliability_a = _ok(c.get("/v1/learning/reliability", headers=a))
    assert reliability_a["outcomes"] >= 1
    experiments_a = _ok(c.get("/v1/learning/experiments", headers=a))
    assert [(e["name"], e["status"]) for e in experiments_a] == [("exp-z", "running")]
    results_a = _ok(c.get("/v1/learning/experiments/exp-z", headers=a))
    assert sum(v["impressions"] for v in results_a["variants"]) >= 4
    threshold_a = ll.recommender.threshold(world.tenant)

    config_b = _no_secret(c.get("/v1/learning", headers=b))
    assert config_b["shadow"] is None and config_b["rewards"]["wait_seconds"] == 3600
    assert _no_secret(c.get("/v1/learning/stats", headers=b)) == []
    assert _no_secret(c.get("/v1/learning/stats", params={"dimension": ""}, headers=b)) == []
    assert _no_secret(c.get("/v1/learning/evaluate", headers=b))["impressions"] == 0
    assert c.get("/v1/learning/shadow", headers=b).status_code == 422  # B has no shadow
    reliability_b = _no_secret(c.get("/v1/learning/reliability", headers=b))
    assert reliability_b["outcomes"] == 0
    fitted = _ok(c.post("/v1/learning/calibration", json={}, headers=b))
    assert fitted["calibration"] is None and "(0;" in fitted["reason"]  # b sees none of a's
    tuned = _ok(c.post("/v1/learning/threshold", json={"precision": 0.5, "apply": True},
                       headers=b))  # fmt: skip
    assert tuned == {"threshold": None, "applied": False}
    assert _no_secret(c.get("/v1/learning/experiments", headers=b)) == []
    assert c.get("/v1/learning/experiments/exp-z", headers=b).status_code == 404
    assert c.post("/v1/learning/experiments/exp-z/stop", headers=b).status_code == 404
    # B's changes are B's alone
    _ok(c.patch("/v1/learning", json={"shadow": "bayes", "policy": "bayes"}, headers=b))
    assert _no_secret(c.get("/v1/learning/shadow", headers=b))["impressions"] == 0
    variants = [{"name": "control"}, {"name": "other", "policy": "contextual"}]
    started = c.post("/v1/learning/experiments", json={"name": "exp-z", "variants": variants},
                     headers=b)  # fmt: skip
    assert started.status_code == 201, started.text
    results_b = _ok(c.get("/v1/learning/experiments/exp-z", headers=b))
    assert [v["impressions"] for v in results_b["variants"]] == [0, 0]
    # B's own outcome: a threshold tuned and applied, for B alone
    _ok(c.patch("/v1/learning", json={"rewards": {"wait_seconds": 0}}, headers=b))
    faq = {"kind": "faq", "title": "Reset a password", "body": "Settings > Security."}
    _ok(c.post("/v1/items", json=faq, headers=b), 201)
    rec = _ok(c.post("/v1/recommend", json={"query": "reset my password"}, headers=b))
    event = {"type": "succeeded", "impression_id": rec["impression_id"],
             "item_id": rec["recommendations"][0]["item"]["item_id"]}  # fmt: skip
    _ok(c.post("/v1/events", json=event, headers=b))
    ll.learning.update()
    tuned = _ok(c.post("/v1/learning/threshold", json={"precision": 0.5, "apply": True},
                       headers=b))  # fmt: skip
    assert tuned["applied"] is True and tuned["threshold"] > 0

    assert _ok(c.get("/v1/learning", headers=a)) == config_a
    assert _ok(c.get("/v1/learning/experiments", headers=a)) == experiments_a
    assert _ok(c.get("/v1/learning/experiments/exp-z", headers=a)) == results_a
    assert _ok(c.get("/v1/learning/reliability", headers=a)) == reliability_a
    assert ll.recommender.threshold(world.tenant) == threshold_a == 0.0


ANALYTICS = [
    "metrics", "funnel", "strategies", "policies", "experiments", "items?min_shown=0",
    "tools?min_runs=1", "playbooks",
]  # fmt: skip


def test_analytics_and_the_dashboards_data(
    app_client: TestClient, world: World, b: dict[str, str]
) -> None:
    c, a, ids = app_client, world.headers, world.ids
    seen = {path: _ok(c.get(f"/v1/analytics/{path}", headers=a)) for path in ANALYTICS}
    assert seen["metrics"]["totals"]["counts"]["impressions"] >= 4
    assert seen["metrics"]["feedback"] >= 1
    assert seen["funnel"]["shown"] >= 4
    assert seen["strategies"] and seen["policies"]
    assert [e["experiment"] for e in seen["experiments"]] == ["exp-z"]
    assert seen["items?min_shown=0"]["top"]
    assert [t["tool"] for t in seen["tools?min_runs=1"]["tools"]] == ["rotate_secret"]
    assert {(p["playbook"], p["segment"]) for p in seen["playbooks"]["playbooks"]} == {
        ("Renewal rescue", "enterprise"),
        ("Onboarding", "enterprise"),
    }
    flags_a = _ok(c.post("/v1/analytics/lifecycle/report", json=RULES, headers=a))
    assert ids["tool"] in {f["item_id"] for f in flags_a}

    metrics = _no_secret(c.get("/v1/analytics/metrics", headers=b))
    assert metrics["series"] == [] and metrics["feedback"] == 0
    assert metrics["totals"]["counts"]["impressions"] == 0
    funnel = _no_secret(c.get("/v1/analytics/funnel", headers=b))
    assert funnel["shown"] == 0 and all(s["impressions"] == 0 for s in funnel["steps"])
    for path in ("strategies", "policies", "experiments"):
        assert _no_secret(c.get(f"/v1/analytics/{path}", headers=b)) == [], path
    filtered = c.get("/v1/analytics/experiments", params={"experiment": "exp-z"}, headers=b)
    assert _no_secret(filtered) == []
    assert _no_secret(c.get("/v1/analytics/items?min_shown=0", headers=b)) == {
        "top": [],
        "bottom": [],
    }
    assert _no_secret(c.get("/v1/analytics/tools?min_runs=1", headers=b)) == {
        "tools": [],
        "top": [],
        "low": [],
    }
    assert _no_secret(c.get("/v1/analytics/playbooks", headers=b)) == {
        "playbooks": [],
        "best_by_segment": {},
    }
    assert _no_secret(c.post("/v1/analytics/lifecycle/report", json=RULES, headers=b)) == []
    assert _no_secret(c.post("/v1/analytics/lifecycle/apply", json=RULES, headers=b)) == {
        "applied": []
    }
    # B's report on an account id A has: no segment of A's account comes with it
    report = {"account": "acme-z", "playbook": "B plan", "status": "completed",
              "steps_total": 1, "steps_completed": 1}  # fmt: skip
    _ok(c.post("/v1/reports", json=report, headers=b))
    [mine] = _no_secret(c.get("/v1/analytics/playbooks", headers=b))["playbooks"]
    assert (mine["playbook"], mine["segment"], mine["reports"]) == ("B plan", "", 1)
    refreshed = _ok(c.post("/v1/analytics/refresh", params={"full": True}, headers=b))
    assert refreshed["tenant_id"] != world.tenant
    page = c.get("/dashboard/")
    assert page.status_code == 200 and SECRET not in page.text

    assert _ok(c.get(f"/v1/items/{ids['tool']}", headers=a))["status"] == "active"
    assert _ok(c.post("/v1/analytics/lifecycle/report", json=RULES, headers=a)) == flags_a
    for path in ANALYTICS:
        assert _ok(c.get(f"/v1/analytics/{path}", headers=a)) == seen[path], path


def test_context_answers_tools_and_playbooks(
    app_client: TestClient, world: World, b: dict[str, str]
) -> None:
    c, a, ids = app_client, world.headers, world.ids
    response_a = _ok(c.get(f"/v1/responses/{ids['response']}", headers=a))
    assert response_a["answer"].startswith(SECRET)
    selection_a = _ok(c.get(f"/v1/tools/selections/{ids['selection']}", headers=a))
    assert selection_a["statistics"][0]["calls"] >= 6
    context_a = _ok(c.post("/v1/context", json={"query": QUERY, "session": "sess-a"}, headers=a))
    assert context_a["account"] == "acme-z"
    assert {p["citation"]["kind"] for p in context_a["parts"]} >= {"item", "report"}
    advice_a = _ok(c.post("/v1/playbooks/recommend", json={"account": "acme-z"}, headers=a))
    assert [r["playbook"] for r in advice_a["recommendations"]] == ["Renewal rescue"]

    assert c.get(f"/v1/responses/{ids['response']}", headers=b).status_code == 404
    assert c.get(f"/v1/tools/selections/{ids['selection']}", headers=b).status_code == 404
    for body in ({"query": QUERY, "account": "acme-z"}, {"query": QUERY, "session": "sess-a"}):
        block = _ok(c.post("/v1/context", json=body, headers=b))
        assert block["parts"] == [] and block["left_out"] == [], block
        assert block["text"].count(SECRET) == 1  # the question itself, nothing more
        answered = _ok(c.post("/v1/answer", json=body, headers=b))
        assert answered["response"] is None and answered["context"]["parts"] == []
    assert _ok(c.post("/v1/context", json={"query": QUERY, "session": "sess-a"},
                      headers=b))["account"] is None  # fmt: skip
    picked = _no_secret(c.post("/v1/tools/select", json={"query": "rotate a vault key"},
                               headers=b))  # fmt: skip
    assert (picked["chosen"], picked["search"], picked["decided_by"]) == (None, [], "none")
    assert c.post("/v1/playbooks/recommend", json={"account": "acme-z"},
                  headers=b).status_code == 404  # fmt: skip
    # B's own tool of the same name and accounts of the same ids learn nothing from A's
    tool = {"kind": "tool", "title": "Rotate a vault key", "attrs": {"name": "rotate_secret"}}
    _ok(c.post("/v1/items", json=tool, headers=b), 201)
    picked = _ok(c.post("/v1/tools/select", json={"query": "rotate a vault key"}, headers=b))
    assert [(s["calls"], s["successes"]) for s in picked["statistics"]] == [(0, 0)]
    _ok(_upload(c, b, "accounts.csv", ACCOUNTS_CSV.replace(SECRET, "Other")), 201)
    kpis = KPI_CSV.replace("Kennzahl,Wert,Kunde", "kpi,value,account").replace(SECRET, "Other")
    _ok(_upload(c, b, "kpis.csv", kpis), 201)
    advice = _no_secret(c.post("/v1/playbooks/recommend", json={"account": "acme-z"}, headers=b))
    assert [s["account_id"] for s in advice["similar_accounts"]] == ["beta-z"]
    assert advice["recommendations"] == []
    block = _ok(c.post("/v1/context", json={"query": "renewal", "account": "beta-z"}, headers=b))
    assert [p for p in block["parts"] if p["citation"]["kind"] == "report"] == []

    assert _ok(c.get(f"/v1/responses/{ids['response']}", headers=a)) == response_a
    assert _ok(c.get(f"/v1/tools/selections/{ids['selection']}", headers=a)) == selection_a
    again = _ok(c.post("/v1/playbooks/recommend", json={"account": "acme-z"}, headers=a))
    assert again["recommendations"] == advice_a["recommendations"]


def test_index_status_counts_only_the_tenants_own(
    app_client: TestClient, world: World, b: dict[str, str]
) -> None:
    c, a = app_client, world.headers
    status_a = _ok(c.get("/v1/index/status", headers=a))
    assert status_a["items"] >= 6  # three items, three imported accounts

    empty = _ok(c.get("/v1/index/status", headers=b))
    assert (empty["state"], empty["items"], empty["pending"]) == ("ready", 0, 0)
    assert (empty["queued_changes"], empty["embedded_total"]) == (0, 0)
    _ok(c.post("/v1/items", json={"kind": "faq", "title": "B's own"}, headers=b), 201)
    one = _ok(c.get("/v1/index/status", headers=b))
    assert (one["items"], one["pending"]) == (1, 0)
    assert _ok(c.get("/v1/index/status", headers=a))["items"] == status_a["items"]


def test_impressions_executions_reports_and_feedback(
    app_client: TestClient, world: World, b: dict[str, str]
) -> None:
    c, a, ids = app_client, world.headers, world.ids
    impression = ids["impressions"][0]
    shown_a = _ok(c.get(f"/v1/impressions/{impression}", headers=a))
    item_id = shown_a["candidates"][0]["item_id"]
    assert _ok(c.get(f"/v1/executions/{ids['executions'][0]}", headers=a))["tool_calls"]
    assert len(_ok(c.get("/v1/reports", headers=a))) == 2
    pending_a = _ok(c.get("/v1/proposals", params={"limit": 500}, headers=a))

    assert c.get(f"/v1/impressions/{impression}", headers=b).status_code == 404
    for execution_id in ids["executions"]:
        assert c.get(f"/v1/executions/{execution_id}", headers=b).status_code == 404
    assert _no_secret(c.get("/v1/reports", headers=b)) == []
    assert _no_secret(c.get("/v1/reports", params={"account": "beta-z"}, headers=b)) == []
    refused = [
        c.post("/v1/events", json={"type": "clicked", "impression_id": impression,
                                   "item_id": item_id}, headers=b),
        c.post("/v1/feedback", json={"impression_id": impression, "item_id": item_id,
                                     "kind": "thumbs", "value": "down"}, headers=b),
        c.post("/v1/corrections", json={"impression_id": impression, "original_response": "a",
                                        "corrected_answer": "b"}, headers=b),
        c.post("/v1/executions", json={"goal": "g", "success": True, "duration_ms": 1,
                                       "impression_id": impression}, headers=b),
    ]  # fmt: skip
    for answer in refused:
        assert answer.status_code in (404, 422), (answer.request.url, answer.text)
        assert _no_secret(answer)["error"]["code"] in ("not_found", "invalid_input")

    assert _ok(c.get(f"/v1/impressions/{impression}", headers=a)) == shown_a
    assert _ok(c.get("/v1/proposals", params={"limit": 500}, headers=a)) == pending_a

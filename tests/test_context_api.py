"""Context, answers, tool selection and playbooks through the HTTP API, the SDK and the CLI."""

from __future__ import annotations

import json
import uuid

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from learnloop import LearnLoop
from learnloop.cli.main import app
from learnloop.client import Client

QUERY = "how do I reset my password"


def fill(ll: LearnLoop, tenant: str) -> dict[str, int]:
    rows = [
        {"kind": "faq", "title": "Reset a forgotten password", "body": "Settings > Security."},
        {"kind": "correction", "title": "Password reset links expire after 24 hours",
         "body": "Corrected: 24 hours, not 30 minutes.", "attrs": {"source": "proposal"}},
        {"kind": "tool", "title": "Reset a user's password", "body": "Sends a reset link.",
         "attrs": {"name": "reset_password"}},
    ]  # fmt: skip
    stored = ll.items.put_many(tenant, rows)
    ll.tracking.report(
        tenant, {"account": "acme", "playbook": "Onboarding", "status": "completed",
                 "steps_total": 2, "steps_completed": 2, "executive_summary": "Went live."},
    )  # fmt: skip
    return {row["kind"]: item.item_id for row, (item, _) in zip(rows, stored, strict=True)}


def test_the_http_api(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    ids = fill(ll, tenant)
    got = api.post("/v1/context", json={"query": QUERY, "account": "acme", "token_budget": 300})
    assert got.status_code == 200, got.text
    block = got.json()
    cited = [(p["citation"]["kind"], p["citation"]["item_id"]) for p in block["parts"]]
    assert cited[:2] == [("correction", ids["correction"]), ("item", ids["faq"])]
    assert block["parts"][-1]["citation"]["kind"] == "report"
    assert block["tokens"] <= 300 and block["text"].startswith(f"Question: {QUERY}")

    bad = api.post("/v1/context", json={"query": QUERY, "token_budget": 5})
    assert bad.status_code == 422 and "token_budget" in bad.json()["error"]["message"]

    answered = api.post("/v1/answer", json={"query": QUERY, "account": "acme"})
    assert answered.status_code == 200 and answered.json()["response"] is None
    missing = api.get(f"/v1/responses/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"

    selected = api.post("/v1/tools/select", json={"query": "reset the password of a user"})
    assert selected.status_code == 200, selected.text
    selection = selected.json()
    assert selection["chosen"]["item_id"] == ids["tool"]
    logged = api.get(f"/v1/tools/selections/{selection['selection_id']}")
    assert logged.status_code == 200 and logged.json() == selection

    unknown = api.post("/v1/playbooks/recommend", json={"account": "nobody"})
    assert unknown.status_code == 404 and "nobody" in unknown.json()["error"]["message"]


def test_the_sdk(ll: LearnLoop, tenant: str) -> None:
    ids = fill(ll, tenant)
    with Client.local(ll, tenant) as client:
        block = client.context(QUERY, account="acme", token_budget=200)
        result = client.answer(QUERY, account="acme")
        selection = client.select_tool("reset the password of a user", use_llm=False)
    assert block.parts[0].citation.item_id == ids["correction"] and block.tokens <= 200
    assert result.response is None and result.context.parts
    assert selection.chosen is not None and selection.chosen.item_id == ids["tool"]


def test_the_cli(ll: LearnLoop, tenant: str, database_url: str) -> None:
    ids = fill(ll, tenant)
    runner = CliRunner()
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant, "COLUMNS": "100"}
    shown = runner.invoke(app, ["context", QUERY, "--account", "acme", "--budget", "200"], env=env)
    assert shown.exit_code == 0, shown.output
    assert f"[correction {ids['correction']} v1]" in shown.stdout
    assert "tokens (all-MiniLM-L6-v2" in shown.stdout
    done = runner.invoke(app, ["answer", QUERY, "--json"], env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["response"] is None
    picked = runner.invoke(app, ["tools", "select", "reset a user's password", "--no-llm"], env=env)
    assert picked.exit_code == 0 and "chosen: reset_password (by statistics)" in picked.stdout
    missing = runner.invoke(app, ["playbooks", "nobody"], env=env)
    assert missing.exit_code == 1 and "no account 'nobody'" in missing.stderr

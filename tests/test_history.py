"""History import on the real database: an assistant's audit log (JSON Lines in the audit-log
shape, CSV) as impressions and events, idempotent, with an error per bad line; the learning
statistics brought up to date; and the Open Bandit Dataset's log imported through the CLI
and evaluated offline, the logging policy's estimate landing in its on-policy interval."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from learnloop.cli.main import app
from learnloop.errors import ImportRejected
from learnloop.service import LearnLoop

from .conftest import shared_data

NOW = datetime.now(UTC).replace(microsecond=0)


def _at(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat()


def _audit_log() -> list[dict[str, Any]]:
    """Three entries: the audit-log shape with a click, a choice list with a click and a
    success on the second solution, and one where nothing was chosen."""
    return [
        {"audit_log_id": "a1", "created_at": _at(5), "query": "disk almost full on db-1",
         "session_id": "s1", "user_id": "ana",
         "ai_action_details": {
             "presentation_strategy": "multiple_options",
             "solutions_presented": [
                 {"type": "runbook", "id": "rb-45", "title": "Free disk space",
                  "confidence": 0.95, "propensity": 0.8},
                 {"type": "runbook", "id": "rb-46", "title": "Grow the volume",
                  "confidence": 0.6, "propensity": 0.2}]},
         "user_modifications": {"solution_chosen_id": "rb-45",
                                "solution_chosen_type": "runbook",
                                "user_action": "clicked_link"}},
        {"id": "a2", "created_at": _at(4), "query": "the volume is full again",
         "context": {"segment": "enterprise"}, "policy": "legacy",
         "solutions_presented": [
             {"type": "runbook", "id": "rb-45", "rank": 1, "propensity": 0.7},
             {"type": "runbook", "id": "rb-46", "rank": 2, "propensity": 0.3}],
         "choices": [{"solution_id": "rb-46", "action": "clicked", "at": _at(3.9)},
                     {"rank": 2, "action": "completed", "at": _at(3.5)}]},
        {"id": "a3", "created_at": _at(3), "query": "printer offline",
         "solutions_presented": [{"type": "faq", "id": "faq-printer", "title": "Printers"}]},
    ]  # fmt: skip


def _jsonl(entries: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(e) for e in entries).encode()


def _impressions(ll: LearnLoop, tenant: str) -> list[dict[str, Any]]:
    with ll.db.connection() as conn:
        return conn.execute(
            "SELECT i.idempotency_key, i.query, i.policy, i.strategy, i.created_at, i.context,"
            " (SELECT array_agg(array[c.rank::float8, c.propensity] ORDER BY c.rank)"
            "  FROM impression_items c WHERE c.tenant_id = i.tenant_id"
            "  AND c.impression_id = i.impression_id) AS candidates,"
            " (SELECT array_agg(e.type || '@' || e.rank ORDER BY e.occurred_at) FROM events e"
            "  WHERE e.tenant_id = i.tenant_id AND e.impression_id = i.impression_id) AS events,"
            " (SELECT bool_and(o.settled) FROM learn_outcomes o WHERE o.tenant_id = i.tenant_id"
            "  AND o.impression_id = i.impression_id) AS settled"
            " FROM impressions i WHERE i.tenant_id = %s ORDER BY i.created_at",
            (tenant,),
        ).fetchall()


def test_an_audit_log_becomes_impressions_and_events_once(ll: LearnLoop, tenant: str) -> None:
    runbook = {"kind": "runbook", "external_id": "rb-45", "title": "Free disk space",
               "body": "df -h; ..."}  # fmt: skip
    existing, _ = ll.items.put(tenant, runbook)
    report = ll.history.import_log(tenant, _jsonl(_audit_log()), "audit.jsonl",
                                   {"source": "ai_helper"})  # fmt: skip
    assert (report.entries, report.impressions, report.duplicates) == (3, 3, 0)
    assert (report.events, report.items_created, report.bad_entries) == (3, 2, 0)
    assert report.learned > 0

    rows = _impressions(ll, tenant)
    assert [r["idempotency_key"] for r in rows] == ["log:ai_helper:a1", "log:ai_helper:a2",
                                                    "log:ai_helper:a3"]  # fmt: skip
    assert [r["policy"] for r in rows] == ["imported", "legacy", "imported"]
    assert [r["strategy"] for r in rows] == ["multiple_options", "multiple_options",
                                             "single_solution"]  # fmt: skip
    assert rows[0]["created_at"] == NOW - timedelta(hours=5)
    assert rows[1]["context"] == {"segment": "enterprise"}
    assert [r["candidates"] for r in rows] == [[[1, 0.8], [2, 0.2]], [[1, 0.7], [2, 0.3]],
                                               [[1, 1.0]]]  # fmt: skip
    assert [r["events"] for r in rows] == [["clicked@1"], ["clicked@2", "succeeded@2"], None]
    assert all(r["settled"] for r in rows)  # a log is final: no wait for more outcomes

    runbooks = {i.external_id: i for i in ll.items.list(tenant, kinds=["runbook"])[0]}
    assert runbooks["rb-45"].item_id == existing.item_id  # the tenant's own item, unchanged
    assert runbooks["rb-45"].body == "df -h; ..."
    assert runbooks["rb-46"].title == "Grow the volume"  # created from the log
    stats = {(s["item_id"], s["dimension"]): s for s in ll.learning.stats(tenant)}
    assert stats[runbooks["rb-46"].item_id, ""]["reward"] == pytest.approx(1.0)  # succeeded

    fourth = {"id": "a4", "created_at": _at(1), "query": "vpn down",
              "solutions_presented": [{"id": "rb-45", "type": "runbook"}],
              "choices": [{"solution_id": "rb-45", "action": "dismissed"}]}  # fmt: skip
    longer = [*_audit_log(), fourth]
    again = ll.history.import_log(tenant, _jsonl(longer), "audit.jsonl", {"source": "ai_helper"})
    assert (again.impressions, again.duplicates, again.events, again.items_created) == (1, 3, 1, 0)
    assert len(_impressions(ll, tenant)) == 4
    other = ll.history.import_log(tenant, _jsonl(_audit_log()[:1]), "a.jsonl", {"source": "crm"})
    assert other.impressions == 1  # ids are unique within a source, not across sources


def test_bad_lines_are_named_and_nothing_is_stored(ll: LearnLoop, tenant: str) -> None:
    good = _audit_log()[2]
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"id": "b1", "created_at": _at(1), "solutions_presented": []}),
        json.dumps({**good, "id": "b2", "choices": [{"rank": 1, "action": "liked"}]}),
        json.dumps({**good, "id": "b3", "choices": [{"solution_id": "zz", "action": "clicked"}]}),
        json.dumps(good),
        json.dumps({**good, "id": "b4", "created_at": "2019-11-24T00:00:00Z"}),
        json.dumps({**good, "id": "b5", "solutions_presented": [{"id": "x", "propensity": 1.5}]}),
    ]
    with pytest.raises(ImportRejected) as refused:
        ll.history.import_log(tenant, "\n".join(lines).encode(), "bad.jsonl")
    message = refused.value.message
    for part in (
        "line 2: not JSON",
        "line 3, solutions_presented:",
        "line 4, choices.0:",
        "'liked' is not one learnloop knows",
        "line 5, choices.0: the choice names zz",
        "line 6, id: the log id 'a3' appears again (first on line 1)",
        "line 7, created_at:",
        "--rebase",
        "line 8, solutions_presented.0.propensity",
    ):
        assert part in message, (part, message)  # fmt: skip
    assert _impressions(ll, tenant) == []

    kept = ll.history.import_log(tenant, "\n".join(lines).encode(), "bad.jsonl",
                                 {"skip_bad_rows": True})  # fmt: skip
    assert (kept.status, kept.impressions, kept.bad_entries) == ("partial", 1, 7)
    assert [e.line for e in kept.errors] == [2, 3, 4, 5, 6, 7, 8]


def test_a_csv_log_over_http_and_the_cli_and_its_errors(
    ll: LearnLoop, tenant: str, api: TestClient, database_url: str, tmp_path: Path
) -> None:
    rows = [
        "log_id,created_at,query,solution_id,solution_type,title,rank,propensity,action,"
        "context.channel",
        f"c1,{_at(2)},reset my password,faq-pw,faq,Reset a password,1,0.9,clicked;succeeded,web",
        f"c1,{_at(2)},reset my password,faq-2fa,faq,Two-factor help,2,0.1,,web",
        f"c2,{_at(1)},invoice copy,faq-inv,faq,Invoices,1,,,app",
    ]
    body = "\n".join(rows).encode()
    sent = api.post("/v1/imports/log", params={"filename": "helper.csv"}, content=body)
    assert sent.status_code == 201, sent.text
    report = sent.json()
    assert (report["format"], report["impressions"], report["events"]) == ("csv", 2, 2)
    found = _impressions(ll, tenant)
    assert [r["events"] for r in found] == [["clicked@1", "succeeded@1"], None]
    assert [r["candidates"] for r in found] == [[[1, 0.9], [2, 0.1]], [[1, 1.0]]]
    assert found[0]["context"] == {"channel": "web"}
    assert api.post("/v1/imports/log", params={"filename": "helper.csv"},
                    content=body).json()["duplicates"] == 2  # fmt: skip

    log = tmp_path / "helper.csv"
    log.write_bytes(body)
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant, "COLUMNS": "200"}
    again = CliRunner().invoke(app, ["import-log", str(log)], env=env)
    assert again.exit_code == 0, again.output
    assert "0 new impressions, 2 imported before, 0 events" in again.output

    bad = "\n".join([rows[0], f"d1,{_at(1)},q,faq-x,faq,X,1,2.0,clicked,web"]).encode()
    refused = api.post("/v1/imports/log", params={"filename": "bad.csv"}, content=bad)
    assert refused.status_code == 422
    assert "line 2, solutions_presented.0.propensity" in refused.json()["error"]["message"]
    other = ll.tenants.create(f"{tenant}-other").tenant_id
    theirs, _ = ll.items.put(other, {"kind": "faq", "title": "Theirs", "body": "not yours"})
    foreign = {"id": "f1", "created_at": _at(1), "solutions_presented": [
        {"item_id": theirs.item_id}]}  # fmt: skip
    crossed = api.post("/v1/imports/log", params={"filename": "f.jsonl"},
                       content=json.dumps(foreign).encode())  # fmt: skip
    assert crossed.status_code == 422, crossed.text  # another tenant's item is not an item here
    assert f"item_id {theirs.item_id}" in crossed.json()["error"]["message"]
    assert len(_impressions(ll, tenant)) == 2
    unknown = api.post("/v1/imports/log", params={"filename": "x.csv"}, content=b"id,what\n1,2")
    assert unknown.status_code == 422 and "log_id" in unknown.json()["error"]["message"]
    no_format = api.post("/v1/imports/log", params={"filename": "x.txt"}, content=b"{}")
    assert no_format.status_code == 422 and "jsonl" in no_format.json()["error"]["message"]


def test_open_bandit_log_imported_and_its_logging_policy_estimated_on_policy(
    ll: LearnLoop, tenant: str, database_url: str, tmp_path: Path
) -> None:
    """The random policy's log of the Open Bandit Dataset, one decision per row (which item
    in this slot, with its true propensity), imported with the CLI; the logging policy's
    estimate from the imported impressions lands in the interval of its on-policy value,
    the mean click of the log, as the estimator test checks on the raw file."""
    path = shared_data("open_bandit_dataset_small/random/all/all.csv.gz")
    with gzip.open(path, "rt") as file:
        logged = list(csv.DictReader(file))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["log_id", "created_at", "solution_id", "rank", "propensity", "action",
                     "context.position"])  # fmt: skip
    for row in logged:
        writer.writerow([row[""], row["timestamp"], row["item_id"], 1, row["propensity_score"],
                         "clicked" if row["click"] == "1" else "", row["position"]])  # fmt: skip
    log = tmp_path / "obd_random.csv"
    log.write_text(out.getvalue())
    ll.learning.configure(tenant, {"rewards": {"clicked": 1.0}})  # the value: the click rate

    runner = CliRunner()
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant, "COLUMNS": "200"}
    args = ["import-log", str(log), "--source", "obd", "--policy", "random", "--rebase", "--json"]
    imported = runner.invoke(app, args, env=env)
    assert imported.exit_code == 0, imported.output
    report = json.loads(imported.output)
    assert (report["impressions"], report["items_created"]) == (len(logged), 80)
    assert report["events"] == sum(r["click"] == "1" for r in logged)

    evaluated = runner.invoke(
        app, ["evaluate", "--policy", "logged", "--logged-by", "random", "--json"], env=env
    )
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.output)
    clicks = [float(r["click"]) for r in logged]
    on_policy = sum(clicks) / len(clicks)
    half = 1.96 * math.sqrt(on_policy * (1 - on_policy) / len(clicks))
    assert result["impressions"] == len(logged)
    assert result["logged_value"] == pytest.approx(on_policy)
    for name, estimate in result["estimates"].items():
        assert on_policy - half <= estimate["value"] <= on_policy + half, name
        assert estimate["low"] <= on_policy <= estimate["high"], name
    assert result["support"] == pytest.approx(1.0)
    with ll.db.connection() as conn:  # the true propensities, kept with the impressions
        kept = conn.execute(
            "SELECT avg(propensity) AS p, count(*) AS n FROM impression_items WHERE tenant_id = %s",
            (tenant,),
        ).fetchone()
    assert kept is not None and kept["n"] == len(logged)
    assert kept["p"] == pytest.approx(sum(float(r["propensity_score"]) for r in logged)
                                      / len(logged))  # fmt: skip

"""History import on the real database: an assistant's audit log (JSON Lines in the audit-log
shape, CSV) as impressions and events, idempotent, with an error per bad line; the learning
statistics brought up to date; and the Open Bandit Dataset's log imported through the CLI
and evaluated offline: the logging policy on its own log, and the BTS policy on the
uniform-random log, each estimate landing in its on-policy interval."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from learnloop.cli.main import app
from learnloop.errors import ImportRejected
from learnloop.learn import evaluation
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


def _obd(policy: str, tmp_path: Path) -> tuple[list[dict[str, str]], Path]:
    """The Open Bandit Dataset log of ``policy`` (random or bts) and the same as a CSV log
    to import: one decision per row (which item in this slot, with its true propensity),
    the slot its context value ``position``."""
    path = shared_data(f"open_bandit_dataset_small/{policy}/all/all.csv.gz")
    with gzip.open(path, "rt") as file:
        logged = list(csv.DictReader(file))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["log_id", "created_at", "solution_id", "rank", "propensity", "action",
                     "context.position"])  # fmt: skip
    for row in logged:
        writer.writerow([row[""], row["timestamp"], row["item_id"], 1, row["propensity_score"],
                         "clicked" if row["click"] == "1" else "", row["position"]])  # fmt: skip
    log = tmp_path / f"obd_{policy}.csv"
    log.write_text(out.getvalue())
    return logged, log


def _on_policy(logged: list[dict[str, str]]) -> tuple[float, float]:
    """A log's click rate and the half width of its 95% interval."""
    clicks = [float(r["click"]) for r in logged]
    on_policy = sum(clicks) / len(clicks)
    return on_policy, 1.96 * math.sqrt(on_policy * (1 - on_policy) / len(clicks))


def test_open_bandit_log_imported_and_its_logging_policy_estimated_on_policy(
    ll: LearnLoop, tenant: str, database_url: str, tmp_path: Path
) -> None:
    """The random policy's log of the Open Bandit Dataset imported with the CLI; the
    logging policy's estimate from the imported impressions lands in the interval of its
    on-policy value, the mean click of the log."""
    logged, log = _obd("random", tmp_path)
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
    on_policy, half = _on_policy(logged)
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


def test_bts_estimated_on_the_random_log_lands_in_its_on_policy_interval(
    ll: LearnLoop, tenant: str, api: TestClient, database_url: str, tmp_path: Path
) -> None:
    """Two histories of an existing assistant, the Open Bandit Dataset's logs of its
    uniform-random and Bernoulli TS policies, imported with the CLI; what BTS did per
    position, read from its own imported log, estimated on the random log through the CLI
    (and the API): every estimator's value lands in BTS's on-policy 95% interval and its
    interval holds the on-policy value, as the estimators' test checks on the raw files."""
    random_log, random_file = _obd("random", tmp_path)
    bts_log, bts_file = _obd("bts", tmp_path)
    ll.learning.configure(tenant, {"rewards": {"clicked": 1.0}})  # the value: the click rate
    runner = CliRunner()
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant, "COLUMNS": "200"}
    for policy, file in (("random", random_file), ("bts", bts_file), ("random", random_file)):
        args = ["import-log", str(file), "--source", f"obd-{policy}", "--policy", policy,
                "--rebase", "--json"]  # fmt: skip
        imported = runner.invoke(app, args, env=env)
        assert imported.exit_code == 0, imported.output
    again = json.loads(imported.output)  # the random log a second time: nothing stored twice
    assert (again["impressions"], again["duplicates"]) == (0, len(random_log))

    args = ["evaluate", "--policy", "logged:bts", "--logged-by", "random", "--per", "position"]
    evaluated = runner.invoke(app, [*args, "--json"], env=env)
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.output)
    print(
        "XX",
        json.dumps(
            {
                k: result[k]
                for k in (
                    "estimates",
                    "support",
                    "effective_sample_size",
                    "verdict",
                    "reasons",
                    "difference",
                    "logged_value",
                )
            }
        ),
    )
    on_policy, half = _on_policy(bts_log)
    assert (result["policy"], result["logged_by"], result["per"]) == ("logged:bts", "random",
                                                                      ["position"])  # fmt: skip
    assert (result["impressions"], result["target_impressions"]) == (len(random_log),
                                                                     len(bts_log))  # fmt: skip
    assert result["left_out"] == 0
    assert result["logged_value"] == pytest.approx(_on_policy(random_log)[0])
    assert result["candidates"] == {f'position="{p}"': 80 for p in "123"}
    for name, estimate in result["estimates"].items():
        assert on_policy - half <= estimate["value"] <= on_policy + half, (name, estimate)
        assert estimate["low"] <= on_policy <= estimate["high"], (name, estimate)
    assert result["support"] == pytest.approx(1.0) and result["clipped_share"] == 0.0
    assert result["effective_sample_size"] > 1000
    # the very numbers the estimators give on the raw files: the logs were read exactly
    shown = Counter((r["item_id"], r["position"]) for r in bts_log)
    slots = Counter(r["position"] for r in bts_log)
    items = sorted({r["item_id"] for r in random_log}, key=int)
    raw = evaluation.estimates([evaluation.Logged(
        [int(i) for i in items], items.index(r["item_id"]), float(r["propensity_score"]),
        float(r["click"]), [shown[i, r["position"]] / slots[r["position"]] for i in items])
        for r in random_log])  # fmt: skip
    for name, estimate in raw.items():
        assert result["estimates"][name]["value"] == pytest.approx(estimate.value), name
    assert result["verdict"] != "insufficient_evidence", result["reasons"]

    over_http = api.get("/v1/learning/evaluate", params={"policy": "logged:bts",
                        "logged_by": "random", "per": "position"})  # fmt: skip
    assert over_http.status_code == 200, over_http.text
    assert over_http.json()["estimates"] == result["estimates"]
    printed = runner.invoke(app, args, env=env)
    assert printed.exit_code == 0, printed.output
    assert "on the log of random; target from 10000 impressions of its own log per position" in (
        printed.output
    )
    # without the position, BTS's choices are pooled over the slots: another policy
    pooled = json.loads(runner.invoke(app, [*args[:-2], "--json"], env=env).output)
    assert pooled["per"] == [] and pooled["candidates"] == {"": 80}
    assert pooled["estimates"]["ips"]["value"] != result["estimates"]["ips"]["value"]


def _helper_log(policy: str, n: int, solutions: Any, channel: Any = "web") -> bytes:
    """``n`` entries of ``policy``, entry k showing first the solution ``solutions(k)``
    returns as (id, propensity or None, clicked), in the context ``channel(k)``."""
    entries = []
    for k in range(n):
        sid, propensity, clicked = solutions(k)
        solution = {"type": "runbook", "id": sid}
        if propensity:
            solution["propensity"] = propensity
        where = channel(k) if callable(channel) else channel
        choices = [{"rank": 1, "action": "clicked"}] if clicked else []
        entries.append({"id": f"{policy}-{k}", "created_at": _at(2 - k / 1000), "policy": policy,
                        "context": {"channel": where}, "solutions_presented": [solution],
                        "choices": choices})  # fmt: skip
    return _jsonl(entries)


def test_a_logged_policy_on_another_log_exactly_and_what_is_refused(
    ll: LearnLoop, tenant: str, api: TestClient, database_url: str
) -> None:
    """A helper that chose between two runbooks at random (propensity 0.5) and a new one
    that always shows the first: the new one's value on the helper's log is exactly what
    IPS, SNIPS and DR give by hand (0.5); a missing log, a log without propensities,
    supports that do not overlap and unknown context keys are refused naming the fix, and
    another tenant's logs are never read."""
    ll.learning.configure(tenant, {"rewards": {"clicked": 1.0}})
    # 80 decisions: rb-1 on odd k (clicked on every second of them), rb-2 on even k (never)
    helper = _helper_log("helper", 80, lambda k: (f"rb-{2 - k % 2}", 0.5, k % 4 == 1),
                         lambda k: "web" if k < 60 else "app")  # fmt: skip
    logs = {"helper": helper,
            "new": _helper_log("new", 10, lambda k: ("rb-1", None, False)),
            "half": _helper_log("half", 10, lambda k: (f"rb-{1 + 2 * (k % 2)}", 0.5, False)),
            "other": _helper_log("other", 10, lambda k: ("rb-3", 0.9, False))}  # fmt: skip
    for policy, data in logs.items():
        ll.history.import_log(tenant, data, f"{policy}.jsonl", {"source": policy})
    stranger = ll.tenants.create(f"{tenant}-stranger").tenant_id  # the same names elsewhere
    ll.history.import_log(stranger, _helper_log("new", 50, lambda k: ("rb-2", 0.5, True)),
                          "new.jsonl", {"source": "new"})  # fmt: skip
    ll.history.import_log(stranger, _helper_log("elsewhere", 5, lambda k: ("rb-1", 0.5, True)),
                          "e.jsonl", {"source": "elsewhere"})  # fmt: skip

    def evaluate(**params: Any) -> Any:
        return api.get("/v1/learning/evaluate", params=params)

    found = evaluate(policy="logged:new", logged_by="helper")
    assert found.status_code == 200, found.text
    result = found.json()
    assert (result["impressions"], result["target_impressions"]) == (80, 10)
    assert result["logged_value"] == pytest.approx(0.25)
    for name, e in result["estimates"].items():
        assert e["value"] == pytest.approx(0.5), name  # 2 * 20 clicks / 80, the same for all
    assert result["support"] == pytest.approx(1.0)
    assert result["effective_sample_size"] == pytest.approx(40.0)  # 80^2 / (40 * 2^2)

    per = evaluate(policy="logged:new", logged_by="helper", per="channel").json()
    assert (per["impressions"], per["left_out"]) == (60, 20)  # "app" never came to new
    assert any("20 impressions of helper left out" in r for r in per["reasons"])
    half = evaluate(policy="logged:half", logged_by="helper").json()
    assert half["support"] == pytest.approx(0.5)  # rb-3 half the time: never in the log
    assert half["verdict"] == "insufficient_evidence"
    assert any("supports 50%" in r for r in half["reasons"])

    refusals = {
        ("logged:nobody", "helper", None): "nobody, has logged no impressions for this tenant",
        ("logged:new", "nobody", None): "the log to estimate on, nobody, has logged no",
        ("logged:elsewhere", "helper", None): "elsewhere, has logged no impressions",
        ("logged:new", None, None): "name it with logged_by",
        ("logged:helper", "new", None): "the log of new keeps no propensities",
        ("logged:other", "helper", None): "the supports do not overlap: other displayed",
        ("logged:new", "helper", "segment"): "no impression of helper has the context key",
        ("bayes", "helper", "channel"): "per names context keys for policy=logged:POLICY",
        ("logged:", "helper", None): "",
    }
    for (policy, logged_by, key), message in refusals.items():
        params = {"policy": policy} | ({"logged_by": logged_by} if logged_by else {})
        refused = evaluate(**params | ({"per": key} if key else {}))
        assert refused.status_code == 422, (policy, logged_by, refused.text)
        assert message in refused.text, (message, refused.text)

    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant, "COLUMNS": "200"}
    cli = CliRunner().invoke(app, ["evaluate", "--policy", "logged:other", "--logged-by",
                                   "helper"], env=env)  # fmt: skip
    assert cli.exit_code != 0 and "the supports do not overlap" in cli.output, cli.output

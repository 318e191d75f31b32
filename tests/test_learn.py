"""The learning engine on the real database and model: the tenant's policy ranks and logs
propensities, the contextual model trains from settled outcomes, shadow mode, offline
evaluation, calibration and experiments."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from learnloop import LearnLoop
from learnloop.cli.demo import sample_items
from learnloop.errors import Conflict, InvalidInput
from learnloop.learn import Simulator, stats
from learnloop.learn.simulate import Trace, play

SAMPLES = sample_items()[:16]  # the infrastructure runbooks: embedding all 55 takes long


def drain(ll: LearnLoop, **options: Any) -> int:
    total = 0
    while (n := stats.update(ll.db, **options)) > 0:
        total += n
    return total


def simulate(ll: LearnLoop, tenant: str, n: int, seed: int = 0) -> Trace:
    sim = Simulator.from_knowledge(SAMPLES, seed=seed)
    return play(
        sim,
        n,
        recommend=lambda r: ll.recommender.recommend(tenant, r),
        record=lambda e: ll.events.record(tenant, e),
    )


@pytest.fixture(scope="module")
def knowledge(ll: LearnLoop) -> str:
    """A tenant with part of the sample knowledge base, simulated for 45 interactions:
    ranked by the similarity policy with contextual in shadow (so it trains), every
    outcome settled."""
    import uuid

    tenant = ll.tenants.create(f"learn-{uuid.uuid4().hex[:8]}").tenant_id
    ll.items.put_many(tenant, SAMPLES)
    ll.learning.configure(tenant, {"shadow": "contextual", "rewards": {"wait_seconds": 30}})
    simulate(ll, tenant, 45)
    drain(ll, now=datetime.now(UTC) + timedelta(seconds=31))
    return tenant


def test_the_tenant_chooses_its_policy_which_logs_propensities(ll: LearnLoop, knowledge: str):
    ll.learning.configure(knowledge, {"policy": "bayes", "exploration": 1.0})
    ll.recommender.set_threshold(knowledge, 0.0)  # a vague question, every candidate shown
    try:
        answer = ll.recommender.recommend(
            knowledge, {"query": "a host has a problem", "context": {"segment": "smb"}}
        )
    finally:
        ll.learning.configure(knowledge, {"policy": "similarity", "exploration": 0.2})
        ll.recommender.set_threshold(knowledge, 0.5)
    assert answer.policy == "bayes"
    logged = ll.recommender.impression(knowledge, answer.impression_id)
    assert logged.policy == "bayes"
    shown = [c for c in logged.candidates if c.shown]
    assert shown and all(0 < c.propensity <= 1 for c in shown)
    assert any(c.propensity < 1 for c in shown)  # Thompson sampling is random
    assert all(c.propensity == 0 for c in logged.candidates if not c.shown)


def test_unknown_policies_and_settings_are_refused(ll: LearnLoop, tenant: str):
    with pytest.raises(InvalidInput, match="policy"):
        ll.learning.configure(tenant, {"policy": "psychic"})
    with pytest.raises(InvalidInput, match="exploration"):
        ll.learning.configure(tenant, {"exploration": 2})
    assert ll.learning.config(tenant).policy == "similarity"


def test_the_statistics_hold_every_outcome(ll: LearnLoop, knowledge: str):
    rows = ll.learning.stats(knowledge, limit=1000)
    overall = [r for r in rows if r["dimension"] == ""]
    assert sum(r["trials"] for r in overall) >= 45
    assert sum(r["reward"] for r in overall) > 0
    assert {r["dimension"] for r in rows} >= {"", "segment", "intent"}


def test_the_contextual_model_learns_from_settled_outcomes(ll: LearnLoop, knowledge: str):
    with ll.db.connection() as conn:
        row = conn.execute(
            "SELECT examples, length(state) AS size FROM learn_models"
            " WHERE tenant_id = %s AND name = 'contextual'",
            (knowledge,),
        ).fetchone()
    assert row is not None and row["examples"] >= 40 and row["size"] > 0
    ll.learning.configure(knowledge, {"policy": "contextual"})
    try:
        answer = ll.recommender.recommend(knowledge, {"query": "reset my password"})
    finally:
        ll.learning.configure(knowledge, {"policy": "similarity"})
    assert answer.policy == "contextual"
    assert all(0 < r.propensity <= 1 for r in answer.recommendations)


def test_shadow_mode_logs_what_it_would_show_and_reports_agreement(
    ll: LearnLoop, knowledge: str
):
    report = ll.learning.shadow(knowledge)
    assert report["policy"] == "contextual"
    assert report["impressions"] >= 45
    assert 0 <= report["first_agreement"] <= 1
    assert report["evaluation"]["impressions"] >= 40


def test_offline_evaluation_estimates_the_logging_policy_at_its_logged_value(
    ll: LearnLoop, knowledge: str
):
    report = ll.learning.evaluate(knowledge, "similarity")
    logged = report["logged_value"]
    for name in ("ips", "snips", "dr"):
        estimate = report["estimates"][name]
        assert estimate["low"] <= logged <= estimate["high"], name
    assert report["estimates"]["ips"]["value"] == pytest.approx(logged)
    assert 0 < report["mrr"] <= 1 and 0 < report["ndcg_at_3"] <= 1
    other = ll.learning.evaluate(knowledge, "bayes")
    assert other["policy"] == "bayes" and other["effective_sample_size"] > 0


def test_calibration_fits_on_outcomes_and_tunes_the_threshold(ll: LearnLoop, knowledge: str):
    assert ll.learning.calibrate(knowledge, "isotonic") is None  # too few: the baseline stays
    ll.recommender.set_threshold(knowledge, 0.1)  # the floor check compares at this threshold
    judged = ll.learning._judged(knowledge, 1000)
    assert judged and all(j.weight > 0 for j in judged)
    report = ll.learning.fit_report(knowledge, "isotonic", min_outcomes=20, min_per_bin=5)
    fitted = ll.learning.calibrate(knowledge, "isotonic", min_outcomes=20, min_per_bin=5)
    assert fitted is not None and fitted.outcomes >= 20, report
    assert fitted.y == sorted(fitted.y)  # isotonic: never less sure as similarity grows
    diagram = ll.learning.reliability(knowledge)
    assert diagram["method"] == "isotonic"
    assert sum(b["count"] for b in diagram["bins"]) == diagram["outcomes"]
    threshold = ll.learning.tune_threshold(knowledge, 0.05)
    assert threshold is not None and 0 <= threshold <= 1
    answer = ll.recommender.recommend(knowledge, {"query": "disk almost full"})
    logged = ll.recommender.impression(knowledge, answer.impression_id)
    with ll.db.connection() as conn:
        relevances = conn.execute(
            "SELECT rank, relevance FROM impression_items"
            " WHERE tenant_id = %s AND impression_id = %s ORDER BY rank",
            (knowledge, answer.impression_id),
        ).fetchall()
    assert [c.confidence for c in logged.candidates] == pytest.approx(
        [fitted(r["relevance"]) for r in relevances]
    )
    ll.recommender.set_threshold(knowledge, 0.5)
    with ll.db.connection() as conn:  # back to the baseline's confidence for the other tests
        conn.execute("DELETE FROM learn_models WHERE tenant_id = %s AND name = 'calibration'",
                     (knowledge,))


def test_experiments_assign_by_user_and_report_results(ll: LearnLoop, knowledge: str):
    spec = {
        "name": "bayes-vs-similarity",
        "unit": "user",
        "variants": [{"name": "control"}, {"name": "learned", "policy": "bayes"}],
    }
    ll.learning.experiments.start(knowledge, spec)
    with pytest.raises(Conflict):
        ll.learning.experiments.start(knowledge, spec)
    try:
        seen: dict[str, set[str | None]] = {}
        for n in range(40):
            user = f"user-{n % 10}"
            request = {"query": "disk full", "context": {"user": user}}
            answer = ll.recommender.recommend(knowledge, request)
            logged = ll.recommender.impression(knowledge, answer.impression_id)
            assert logged.experiment == "bayes-vs-similarity"
            assert answer.policy == ("bayes" if logged.variant == "learned" else "similarity")
            seen.setdefault(user, set()).add(logged.variant)
        assert all(len(variants) == 1 for variants in seen.values())  # sticky per user
        results = ll.learning.experiments.results(knowledge, "bayes-vs-similarity")
        assert [v["name"] for v in results["variants"]] == ["control", "learned"]
        assert sum(v["impressions"] for v in results["variants"]) == 40
        assert results["sample_ratio"]["p_value"] is not None
    finally:
        ll.learning.experiments.stop(knowledge, "bayes-vs-similarity")
    answer = ll.recommender.recommend(knowledge, {"query": "disk full", "context": {"user": "x"}})
    assert ll.recommender.impression(knowledge, answer.impression_id).experiment is None


def test_the_learning_api(api: Any):
    assert api.get("/v1/learning").json()["policy"] == "similarity"
    changed = api.patch("/v1/learning", json={"policy": "bayes", "rewards": {"clicked": 0.2}})
    assert changed.status_code == 200
    assert changed.json()["policy"] == "bayes" and changed.json()["rewards"]["clicked"] == 0.2
    assert api.get("/v1/learning").json()["rewards"]["succeeded"] == 1.0  # kept
    refused = api.patch("/v1/learning", json={"policy": "psychic"})
    assert refused.status_code == 422 and "policy" in refused.json()["error"]["message"]
    report = api.get("/v1/learning/evaluate", params={"policy": "contextual"}).json()
    assert report["policy"] == "contextual" and report["impressions"] == 0
    assert api.get("/v1/learning/reliability").json()["bins"] == []
    assert api.get("/v1/learning/stats").json() == []
    fitted = api.post("/v1/learning/calibration", json={}).json()
    assert fitted["calibration"] is None and "too few outcomes" in fitted["reason"]
    table = api.get("/v1/learning/thresholds").json()
    assert table["impressions"] == 0 and len(table["rows"]) == 20
    assert api.post("/v1/learning/threshold", json={"precision": 0.9}).json() == {
        "threshold": None, "applied": False}
    assert api.get("/v1/learning/shadow").status_code == 422  # no shadow policy chosen
    spec = {"name": "t1", "variants": [{"name": "control"}, {"name": "b", "threshold": 0.7}]}
    assert api.post("/v1/learning/experiments", json=spec).status_code == 201
    assert api.get("/v1/learning/experiments/t1").json()["control"] == "control"
    assert api.post("/v1/learning/experiments/t1/stop").status_code == 204
    assert api.get("/v1/learning/experiments/nope").status_code == 404


def test_the_learning_commands(database_url: str, knowledge: str):
    from typer.testing import CliRunner

    from learnloop.cli.main import app

    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": knowledge, "COLUMNS": "100"}

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code == 0, result.stdout + result.stderr
        return result.stdout

    report = json.loads(run("evaluate", "--policy", "similarity", "--json"))
    assert report["policy"] == "similarity" and report["impressions"] >= 40
    assert "ips" in run("evaluate")
    changed = json.loads(run("learning", "set", "exploration=0.3", "rewards.clicked=0.25"))
    assert changed["exploration"] == 0.3 and changed["rewards"]["clicked"] == 0.25
    started = run("experiments", "start", "cli-exp", "--variant", "control",
                  "--variant", "strict:threshold=0.8,weight=2")
    assert json.loads(started)["variants"][1] == {"name": "strict", "threshold": 0.8, "weight": 2}
    assert "stopped" in run("experiments", "stop", "cli-exp")

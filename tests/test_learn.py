"""The learning engine on the real database and model: the tenant's policy ranks and logs
propensities, the contextual model trains from settled outcomes, shadow mode, offline
evaluation, calibration and experiments."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from learnloop import LearnLoop
from learnloop.cli.demo import sample_items
from learnloop.errors import Conflict, InvalidInput, NotFound
from learnloop.learn import Simulator, calibration, offline, stats
from learnloop.learn.policies import SimilarityPolicy, deterministic_first, eligible
from learnloop.learn.simulate import Trace, play
from learnloop.recommend.confidence import confidences as baseline_confidences

SRC = Path(__file__).resolve().parents[1] / "src" / "learnloop"
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


def test_shadow_mode_logs_what_it_would_show_and_reports_agreement(ll: LearnLoop, knowledge: str):
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


class Reversed(SimilarityPolicy):
    """A policy that disagrees with the baseline: the search's order reversed."""

    name = "reversed"

    def first(self, arms: Any, context: Any, query: str, rng: Any, threshold: Any = None) -> Any:
        allowed = eligible(arms, threshold)
        return deterministic_first(list(range(len(arms)))[::-1], allowed)


def logged_by_similarity(ll: LearnLoop, tenant: str, n: int, seed: int) -> None:
    """n impressions with every candidate over the threshold, their outcomes settled."""
    ll.recommender.set_threshold(tenant, 0.0)
    try:
        simulate(ll, tenant, n, seed=seed)
        drain(ll, now=datetime.now(UTC) + timedelta(seconds=31))
    finally:
        ll.recommender.set_threshold(tenant, 0.5)


@pytest.fixture(scope="module")
def evaluated(ll: LearnLoop) -> str:
    """A tenant of its own for the offline evaluation tests (they log impressions)."""
    tenant = ll.tenants.create(f"evaluated-{uuid.uuid4().hex[:8]}").tenant_id
    ll.items.put_many(tenant, SAMPLES)
    ll.learning.configure(tenant, {"rewards": {"wait_seconds": 30}})
    return tenant


def test_a_deterministic_log_flags_a_policy_it_does_not_support(ll: LearnLoop, evaluated: str):
    """The similarity log gives a policy that disagrees with it no support: the report says
    so instead of endorsing a number, and keeps every figure inside the reward range."""
    logged_by_similarity(ll, evaluated, 30, seed=4)
    with ll.db.connection() as conn:
        report = offline.evaluate(conn, evaluated, Reversed(), limit=30)
    assert report["verdict"] == "insufficient_evidence"
    assert report["support"] < 0.05 and any("supports" in r for r in report["reasons"])
    low, high = report["reward_range"]
    for name, e in report["estimates"].items():
        assert low <= e["low"] <= e["value"] <= e["high"] <= high, name


def test_uniform_exploration_logs_what_gives_offline_evaluation_support(
    ll: LearnLoop, evaluated: str
):
    ll.learning.configure(evaluated, {"uniform_exploration": 0.5})
    try:
        logged_by_similarity(ll, evaluated, 40, seed=9)
    finally:
        ll.learning.configure(evaluated, {"uniform_exploration": 0.0})
    with ll.db.connection() as conn:
        report = offline.evaluate(conn, evaluated, Reversed(), limit=40)
        rows = conn.execute(
            "SELECT impression_id, sum(first_propensity) AS total,"
            " max(propensity) FILTER (WHERE rank = 1 AND shown) AS first,"
            " max(first_propensity) FILTER (WHERE rank = 1 AND shown) AS logged_first,"
            " count(*) FILTER (WHERE first_propensity > 0) AS supported"
            " FROM impression_items WHERE tenant_id = %(t)s GROUP BY impression_id"
            " ORDER BY impression_id DESC LIMIT 40",
            {"t": evaluated},
        ).fetchall()
    assert report["support"] > 0.99 and not any("supports" in r for r in report["reasons"])
    for r in rows:
        assert r["total"] == pytest.approx(1.0, abs=1e-6)
        assert r["first"] == pytest.approx(r["logged_first"])  # rank 1: P(displayed first)
        assert r["supported"] == 10  # every candidate could have been displayed first


def test_a_target_is_replayed_on_the_search_order_not_the_displayed_one(
    ll: LearnLoop, evaluated: str
):
    """Offline evaluation hands the target the candidates as the search ranked them: on a
    log where exploration displayed another item first, the similarity target still puts
    the search's first candidate first, and gives the item displayed first no weight."""
    ll.learning.configure(evaluated, {"uniform_exploration": 0.5})
    try:
        logged_by_similarity(ll, evaluated, 40, seed=10)
    finally:
        ll.learning.configure(evaluated, {"uniform_exploration": 0.0})
    with ll.db.connection() as conn:
        found = offline.replay(conn, evaluated, SimilarityPolicy(), limit=40)
    assert len(found) == 40
    moved = 0
    for decision in found:
        candidates = decision.row["candidates"]
        assert [c["search_position"] for c in candidates] == list(range(1, len(candidates) + 1))
        logged = decision.logged
        assert logged.target[0] == 1.0  # the search's first candidate
        if logged.logged != 0:  # exploration displayed another one first
            moved += 1
            assert logged.target[logged.logged] == 0.0
    assert moved >= 5  # half the impressions explore: 10 candidates, 9 of 10 draws move it


def test_a_dry_run_logs_nothing_and_a_seed_repeats_the_ranking(ll: LearnLoop, evaluated: str):
    knowledge = evaluated

    def count() -> int:
        with ll.db.connection() as conn:
            sql = "SELECT count(*) AS n FROM impressions WHERE tenant_id = %(t)s"
            return int(conn.execute(sql, {"t": knowledge}).fetchone()["n"])

    before = count()
    ll.learning.configure(knowledge, {"policy": "bayes", "exploration": 1.0})
    ll.recommender.set_threshold(knowledge, 0.0)
    try:
        asked = {"query": "disk almost full", "dry_run": True, "seed": 11, "k": 5}
        one = ll.recommender.recommend(knowledge, asked)
        two = ll.recommender.recommend(knowledge, asked)
        other = [
            ll.recommender.recommend(knowledge, asked | {"seed": s}).recommendations
            for s in range(12, 20)
        ]
    finally:
        ll.learning.configure(knowledge, {"policy": "similarity", "exploration": 0.2})
        ll.recommender.set_threshold(knowledge, 0.5)
    assert one.dry_run and count() == before
    with pytest.raises(NotFound):
        ll.recommender.impression(knowledge, one.impression_id)
    ids = [(r.item.item_id, r.propensity) for r in one.recommendations]
    assert ids == [(r.item.item_id, r.propensity) for r in two.recommendations]
    assert any([r.item.item_id for r in o] != [i for i, _ in ids] for o in other)


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
    # the curve is applied to the baseline's confidence of each candidate, in search order
    hits = ll.recommender.search.search(
        knowledge, "disk almost full", k=10, statuses=("active", "deprecated")
    )
    raw = baseline_confidences(hits)
    assert [c.item_id for c in logged.candidates] == [h.item.item_id for h in hits]
    assert [c.confidence for c in logged.candidates] == pytest.approx([fitted(x) for x in raw])
    assert [r["relevance"] for r in relevances] == pytest.approx(
        [c.confidence for c in logged.candidates]
    )
    ll.recommender.set_threshold(knowledge, 0.5)
    with ll.db.connection() as conn:  # back to the baseline's confidence for the other tests
        conn.execute(
            "DELETE FROM learn_models WHERE tenant_id = %s AND name = 'calibration'", (knowledge,)
        )


def _logged_candidates(ll: LearnLoop, tenant: str) -> list[dict[str, Any]]:
    with ll.db.connection() as conn:
        return conn.execute(
            "SELECT c.impression_id::text, i.query, c.rank, c.item_id, c.relevance,"
            " c.baseline_confidence FROM impression_items AS c JOIN impressions AS i"
            " USING (tenant_id, impression_id) WHERE c.tenant_id = %s",
            (tenant,),
        ).fetchall()


def _searched_baseline(ll: LearnLoop, tenant: str, query: str) -> dict[int, float]:
    """Each candidate's baseline confidence for a query, worked out again from the search."""
    hits = ll.recommender.search.search(tenant, query, k=10, statuses=("active", "deprecated"))
    return {h.item.item_id: c for h, c in zip(hits, baseline_confidences(hits), strict=True)}


def test_a_refit_is_made_on_the_baseline_confidence_not_the_calibrated_one(ll: LearnLoop):
    """After a first curve, recommendations log the confidence it gives (relevance) and the
    baseline's before it; the next fit is made on the latter, the one the curve is applied
    to, so it is the fit of the same outcomes on the baseline's confidence."""
    tenant = ll.tenants.create(f"refit-{uuid.uuid4().hex[:8]}").tenant_id
    ll.items.put_many(tenant, SAMPLES)
    ll.learning.configure(tenant, {"rewards": {"wait_seconds": 30}})
    ll.recommender.set_threshold(tenant, 0.1)
    options = {"min_outcomes": 20, "min_per_bin": 5.0}
    simulate(ll, tenant, 45, seed=1)
    drain(ll, now=datetime.now(UTC) + timedelta(seconds=31))
    first = ll.learning.calibrate(tenant, "isotonic", **options)  # type: ignore[arg-type]
    assert first is not None
    simulate(ll, tenant, 45, seed=2)
    drain(ll, now=datetime.now(UTC) + timedelta(seconds=31))

    rows = _logged_candidates(ll, tenant)
    raw = {q: _searched_baseline(ll, tenant, q) for q in {r["query"] for r in rows}}
    by_rank = {(r["impression_id"], r["rank"]): raw[r["query"]][r["item_id"]] for r in rows}
    assert [r["baseline_confidence"] for r in rows] == pytest.approx(list(by_rank.values()))
    after = [r for r in rows if r["relevance"] != pytest.approx(r["baseline_confidence"])]
    assert len(after) >= 45  # the curve moved them: the two columns tell the fits apart
    assert [r["relevance"] for r in after] == pytest.approx(
        [first(r["baseline_confidence"]) for r in after]
    )

    judged = ll.learning._judged(tenant, 50_000)
    expected = calibration.fit(
        [by_rank[(j.impression_id, j.rank)] for j in judged],
        [j.helped for j in judged],
        weights=[j.weight for j in judged],
        **options,  # type: ignore[arg-type]
    )
    report = ll.learning.fit_report(tenant, "isotonic", **options)  # type: ignore[arg-type]
    assert expected is not None and report["calibration"] == expected
    second = ll.learning.calibrate(tenant, "isotonic", **options)  # type: ignore[arg-type]
    assert second == expected, report
    assert ll.learning.calibrate(tenant, "isotonic", **options) == second  # same evidence
    # the threshold's trade-offs are those of the confidence the new curve gives
    firsts = [j for j in ll.learning._judged(tenant, 50_000) if j.rank == 1]
    now = [second(j.baseline) for j in firsts]
    table = ll.learning.thresholds(tenant)["rows"]
    grid = [row["threshold"] for row in table]
    assert table == calibration.tradeoffs(now, [j.helped for j in firsts], grid)
    logged = [j.confidence for j in firsts]  # the first curve's or none: not the one in use
    assert table != calibration.tradeoffs(logged, [j.helped for j in firsts], grid)
    assert ll.learning.tune_threshold(tenant, 0.5) == calibration.threshold_for(
        now, [j.helped for j in firsts], 0.5
    )
    answer = ll.recommender.recommend(tenant, {"query": "disk almost full"})
    candidates = ll.recommender.impression(tenant, answer.impression_id).candidates
    shown = _searched_baseline(ll, tenant, "disk almost full")
    assert [c.confidence for c in candidates] == pytest.approx(
        [second(shown[c.item_id]) for c in candidates]
    )


def test_rows_logged_before_the_baseline_column_keep_it_only_where_no_curve_was_stored(
    ll: LearnLoop,
):
    """Migration 0016's rule for candidates logged before it: their relevance was the raw
    baseline confidence unless the tenant had a stored curve; those of a tenant with one
    stay NULL, and calibration leaves them out."""
    migration = SRC / "db" / "migrations" / "0016_baseline_confidence.sql"
    found = re.search(r"^UPDATE .*?;", migration.read_text(), re.MULTILINE | re.DOTALL)
    assert found is not None
    backfill = found.group(0)
    tenants = [ll.tenants.create(f"legacy-{uuid.uuid4().hex[:8]}").tenant_id for _ in "ab"]
    for tenant in tenants:
        ll.items.put_many(tenant, SAMPLES[:3])
        ll.recommender.recommend(tenant, {"query": "disk almost full"})
    plain, curved = tenants
    read = "SELECT relevance, baseline_confidence FROM impression_items WHERE tenant_id = %s"
    with ll.db.connection() as conn, conn.transaction(force_rollback=True):
        for tenant in tenants:
            conn.execute(
                "UPDATE impression_items SET baseline_confidence = NULL WHERE tenant_id = %s",
                (tenant,),
            )
        curve = calibration.Calibration("isotonic", [0.0, 1.0], [0.2, 0.8], 2, "relevance")
        conn.execute(
            "INSERT INTO learn_models (tenant_id, name, state) VALUES (%s, 'calibration', %s)",
            (curved, curve.to_bytes()),
        )
        conn.execute(backfill)
        kept = conn.execute(read, (plain,)).fetchall()
        left = conn.execute(read, (curved,)).fetchall()
    assert kept and all(r["baseline_confidence"] == r["relevance"] for r in kept)
    assert left and all(r["baseline_confidence"] is None for r in left)


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
        "threshold": None,
        "applied": False,
    }
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
    started = run(
        "experiments",
        "start",
        "cli-exp",
        "--variant",
        "control",
        "--variant",
        "strict:threshold=0.8,weight=2",
    )
    assert json.loads(started)["variants"][1] == {"name": "strict", "threshold": 0.8, "weight": 2}
    assert "stopped" in run("experiments", "stop", "cli-exp")

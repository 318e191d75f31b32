"""The learning algorithms, pure and in memory: one contract every policy passes, the
simulator, learning against the similarity baseline and the oracle, offline estimators
(checked on the Open Bandit Dataset), calibration and experiment statistics."""

from __future__ import annotations

import csv
import gzip
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from learnloop.errors import InvalidInput
from learnloop.learn import calibration, config, evaluation, experiments, memory, registry
from learnloop.learn.bayes import BayesPolicy
from learnloop.learn.config import LearningConfig, MemoryConfig
from learnloop.learn.contextual import ContextualPolicy, Example
from learnloop.learn.memory import MemoryPolicy, Neighbour
from learnloop.learn.policies import Arm, Policy, SimilarityPolicy, UniformExploration
from learnloop.learn.simulate import Learner, run
from learnloop.learn.simulator import Simulator
from learnloop.learn.tally import Stat

from .conftest import shared_data

ARMS = [Arm(n, 0.7 - 0.04 * n, "faq") for n in range(1, 9)]
CONTEXT = {"segment": "smb", "intent": "faq"}
STATS = {("", "", 5): Stat(50, 40.0, 30.0, 30.0), ("segment", "smb", 5): Stat(20, 15.0, 14.0, 14.0)}


def trained_contextual() -> ContextualPolicy:
    model = ContextualPolicy(exploration=0.1, seed=3)
    model.learn([Example(ARMS, CONTEXT, "reset password", 4, 0.1, 1.0)] * 20)
    return model


POLICIES = {
    "similarity": SimilarityPolicy,
    "bayes": lambda: BayesPolicy(STATS, LearningConfig(exploration=0.5)),
    "contextual": trained_contextual,
    "memory": lambda: MemoryPolicy(
        [Neighbour(f"i{n}", 0.8, 4, 2, 1.0) for n in range(3)], MemoryConfig(exploration=0.5)
    ),
}


def test_the_contract_suite_covers_every_policy() -> None:
    assert set(POLICIES) == set(config.POLICIES) == set(registry.ENTRIES)


def test_the_registry_names_the_policies_it_has_when_asked_for_another() -> None:
    with pytest.raises(InvalidInput, match="no policy 'greedy'; use one of similarity, bayes"):
        registry.entry("greedy")


@pytest.mark.parametrize("name", config.POLICIES)
def test_each_policy_is_simulated_as_its_entry_says(name: str) -> None:
    learner = Learner(name, LearningConfig(policy=name), seed=1)
    if registry.ENTRIES[name].simulated is None:
        assert name not in registry.simulated_policies()
        with pytest.raises(InvalidInput, match=f"cannot run the {name} policy"):
            learner.policy()
    else:
        assert learner.policy().name == name
        assert run(name, Simulator.synthetic(seed=1), 20, seed=1).values  # it runs


def test_a_policy_that_cannot_be_evaluated_offline_says_why_before_reading_anything() -> None:
    for name, entry in registry.ENTRIES.items():
        if entry.offline is None:
            assert entry.not_offline, f"{name} gives no reason"
            with pytest.raises(InvalidInput, match=name):
                registry.offline(None, "t", name, LearningConfig())  # type: ignore[arg-type]


@pytest.fixture(params=sorted(POLICIES))
def policy(request: pytest.FixtureRequest) -> Policy:
    made: Policy = POLICIES[request.param]()
    return made


def test_every_policy_ranks_every_arm_once_with_propensities(policy: Policy):
    ranking = policy.rank(ARMS, CONTEXT, "reset password", np.random.default_rng(1))
    assert sorted(ranking.order) == list(range(len(ARMS)))
    assert all(0 < p <= 1 for p in ranking.propensities)
    first = policy.first(ARMS, CONTEXT, "reset password", np.random.default_rng(1))
    assert sum(first) == pytest.approx(1.0)
    assert first[ranking.order[0]] > 0  # what it put first, it can put first


def test_every_policy_ranks_no_arms(policy: Policy):
    ranking = policy.rank([], CONTEXT, "q", np.random.default_rng(1))
    assert (ranking.order, ranking.propensities) == ([], [])
    assert policy.first([], CONTEXT, "q", np.random.default_rng(1)) == []


def test_every_policy_is_deterministic_given_its_seed(policy: Policy):
    one = policy.rank(ARMS, CONTEXT, "q", np.random.default_rng(7))
    two = policy.rank(ARMS, CONTEXT, "q", np.random.default_rng(7))
    assert one == two


# The favourite of bayes (item 5) and of the trained contextual model is held back by the
# threshold: what is displayed is the policy's order without it.
HELD_BACK = [
    Arm(a.item_id, a.similarity, a.kind, 0.3 if a.item_id in (1, 5) else 0.8 - 0.03 * n)
    for n, a in enumerate(ARMS)
]
THRESHOLD = 0.5
REPLAYED = {
    **POLICIES,
    "uniform+similarity": lambda: UniformExploration(SimilarityPolicy(), 0.3),
    "uniform+bayes": lambda: UniformExploration(POLICIES["bayes"](), 0.3),
}


@pytest.mark.parametrize("name", sorted(REPLAYED))
def test_logged_propensities_replay_as_the_policy_displays(name: str) -> None:
    """Each logged propensity is the policy's own probability of displaying that arm at
    the displayed rank, and ``firsts`` its probability of displaying it first, with the
    threshold holding back the policy's favourite; ``first`` gives the same."""
    policy = REPLAYED[name]()
    rng = np.random.default_rng(5)
    runs = 3000
    places: Counter[tuple[int, int]] = Counter()
    logged: dict[tuple[int, int], list[float]] = {}
    firsts = np.zeros(len(ARMS))
    for _ in range(runs):
        ranking = policy.rank(HELD_BACK, CONTEXT, "reset password", rng, THRESHOLD)
        confidences = ranking.confidences or [a.relevance for a in HELD_BACK]
        shown = [n for n in ranking.order if confidences[n] >= THRESHOLD]  # type: ignore[operator]
        assert all(HELD_BACK[n].item_id not in (1, 5) for n in shown) or name == "memory"
        for place, arm in enumerate(shown[:3]):
            places[arm, place] += 1
            logged.setdefault((arm, place), []).append(ranking.propensities[arm])
        assert ranking.firsts is not None and sum(ranking.firsts) == pytest.approx(1.0)
        firsts += ranking.firsts
    first_place = {arm: places[arm, 0] / runs for arm in range(len(ARMS))}
    for arm in range(len(ARMS)):
        assert firsts[arm] / runs == pytest.approx(first_place[arm], abs=0.03), arm
    exact_places = name != "uniform+bayes"  # places after the first: see UniformExploration
    for (arm, place), values in logged.items():
        if place == 0 or exact_places:
            assert float(np.mean(values)) == pytest.approx(places[arm, place] / runs, abs=0.04)
    again = policy.first(HELD_BACK, CONTEXT, "reset password", rng, THRESHOLD)
    for arm in range(len(ARMS)):
        assert again[arm] == pytest.approx(first_place[arm], abs=0.04), arm


def test_bayes_prefers_the_item_with_evidence_and_explores_the_others():
    greedy = BayesPolicy(STATS, LearningConfig(exploration=0.0))
    ranking = greedy.rank(ARMS, CONTEXT, "q", np.random.default_rng(0))
    assert ARMS[ranking.order[0]].item_id == 5 and ranking.propensities == [1.0] * len(ARMS)
    first = BayesPolicy(STATS, LearningConfig(exploration=1.0)).first(
        ARMS, CONTEXT, "q", np.random.default_rng(0)
    )
    assert max(first) == first[4] and sum(p > 0 for p in first) >= 3


def test_the_contextual_model_round_trips_through_its_bytes():
    model = trained_contextual()
    again = ContextualPolicy.from_bytes(model.to_bytes(), exploration=0.1, seed=3)
    assert again.pmf(ARMS, CONTEXT, "reset password") == model.pmf(ARMS, CONTEXT, "reset password")
    assert np.argmax(model.pmf(ARMS, CONTEXT, "reset password")) == 4  # it learned item 5


def test_contextual_propensities_are_exact():
    model = trained_contextual()
    rng = np.random.default_rng(0)
    counts: Counter[tuple[int, int]] = Counter()
    for _ in range(2000):
        ranking = model.rank(ARMS, CONTEXT, "reset password", rng)
        counts.update((arm, place) for place, arm in enumerate(ranking.order))
    ranking = model.rank(ARMS, CONTEXT, "reset password", rng)
    for place, arm in enumerate(ranking.order):
        assert counts[arm, place] / 2000 == pytest.approx(ranking.propensities[arm], abs=0.03)


def test_the_simulator_is_seeded_and_its_oracle_is_best():
    one, two = Simulator.synthetic(seed=4), Simulator.synthetic(seed=4)
    queries = [one.query() for _ in range(20)]
    assert queries == [two.query() for _ in range(20)]
    assert [one.respond(q, ["i1", "i2"]) for q in queries] == [
        two.respond(q, ["i1", "i2"]) for q in queries
    ]
    for q in queries:
        keys = [key for key, _ in one.candidates(q, 10)]
        assert one.value(q, one.oracle(q, keys, 3)) >= one.value(q, keys[:3])


def test_the_simulator_clicks_follow_quality_and_position():
    sim = Simulator.synthetic(seed=2)
    q = sim.query()
    good = sim.oracle(q, list(sim.items), 1)[0]
    bad = min(sim.items, key=lambda k: sim.quality(q, k))
    outcomes = [o for _ in range(3000) for o in sim.respond(q, [good, bad])]
    won = Counter((o.type, o.rank) for o in outcomes)
    assert won["succeeded", 1] / 3000 == pytest.approx(sim.quality(q, good), abs=0.03)
    assert won["viewed", 2] / 3000 == pytest.approx(0.5, abs=0.03)  # position bias 1/r
    assert won["succeeded", 2] < won["succeeded", 1] / 5


@pytest.fixture(scope="module")
def learned() -> dict[str, tuple[float, float]]:
    """Mean value of the last 500 of 2,500 interactions, and the oracle's, per policy."""
    traces = {
        name: run(name, Simulator.synthetic(seed=11), 2500, seed=11)
        for name in ("similarity", "bayes", "contextual")
    }
    return {name: (t.mean(500), t.oracle_mean(500)) for name, t in traces.items()}


@pytest.mark.parametrize("name", ["bayes", "contextual"])
def test_learned_policies_beat_the_baseline_and_near_the_oracle(
    learned: dict[str, tuple[float, float]], name: str
):
    baseline, _ = learned["similarity"]
    value, oracle = learned[name]
    assert value > baseline * 1.05
    assert value > 0.8 * oracle


def read_obd(policy: str) -> list[dict[str, str]]:
    path = shared_data(f"open_bandit_dataset_small/{policy}/all/all.csv.gz")
    with gzip.open(Path(path), "rt") as file:
        return list(csv.DictReader(file))


def test_off_policy_estimates_of_bernoulli_ts_from_the_random_log_match_its_click_rate():
    """The Open Bandit Dataset check: the BTS policy's click rate, estimated from the log
    of the uniform-random policy, falls in the interval of its on-policy value."""
    random_log, bts_log = read_obd("random"), read_obd("bts")
    shown = Counter((r["item_id"], r["position"]) for r in bts_log)
    per_position = Counter(r["position"] for r in bts_log)
    items = sorted({r["item_id"] for r in random_log}, key=int)
    log = []
    for row in random_log:  # one decision per row: which item at this position
        pos = row["position"]
        target = [shown[item, pos] / per_position[pos] for item in items]
        logged = items.index(row["item_id"])
        log.append(
            evaluation.Logged(
                [int(i) for i in items],
                logged,
                float(row["propensity_score"]),
                float(row["click"]),
                target,
            )
        )
    clicks = [float(r["click"]) for r in bts_log]
    on_policy = float(np.mean(clicks))
    half = 1.96 * math.sqrt(on_policy * (1 - on_policy) / len(clicks))
    for name, estimate in evaluation.estimates(log).items():
        assert on_policy - half <= estimate.value <= on_policy + half, name
        assert estimate.contains(on_policy), name


def test_ips_is_unbiased_and_dr_tighter_on_a_known_bandit():
    rng = np.random.default_rng(0)
    means = np.array([0.2, 0.5, 0.8])
    target = [0.1, 0.1, 0.8]
    log = []
    for _ in range(5000):
        arm = int(rng.integers(3))
        log.append(
            evaluation.Logged([1, 2, 3], arm, 1 / 3, float(rng.random() < means[arm]), target)
        )
    truth = float(np.dot(target, means))
    found = evaluation.estimates(log)
    assert all(e.contains(truth) for e in found.values())
    assert found["dr"].high - found["dr"].low < found["ips"].high - found["ips"].low


def bandit_log(
    logging: list[float], target: list[float], means: list[float], n: int = 4000, seed: int = 0
) -> list[evaluation.Logged]:
    """Decisions of a logging policy over three arms with known mean rewards."""
    rng = np.random.default_rng(seed)
    log = []
    for _ in range(n):
        arm = int(rng.choice(3, p=logging))
        reward = float(rng.random() < means[arm])
        log.append(evaluation.Logged([1, 2, 3], arm, logging[arm], reward, target, logging))
    return log


def test_a_deterministic_log_cannot_endorse_a_policy_it_never_tried():
    log = bandit_log([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.9, 0.1])
    found = evaluation.assess(log)
    assert found.support == 0.0 and found.verdict == "insufficient_evidence"
    assert "supports 0%" in found.reasons[0]
    # without the logged distribution, only the logged action counts as supported
    blind = [evaluation.Logged(x.items, x.logged, x.propensity, x.reward, x.target) for x in log]
    assert evaluation.assess(blind).verdict == "insufficient_evidence"


def test_estimates_stay_in_the_reward_range_and_say_when_they_were_clamped():
    # rare logged actions with high rewards: raw IPS far above 1
    log = bandit_log([0.9, 0.05, 0.05], [0.0, 0.5, 0.5], [0.0, 1.0, 1.0], n=300, seed=3)
    assert evaluation.ips(log).value > 1.0 or evaluation.ips(log).high > 1.0
    found = evaluation.assess(log, (-0.1, 1.0))
    for name, e in found.estimates.items():
        assert -0.1 <= e.low <= e.value <= e.high <= 1.0, name
    assert any(e.clamped for e in found.estimates.values())
    nothing = evaluation.snips(bandit_log([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1, 1, 1]), (-0.1, 1))
    assert (nothing.low, nothing.high) == (-0.1, 1)  # no weight at all: the whole range


@pytest.mark.parametrize(
    ("target", "verdict"), [([0.0, 0.0, 1.0], "better"), ([1.0, 0.0, 0.0], "worse")]
)
def test_with_support_the_verdict_follows_the_paired_difference(target: list[float], verdict: str):
    means = [0.2, 0.5, 0.8]
    found = evaluation.assess(bandit_log([1 / 3, 1 / 3, 1 / 3], target, means))
    assert found.support == pytest.approx(1.0) and found.verdict == verdict
    assert found.estimates["snips"].contains(float(np.dot(target, means)))
    assert found.difference.contains(float(np.dot(target, means)) - 0.5)


def test_clipping_bounds_the_weights_and_is_reported():
    log = bandit_log([0.98, 0.01, 0.01], [0.0, 1.0, 0.0], [0.5, 0.5, 0.5], n=3000)
    found = evaluation.assess(log, max_weight=20)
    assert found.clipped_share > 0
    assert float(evaluation.weights(log, 20).max()) == 20
    assert found.effective_sample_size < 100  # few impressions carry the weight


def test_calibration_is_monotone_and_reliable_on_its_own_data():
    rng = np.random.default_rng(0)
    sims = rng.uniform(0.2, 0.8, 3000)
    helped = rng.random(3000) < np.clip(2 * sims - 0.5, 0, 1)
    for method in ("isotonic", "platt"):
        curve = calibration.fit(list(sims), list(helped), method)  # type: ignore[arg-type]
        assert curve is not None
        bins = calibration.reliability([curve(s) for s in sims], list(helped))
        assert all(abs(b["predicted"] - b["observed"]) < 0.1 for b in bins if b["count"] > 100)
        assert calibration.Calibration.from_bytes(curve.to_bytes()) == curve
    assert calibration.fit([0.5] * 10, [True] * 10) is None


@pytest.mark.parametrize("method", ["isotonic", "platt"])
@pytest.mark.parametrize("seed", range(6))
def test_calibration_never_falls_and_each_knot_stands_on_enough_weight(
    method: calibration.Method, seed: int
):
    """Whatever the outcomes say, the curve's knots rise (or stay) with the baseline's
    confidence, each on at least min_per_bin of weight; where they fall, isotonic goes
    flat and Platt is refused with its reason."""
    rng = np.random.default_rng(seed)
    values = rng.beta(0.7, 0.7, 800)
    slope = [-1.0, -0.3, 0.0, 0.3, 1.0, 2.0][seed]
    helped = rng.random(800) < np.clip(0.5 + slope * (values - 0.5), 0.02, 0.98)
    weights = rng.choice([0.25, 0.5, 1.0], 800)
    found = calibration.attempt(
        list(values), list(helped), method, weights=list(weights), min_per_bin=30
    )
    if isinstance(found, str):
        assert method == "platt" and slope <= 0 and "would fall" in found
        return
    assert found.x == sorted(found.x) and found.y == sorted(found.y)
    assert min(found.weights) >= 30 and sum(found.weights) == pytest.approx(weights.sum())
    grid = np.linspace(0, 1, 101)
    assert np.all(np.diff([found(v) for v in grid]) >= -1e-12)  # monotone between knots too
    if slope < 0:
        assert found.y[-1] - found.y[0] < 0.1  # no rise where the outcomes fall: nearly flat


def test_too_little_evidence_gives_no_curve_and_says_why():
    assert "too few" in str(calibration.attempt([0.5] * 199, [True, False] * 99 + [True]))
    assert "too few" in str(calibration.attempt([0.5] * 300, [True] * 300))  # all alike
    light = calibration.attempt([0.1, 0.9] * 150, [False, True] * 150, weights=[0.1] * 300)
    assert isinstance(light, str) and "too little weight" in light  # 30 of weight in all


def test_a_fit_that_would_hide_helpful_answers_is_refused():
    """Outcomes where few items helped pull a curve below the threshold everywhere: it is
    refused, since it would show less than FLOOR of the helpful items the baseline shows."""
    rng = np.random.default_rng(4)
    values = list(rng.uniform(0.55, 1.0, 1000))
    helped = list(rng.random(1000) < 0.2)  # most outcomes did not help, at any confidence
    weights = [1.0] * 1000
    low = calibration.fit(values, helped, weights=weights)
    assert low is not None and max(low.y) < 0.5
    kept, before, after = calibration.keeps_answers(low, values, helped, weights, 0.5)
    assert not kept and before == sum(helped) and after == 0
    rising = list(rng.random(1000) < np.asarray(values))  # helps as often as it says
    good = calibration.fit(values, rising, weights=weights)
    assert good is not None
    assert calibration.keeps_answers(good, values, rising, weights, 0.5)[0]


def test_only_outcomes_that_say_something_are_judged():
    """Read as a cascade: above an item that helped, items were read and passed over;
    below it, they were not read and count for nothing; on a page where nothing helped an
    item counts only by the chance its rank was read (position bias 1: 1 / rank)."""
    helped_second = [Neighbour("a", 1.0, rank, rank, r) for rank, r in [(1, 0), (2, 1), (3, 0)]]
    assert memory.judge(helped_second, 1.0) == [(1, 0.0, 1.0), (2, 1.0, 0.0)]
    nothing = [Neighbour("b", 1.0, rank, rank, 0.0) for rank in (1, 2, 4)]
    assert memory.judge(nothing, 1.0) == [(1, 0.0, 1.0), (2, 0.0, 0.5), (4, 0.0, 0.25)]


def test_the_tradeoff_table_accounts_for_every_impression_at_every_threshold():
    rng = np.random.default_rng(5)
    first = list(rng.random(500))
    helped = list(rng.random(500) < np.asarray(first))
    rows = calibration.tradeoffs(first, helped, [0.0, 0.25, 0.5, 0.75, 0.95])
    assert all(r["right"] + r["wrong"] + r["nothing"] == pytest.approx(1, abs=0.002) for r in rows)
    assert rows[0]["nothing"] == 0 and rows[0]["right"] == round(sum(helped) / 500, 3)
    assert [r["nothing"] for r in rows] == sorted(r["nothing"] for r in rows)
    assert [r["right"] for r in rows] == sorted((r["right"] for r in rows), reverse=True)
    precision = [r["right"] / (r["right"] + r["wrong"]) for r in rows]
    assert precision[-1] > precision[0] + 0.2  # a higher threshold: fewer wrong answers


def test_experiment_assignment_is_deterministic_and_follows_weights():
    variants = [{"name": "a", "weight": 3}, {"name": "b", "weight": 1}]
    got = Counter(experiments.assign("exp", f"user-{n}", variants) for n in range(8000))
    assert got["a"] / 8000 == pytest.approx(0.75, abs=0.02)
    assert experiments.assign("exp", "u", variants) == experiments.assign("exp", "u", variants)
    assert experiments.assign("exp", None, variants) is None


def test_experiment_analysis_finds_effects_and_sample_ratio_mismatch():
    rng = np.random.default_rng(1)

    def group(name: str, n: int, rate: float) -> experiments.Group:
        r = (rng.random(n) < rate).astype(float)
        return experiments.Group(name, 1.0, n, float(r.sum()), float((r * r).sum()))

    result = experiments.analyse([group("control", 20000, 0.30), group("better", 20000, 0.33)])
    better = result["variants"][1]
    assert better["interval"][0] > 0 and better["probability_to_beat_control"] > 0.99
    assert better["settled"] and better["always_valid_interval"][0] > 0
    assert not result["sample_ratio"]["mismatch"]
    skewed = experiments.analyse([group("control", 20000, 0.3), group("b", 18000, 0.3)])
    assert skewed["sample_ratio"]["mismatch"]
    assert not skewed["variants"][1]["settled"]

"""The memory policy: pure rules (no evidence = the baseline; evidence only through near
questions; a cascade reading of each impression) and, on the real database and model, a
paraphrase answered right after outcomes of other wordings, and an unanswerable question
that stops being answered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from learnloop import LearnLoop
from learnloop.learn import stats
from learnloop.learn.config import POLICIES, LearningConfig, MemoryConfig
from learnloop.learn.memory import MemoryPolicy, Neighbour, evidence, monotone_prior
from learnloop.learn.policies import Arm

ARMS = [Arm(1, 0.7, "faq", 0.8), Arm(2, 0.65, "faq", 0.6), Arm(3, 0.5, "faq", 0.3)]
NO_EXPLORATION = MemoryConfig(exploration=0.0)


def rank(policy: MemoryPolicy, arms: list[Arm] = ARMS, seed: int = 0) -> list[int]:
    ranking = policy.rank(arms, {}, "q", np.random.default_rng(seed))
    return [arms[n].item_id for n in ranking.order]


def test_without_evidence_it_is_the_baseline() -> None:
    policy = MemoryPolicy([], MemoryConfig(exploration=1.0))
    assert rank(policy) == [1, 2, 3]
    ranking = policy.rank(ARMS, {}, "q", np.random.default_rng(0))
    assert ranking.propensities == [1.0, 1.0, 1.0]  # nothing to explore yet: no draw
    assert ranking.confidences == pytest.approx([0.8, 0.6, 0.3])


def test_the_prior_never_rises_along_the_baseline_order() -> None:
    arms = [Arm(1, 0.7, "faq", 0.4), Arm(2, 0.6, "faq", 0.9), Arm(3, 0.5, "faq", 0.2)]
    assert monotone_prior(arms).tolist() == pytest.approx([0.4, 0.4, 0.2])
    assert rank(MemoryPolicy([], NO_EXPLORATION), arms) == [1, 2, 3]


def test_an_item_that_helped_near_questions_comes_first() -> None:
    # Near questions were shown 1, 2, 3: the person read past 1 and 2 and 3 helped.
    near = [
        Neighbour(f"i{n}", 0.9, item, item, 1.0 if item == 3 else 0.0)
        for n in range(3)
        for item in (1, 2, 3)
    ]
    assert rank(MemoryPolicy(near, NO_EXPLORATION)) == [3, 1, 2]


def test_outcomes_of_unrelated_questions_count_for_nothing() -> None:
    far = [Neighbour(f"i{n}", 0.3, 3, 3, 1.0) for n in range(50)]  # below the floor
    assert evidence(far, MemoryConfig()) == {}
    assert rank(MemoryPolicy(far, NO_EXPLORATION)) == [1, 2, 3]


def test_an_item_read_and_passed_over_loses_confidence() -> None:
    # Near questions showed item 1 first and nothing helped: it was read (rank 1) and failed.
    passed = [Neighbour(f"i{n}", 0.95, 1, 1, 0.0) for n in range(4)]
    policy = MemoryPolicy(passed, NO_EXPLORATION)
    before = MemoryPolicy([], NO_EXPLORATION).confidences(ARMS)
    after = policy.confidences(ARMS)
    assert after[0] < before[0] / 2 and after[1:] == before[1:]
    assert rank(policy)[0] == 2  # no longer first for questions like these


def test_items_below_the_one_that_helped_were_not_read() -> None:
    one = [
        Neighbour("a", 1.0, 1, 1, 0.0),
        Neighbour("a", 1.0, 2, 2, 1.0),
        Neighbour("a", 1.0, 3, 3, 0.0),
    ]
    found = evidence(one, MemoryConfig(floor=0.0, sharpness=1.0))
    assert found == {1: (0.0, 1.0), 2: (1.0, 0.0)}  # 3 is neither credited nor blamed


def test_answers_of_near_questions_are_suggested_as_candidates() -> None:
    near = [Neighbour("a", 0.9, 9, 1, 1.0), Neighbour("b", 0.9, 2, 1, 1.0)]
    assert MemoryPolicy(near).suggested([1, 2, 3]) == [9]


def test_exploration_is_seeded_and_logs_propensities() -> None:
    near = [Neighbour(f"i{n}", 0.8, 2, 2, 1.0) for n in range(2)]
    policy = MemoryPolicy(near, MemoryConfig(exploration=1.0))
    first = policy.rank(ARMS, {}, "q", np.random.default_rng(7))
    again = policy.rank(ARMS, {}, "q", np.random.default_rng(7))
    assert first == again
    assert all(0 < p <= 1 for p in first.propensities)
    shares = policy.first(ARMS, {}, "q", np.random.default_rng(0))
    assert sum(shares) == pytest.approx(1.0) and min(shares) < 1.0


@pytest.mark.parametrize("name", POLICIES)
def test_every_policy_ranks_no_candidates(ll: LearnLoop, tenant: str, name: str) -> None:
    ll.learning.configure(tenant, {"policy": name})
    answer = ll.recommender.recommend(tenant, {"query": "anything at all", "kinds": ["tool"]})
    assert (answer.policy, answer.strategy, answer.recommendations) == (
        name,
        "no_confident_match",
        [],
    )


@pytest.mark.parametrize("name", POLICIES)
def test_every_registered_policy_is_built_live_from_the_store(
    ll: LearnLoop, tenant: str, name: str
) -> None:
    """One path from a policy's name to the policy a request ranks with (learn/registry.py)."""
    stored = ll.items.put_many(
        tenant, [{"kind": "faq", "external_id": e, "title": t, "body": b} for e, t, b in FAQ]
    )
    ll.recommender.set_threshold(tenant, 0.0)
    ll.learning.configure(tenant, {"policy": name})
    answer = ll.recommender.recommend(tenant, {"query": "I forgot my password", "k": 2})
    assert answer.policy == name and answer.recommendations
    arms = [Arm(item.item_id, 0.5, "faq") for item, _ in stored]
    with ll.db.connection() as conn:
        built = ll.recommender.policies.build(conn, tenant, name, LearningConfig(), arms, {})
    assert built.name == name


FAQ = [
    ("pw", "Reset a forgotten password", "Use the reset link on the sign-in page."),
    ("card", "Order a replacement card", "Cards > Replace card; it arrives in five days."),
    ("fee", "Why was I charged a fee", "Fees apply to transfers abroad and cash withdrawals."),
    ("limit", "Raise my spending limit", "Limits > Spending; verified accounts can go higher."),
]


def settle(ll: LearnLoop) -> None:
    while stats.update(ll.db, now=datetime.now(UTC) + timedelta(seconds=5)) > 0:
        pass


def test_a_new_wording_gets_the_answer_that_helped_other_wordings(
    ll: LearnLoop, tenant: str
) -> None:
    stored = ll.items.put_many(
        tenant, [{"kind": "faq", "external_id": e, "title": t, "body": b} for e, t, b in FAQ]
    )
    ids = {item.external_id: item.item_id for item, _ in stored}
    ll.recommender.set_threshold(tenant, 0.0)
    ll.learning.configure(
        tenant, {"policy": "memory", "rewards": {"wait_seconds": 1}, "memory": {"exploration": 0.0}}
    )
    # Asked in words that the search ranks under another item, answered by the fee item.
    asked = [
        "money disappeared from my account after I paid in euros",
        "there is money missing after my payment in euros",
        "why did my account lose money when I paid in another currency",
    ]
    new = "money vanished from my account after paying in dollars"
    before = ll.recommender.recommend(tenant, {"query": new, "k": 3}, log=False)
    for question in asked * 2:
        answer = ll.recommender.recommend(tenant, {"query": question, "k": 3})
        shown = [r.item.item_id for r in answer.recommendations]
        assert ids["fee"] in shown
        ll.events.record(
            tenant,
            [
                {"type": t, "impression_id": str(answer.impression_id), "item_id": ids["fee"]}
                for t in ("clicked", "succeeded")
            ],
        )
    settle(ll)
    after = ll.recommender.recommend(tenant, {"query": new, "k": 3}, log=False)
    assert after.recommendations[0].item.item_id == ids["fee"]
    assert after.recommendations[0].confidence > before.recommendations[0].confidence or (
        before.recommendations[0].item.item_id != ids["fee"]
    )


def test_a_question_nothing_answers_stops_being_answered(ll: LearnLoop, tenant: str) -> None:
    ll.items.put_many(
        tenant, [{"kind": "faq", "external_id": e, "title": t, "body": b} for e, t, b in FAQ]
    )
    ll.learning.configure(
        tenant, {"policy": "memory", "rewards": {"wait_seconds": 1}, "memory": {"exploration": 0.0}}
    )
    ll.recommender.set_threshold(tenant, 0.3)
    question = "how do I reset my password for the mobile app"
    first = ll.recommender.recommend(tenant, {"query": question})
    assert first.recommendations  # shown at first: the password item looks right
    for _ in range(6):  # shown and read each time (rank 1), and it never helps
        ll.recommender.recommend(tenant, {"query": question + " please"})
    settle(ll)
    later = ll.recommender.recommend(tenant, {"query": question}, log=False)
    assert later.strategy == "no_confident_match"


def test_evaluation_requests_are_not_logged(ll: LearnLoop, tenant: str) -> None:
    ll.items.put_many(
        tenant, [{"kind": "faq", "external_id": e, "title": t, "body": b} for e, t, b in FAQ]
    )
    answer = ll.recommender.recommend(tenant, {"query": "lost card"}, log=False)
    assert answer.recommendations
    with ll.db.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM impressions WHERE tenant_id = %s", (tenant,)
        ).fetchone()
    assert row is not None and row["n"] == 0


def test_the_memory_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="floor"):
        LearningConfig.of({"memory": {"floor": 1.5}})


def test_the_memory_held_in_process_follows_the_database(ll: LearnLoop, tenant: str) -> None:
    from learnloop.learn.recall import Recall

    ll.items.put_many(
        tenant, [{"kind": "faq", "external_id": e, "title": t, "body": b} for e, t, b in FAQ]
    )
    recall = Recall()
    vector = ll.search.query_vector("lost card")
    name = ll.embedder.name
    with ll.db.connection() as conn:
        assert recall.nearest(conn, tenant, vector, name, k=5, window=3) == []
    asked = ["lost card", "my card is lost", "reset password", "card stolen"]
    ids = [str(ll.recommender.recommend(tenant, {"query": q}).impression_id) for q in asked]
    with ll.db.connection() as conn:
        near = recall.nearest(conn, tenant, vector, name, k=5, window=3)
        # The window keeps the latest 3: the first "lost card" is gone, the others remain.
        assert [i for i, _ in near] and ids[0] not in [i for i, _ in near]
        assert {i for i, _ in near} == set(ids[1:])
        assert near[0][0] in (ids[1], ids[3]) and near[0][1] > near[-1][1]
        assert recall.nearest(conn, tenant, vector, "another-embedder", k=5, window=3) == []


def test_a_memory_tenant_is_not_recalibrated(ll: LearnLoop, tenant: str) -> None:
    ll.learning.configure(tenant, {"policy": "memory"})
    report = ll.learning.fit_report(tenant, min_outcomes=1)
    assert report["kept"] is False and "memory policy" in report["reason"]
    assert ll.learning.calibrate(tenant, min_outcomes=1) is None


def test_the_held_matrix_keeps_the_latest_rows_in_order() -> None:
    """Rows are written after the last and leave from the front; the matrix moves them to
    the front or grows only when the room runs out, and always holds the latest window."""
    from learnloop.learn.recall import _Held

    rng = np.random.default_rng(3)
    held, window, every, ids = _Held("e"), 300, np.zeros((0, 4), np.float32), []
    for batch in range(60):
        size = int(rng.integers(1, 40)) if batch else 250
        new = rng.random((size, 4)).astype(np.float32)
        names = [f"{batch}-{n}" for n in range(size)]
        held.append(new, names)
        every, ids = np.vstack([every, new]), ids + names
        if held.count > window:
            held.drop_oldest(held.count - window)
        assert held.count == min(window, len(ids))
        assert np.allclose(
            held.similarities(np.ones(4, np.float32)),
            every[-held.count :] @ np.ones(4, np.float32),
            rtol=0,
            atol=1e-6,
        )
        assert [held.id_at(n) for n in range(held.count)] == ids[-held.count :]
    assert held.rows is not None and len(held.rows) < 2 * (window + 256)


QUESTIONS = [
    "I lost my card",
    "my card was stolen yesterday",
    "how do I reset my password",
    "I forgot the password to my account",
    "why was I charged a fee abroad",
    "what is this fee on my statement",
    "can I raise my spending limit",
    "my limit is too low for this purchase",
    "the card does not arrive",
    "where is my replacement card",
    "sign-in page says wrong password",
    "cash withdrawal cost me extra",
]


def recomputed(
    conn: Any, tenant: str, vector: Any, embedder: str, k: int, window: int
) -> tuple[list[str], list[float], list[tuple[str, int, float]]]:
    """The nearest and their outcomes from the database alone: the latest ``window``
    vectors, every similarity, the ``k`` best, their settled or rewarded outcomes."""
    rows = conn.execute(
        "SELECT impression_id, query_vector FROM impression_vectors WHERE tenant_id = %s"
        " AND embedder = %s ORDER BY created_at DESC LIMIT %s",
        (tenant, embedder, window),
    ).fetchall()
    sims = [
        (float(np.dot(np.asarray(r["query_vector"].to_numpy()), vector)), str(r["impression_id"]))
        for r in rows
    ]
    best = sorted(sims, reverse=True)[:k]
    outcomes = conn.execute(
        "SELECT impression_id, item_id, reward FROM learn_outcomes WHERE tenant_id = %s"
        " AND impression_id = ANY(%s::uuid[]) AND shown AND (settled OR priority > 0)",
        (tenant, [i for _, i in best]),
    ).fetchall()
    place = {i: n for n, (_, i) in enumerate(best)}
    found = sorted((place[str(o["impression_id"])], o["item_id"], o["reward"]) for o in outcomes)
    return (
        [i for _, i in best],
        [s for s, _ in best],
        [(best[p][1], item, reward) for p, item, reward in found],
    )


def test_the_memory_read_in_one_round_trip_is_the_full_recomputation(
    ll: LearnLoop, tenant: str
) -> None:
    """The matrix held in process, brought up to date and read with the outcomes in one
    query (a second one where a nearest question just left the window), finds what a
    recomputation from the database finds, while questions, outcomes and evictions come
    in between."""
    from learnloop.learn.recall import Recall

    ll.items.put_many(
        tenant, [{"kind": "faq", "external_id": e, "title": t, "body": b} for e, t, b in FAQ]
    )
    ll.recommender.set_threshold(tenant, 0.0)
    recall, name, checked = Recall(), ll.embedder.name, 0
    for n, question in enumerate(QUESTIONS):
        answer = ll.recommender.recommend(tenant, {"query": question, "k": 2})
        kind = ("succeeded", "clicked", "dismissed")[n % 3]
        ll.events.record(
            tenant, [{"type": kind, "impression_id": str(answer.impression_id), "rank": 1 + n % 2}]
        )
        if n % 3 == 2:
            settle(ll)
        vector = np.asarray(ll.search.query_vector(QUESTIONS[(n * 5 + 3) % len(QUESTIONS)]))
        with ll.db.connection() as conn:
            near, outcomes = recall.recall(conn, tenant, vector, name, k=3, window=5)
            ids, sims, want = recomputed(conn, tenant, vector, name, 3, 5)
        assert [i for i, _ in near] == ids
        assert [s for _, s in near] == pytest.approx(sims, abs=1e-5)
        got = [(str(o["impression_id"]), o["item_id"], o["reward"]) for o in outcomes]
        assert got == want
        checked += bool(want)
    assert checked >= 4  # outcomes were there to be read

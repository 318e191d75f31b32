"""The embedding adapter: fitted on real questions and the real model it beats the
unadapted ranking on held-out ones and is kept; it is refused with too few pairs or when it
does not win; the store keeps it versioned with its embedder, the memory policy ranks with
it, another embedder's questions never meet it, and it can be dropped."""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from learnloop import LearnLoop
from learnloop.learn import stats
from learnloop.learn.adapter import Adapter, _cosine_top, fit, train
from learnloop.learn.adapters import RECHECK, adapter_tenants
from learnloop.learn.config import LearningConfig
from learnloop.learn.memory import MemoryPolicy
from learnloop.learn.policies import Arm
from learnloop.worker.app import PERIODIC
from tests.conftest import shared_data

# Six intents about transfers that MiniLM puts close together.
INTENTS = (
    "pending_transfer",
    "transfer_timing",
    "transfer_not_received_by_recipient",
    "balance_not_updated_after_bank_transfer",
    "failed_transfer",
    "declined_transfer",
)
PER_INTENT = 40
ASKED = 16  # questions per intent asked through recommend in the store test


@pytest.fixture(scope="module")
def questions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    with shared_data("banking77/train.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["category"] in INTENTS and len(found[row["category"]]) < PER_INTENT + 3:
                found[row["category"]].append(" ".join(row["text"].split()))
    return dict(found)


@pytest.fixture(scope="module")
def data(questions: dict[str, list[str]], ll: LearnLoop) -> dict[str, Any]:
    """Question vectors interleaved by intent (as a stream would bring them), their item,
    and each item's vector from its title and three questions, all by the real model."""
    bodies = [f"{i.replace('_', ' ')}\n" + "\n".join(questions[i][:3]) for i in INTENTS]
    stream = [(questions[i][3 + n], k) for n in range(PER_INTENT) for k, i in enumerate(INTENTS)]
    x = np.asarray(ll.embedder.embed([t for t, _ in stream]), dtype=np.float32)
    return {
        "x": x,
        "y": np.array([k for _, k in stream], dtype=np.int64),
        "ids": np.arange(len(INTENTS), dtype=np.int64),
        "vectors": np.asarray(ll.embedder.embed(bodies), dtype=np.float32),
    }


def judged(data: dict[str, Any], **options: Any) -> Any:
    args = (data["x"], data["y"], data["ids"], data["vectors"])
    return fit(*args, embedder="e", version=1, **{"min_pairs": 100, **options})


def test_it_beats_the_unadapted_ranking_on_held_out_questions(data: dict[str, Any]) -> None:
    verdict = judged(data)
    assert verdict.adapter is not None, verdict.reason
    figures = verdict.figures
    assert figures["held_out"] == 48
    assert figures["adapted_acc1"] > figures["unadapted_acc1"] + 0.1
    assert figures["gain_low95"] > 0
    assert (verdict.adapter.version, verdict.adapter.embedder) == (1, "e")


def test_it_is_refused_with_too_few_pairs(data: dict[str, Any]) -> None:
    verdict = judged(data, min_pairs=1000)
    assert verdict.adapter is None
    assert verdict.reason == "240 clicked pairs, at least 1000 needed"


def test_it_is_refused_when_it_does_not_win(data: dict[str, Any]) -> None:
    # Clicks that say nothing of the question (the items clicked shuffled): the map learns
    # nothing that beats the unadapted ranking on newer questions.
    noise = dict(data, y=np.random.default_rng(3).permutation(data["y"]))
    verdict = judged(noise)
    assert verdict.adapter is None
    assert "no significant gain" in verdict.reason
    assert verdict.figures["gain_low95"] <= 0


def test_with_few_pairs_the_rows_stay_near_the_items_own_vectors(data: dict[str, Any]) -> None:
    # Two clicked questions per item and a strong penalty: shrunk toward the items' own
    # vectors, the map ranks the other questions as the cosine similarity to the items
    # does; shrunk toward zero, it has learnt almost nothing and does not.
    few, rest = slice(0, 2 * len(INTENTS)), slice(2 * len(INTENTS), None)
    x, y, ids, vectors = data["x"][few], data["y"][few], data["ids"], data["vectors"]
    cosine = _cosine_top(data["x"][rest], ids, vectors)

    def agreement(scale: float) -> float:
        adapter = train(x, y, regularization=0.01, item_ids=ids, item_vectors=vectors, scale=scale)
        return float(np.mean([adapter.top(q) for q in data["x"][rest]] == cosine))

    near, free = agreement(20.0), agreement(0.0)
    assert near >= 0.9, (near, free)
    assert free < near - 0.1, (near, free)
    verdict = judged(data, scale=20.0)
    assert verdict.adapter is not None and verdict.adapter.meta["scale"] == 20.0


def test_state_round_trip_keeps_the_ranking(data: dict[str, Any]) -> None:
    adapter = judged(data).adapter
    assert adapter is not None
    again = Adapter.from_bytes(adapter.to_bytes())
    assert (again.version, again.embedder, again.meta) == (1, "e", adapter.meta)
    q = data["x"][-1]
    assert again.probabilities(q) == pytest.approx(adapter.probabilities(q))


def test_the_adapter_sets_the_memory_policys_prior_not_its_confidence() -> None:
    arms = [Arm(1, 0.7, "faq", 0.8), Arm(2, 0.65, "faq", 0.6), Arm(3, 0.5, "faq", 0.3)]
    plain = MemoryPolicy([], adapted=None)
    adapted = MemoryPolicy([], adapted={1: 0.02, 2: 0.9, 3: 0.08})
    rng = np.random.default_rng(0)
    assert [arms[n].item_id for n in plain.rank(arms, {}, "q", rng).order] == [1, 2, 3]
    ranking = adapted.rank(arms, {}, "q", rng, None)
    assert arms[ranking.order[0]].item_id == 2
    assert ranking.confidences == pytest.approx([0.8, 0.6, 0.3])  # the baseline's scale
    # Candidates the search missed: those the adapter finds likely (>= 5%), likeliest first.
    assert adapted.suggested([1, 3]) == [2] and adapted.suggested([2]) == [3]


def _clicks(
    ll: LearnLoop, tenant: str, questions: dict[str, list[str]], ids: dict[str, int]
) -> None:
    """Each stream question asked, its right item clicked and succeeded when shown."""
    events = []
    for n in range(ASKED):
        for intent in INTENTS:
            text = questions[intent][3 + n]
            answer = ll.recommender.recommend(tenant, {"query": text, "k": 6})
            ranks = [r.item.item_id for r in answer.recommendations]
            if ids[intent] in ranks:
                base = {"impression_id": str(answer.impression_id), "item_id": ids[intent]}
                base["rank"] = ranks.index(ids[intent]) + 1
                events += [{"type": "clicked", **base}, {"type": "succeeded", **base}]
    ll.events.record(tenant, events)
    while stats.update(ll.db, now=datetime.now(UTC) + timedelta(seconds=5)) > 0:
        pass


def test_trained_from_the_store_versioned_used_and_dropped(
    ll: LearnLoop, tenant: str, questions: dict[str, list[str]]
) -> None:
    items = [
        {"kind": "faq", "external_id": i, "title": i.replace("_", " "),
         "body": "\n".join(questions[i][:3])}
        for i in INTENTS
    ]  # fmt: skip
    ll.items.put_many(tenant, items)
    ids = {i.external_id: i.item_id for i in ll.items.list(tenant, limit=10)[0]}
    ll.learning.configure(
        tenant,
        {"policy": "memory", "rewards": {"wait_seconds": 0}, "adapter": {"min_pairs": 50}},
    )
    ll.recommender.set_threshold(tenant, 0.0)
    assert ll.learning.adapter(tenant) == {"adapter": None}
    _clicks(ll, tenant, questions, ids)

    assert tenant in adapter_tenants(ll.db)
    refit = next(p for p in PERIODIC if p.name.startswith("learning: embedding adapters"))
    assert refit.run(ll) >= 1  # the worker's scheduled refit fits it (due: none yet)
    answer = ll.learning.train_adapter(tenant)  # and so can the tenant, whenever it asks
    assert answer["kept"], answer["reason"]
    about = answer["adapter"]
    assert (about["version"], about["embedder"]) == (2, ll.embedder.name)
    assert about["adapted_acc1"] > about["unadapted_acc1"]
    assert ll.learning.adapter(tenant)["adapter"]["version"] == 2
    assert ll.learning.train_adapter(tenant, force=False)["reason"] == "not due"

    vector = ll.search.query_vector(questions[INTENTS[0]][-1])
    cache = ll.recommender.policies.adapters
    time.sleep(RECHECK)  # a server checks for a newer adapter at most every RECHECK s
    with ll.db.connection() as conn:
        assert cache.get(conn, tenant, ll.embedder.name, len(vector)) is not None
        assert cache.get(conn, tenant, "another-embedder", len(vector)) is None
        arms = [Arm(ids[i], 0.5, "faq", 0.5) for i in INTENTS]
        built = ll.recommender.policies.build(
            conn, tenant, "memory", LearningConfig(), arms, {}, _question(ll, vector)
        )
    assert isinstance(built, MemoryPolicy) and set(built.adapted) == set(ids.values())

    assert ll.learning.drop_adapter(tenant) is True
    assert ll.learning.adapter(tenant) == {"adapter": None}
    assert ll.learning.drop_adapter(tenant) is False


def _question(ll: LearnLoop, vector: Any) -> Any:
    from learnloop.learn.live import Question

    return Question(vector, ll.embedder.name)


def test_the_api_refuses_a_fit_without_evidence_and_names_why(api: Any) -> None:
    answer = api.post("/v1/learning/adapter")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["kept"] is False and body["adapter"] is None
    assert "clicked pairs, at least 500 needed" in body["reason"]
    assert api.get("/v1/learning/adapter").json() == {"adapter": None}
    assert api.delete("/v1/learning/adapter").json() == {"dropped": False}

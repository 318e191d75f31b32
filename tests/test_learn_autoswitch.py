"""The memory policy evaluated offline (each impression replayed with only the outcomes of
earlier ones), and automatic policy switches on the real database and model: none without
evidence, one when a candidate is clearly better, each audited and listed, and a rollback
when the new policy's live value falls below the old one's interval."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from learnloop import LearnLoop
from learnloop.learn import autoswitch, offline, registry, stats
from learnloop.learn.autoswitch import autoswitch_tenants
from learnloop.learn.config import LearningConfig
from learnloop.learn.replay import MemoryReplay
from learnloop.worker.app import PERIODIC

FAQ = [
    ("pw", "Reset a forgotten password", "Use the reset link on the sign-in page."),
    ("card", "Order a replacement card", "Cards > Replace card; it arrives in five days."),
    ("fee", "Why was I charged a fee", "Fees apply to transfers abroad and cash withdrawals."),
    ("limit", "Raise my transfer limit", "Limits > Transfers; a higher limit needs an ID check."),
]
# Vague questions: the baseline is unsure of every item, so all four are shown, and what
# helps is learned from the people who asked.
QUESTIONS = [
    "something is wrong with my money",
    "question about my account",
    "I have a problem",
    "how does this work",
]


def drain(ll: LearnLoop) -> None:
    later = datetime.now(UTC) + timedelta(seconds=31)  # every wait (30 s) is over
    while stats.update(ll.db, now=later) > 0:
        pass


def make_tenant(ll: LearnLoop, **learning: Any) -> str:
    tenant = ll.tenants.create(f"switch-{uuid.uuid4().hex[:8]}").tenant_id
    ll.items.put_many(
        tenant, [{"kind": "faq", "external_id": e, "title": t, "body": b} for e, t, b in FAQ]
    )
    ll.recommender.set_threshold(tenant, 0.0)  # every candidate shown
    ll.learning.configure(tenant, {"rewards": {"wait_seconds": 30}} | learning)
    return tenant


def right_items(ll: LearnLoop, tenant: str) -> dict[str, int]:
    """The item that helps each question: the baseline's second for the even questions
    (the baseline ranks it wrong), its first for the odd ones."""
    found = {}
    for n, question in enumerate(QUESTIONS):
        asked = {"query": question, "k": 4, "dry_run": True}
        shown = ll.recommender.recommend(tenant, asked).recommendations
        found[question] = shown[1 if n % 2 == 0 else 0].item.item_id
    return found


def log(ll: LearnLoop, tenant: str, right: dict[str, int], rounds: int, helps: bool = True) -> None:
    """Each question asked ``rounds`` times; the person succeeds with the right item when
    ``helps`` (they find it wherever it is shown), else nothing helps. Then settled."""
    for r in range(rounds):
        for n, question in enumerate(QUESTIONS):
            asked = {"query": question, "k": 4, "seed": 1000 * r + n}
            answer = ll.recommender.recommend(tenant, asked)
            shown = [r.item.item_id for r in answer.recommendations]
            if helps and right[question] in shown:
                event = {
                    "type": "succeeded",
                    "impression_id": answer.impression_id,
                    "item_id": right[question],
                }
                ll.events.record(tenant, [event])
    drain(ll)


def test_memory_replays_each_impression_without_its_own_outcome(ll: LearnLoop):
    """An impression whose only evidence would be its own outcome is ranked by the replay as
    the baseline ranks it; the next one with the same question sees the first's outcome."""
    tenant = make_tenant(ll)
    right = right_items(ll, tenant)
    question = QUESTIONS[0]
    ids = []
    for seed in range(2):
        answer = ll.recommender.recommend(tenant, {"query": question, "k": 4, "seed": seed})
        ll.events.record(
            tenant,
            [
                {
                    "type": "succeeded",
                    "impression_id": answer.impression_id,
                    "item_id": right[question],
                }
            ],
        )
        ids.append(str(answer.impression_id))
        baseline_first = answer.recommendations[0].item.item_id
    drain(ll)
    assert baseline_first != right[question]
    config = LearningConfig()
    with ll.db.connection() as conn:
        replay = registry.offline(conn, tenant, "memory", config)
        assert isinstance(replay, MemoryReplay)
        replay.prepare(conn, tenant, ids)
        rows = conn.execute(
            offline.Q["evaluation_log"], {"tenant_id": tenant, "limit": 10, "logged_by": None}
        ).fetchall()
        report = offline.evaluate(conn, tenant, registry.offline(conn, tenant, "memory", config))
    assert replay.memories[ids[0]] == []  # the first one's own outcome is not its memory
    assert {n.impression for n in replay.memories[ids[1]]} == {ids[0]}
    assert any(n.item_id == right[question] and n.reward > 0 for n in replay.memories[ids[1]])
    by_id = {str(r["impression_id"]): r for r in rows}
    for impression, wanted in ((ids[0], baseline_first), (ids[1], right[question])):
        arms = offline.arms_of(by_id[impression])
        firsts = replay.at(impression).first(arms, {}, question, np.random.default_rng(0), 0.0)
        assert arms[int(np.argmax(firsts))].item_id == wanted, impression
    assert report["policy"] == "memory" and report["impressions"] == 2


def test_no_switch_without_evidence(ll: LearnLoop):
    """A deterministic log does not support the memory policy where it disagrees with the
    baseline: insufficient evidence, no switch, nothing audited."""
    tenant = make_tenant(ll, auto_switch={"enabled": True, "candidates": ["memory"]})
    log(ll, tenant, right_items(ll, tenant), rounds=8)
    found = ll.learning.autoswitch(tenant)
    assert found["action"] is None and not found["applied"]
    assert [c["verdict"] for c in found["candidates"]] == ["insufficient_evidence"]
    assert "memory: insufficient_evidence" in found["reason"]
    assert ll.learning.config(tenant).policy == "similarity"
    assert ll.learning.switches(tenant) == []
    stale = autoswitch.Decision("bayes", "switch", "memory", "decided from bayes")
    with ll.db.transaction() as conn:  # the live policy is not the one decided from
        assert autoswitch.apply(conn, tenant, stale) is None
    assert ll.learning.config(tenant).policy == "similarity"
    assert ll.learning.switches(tenant) == []


# Enough rounds that the explored log's effective sample size for memory stays clear of
# the floor of 30 (40 rounds gave 25-35, depending on the draws).
ROUNDS = 64


@pytest.fixture(scope="module")
def explored(ll: LearnLoop) -> tuple[str, dict[str, int]]:
    """A tenant whose similarity log explores half of the time (support for any policy) and
    whose people find the right item wherever it is shown: memory is clearly better."""
    tenant = make_tenant(
        ll,
        uniform_exploration=0.5,
        auto_switch={"candidates": ["memory"], "rollback_after": 12, "window": 1000},
    )
    right = right_items(ll, tenant)
    log(ll, tenant, right, rounds=ROUNDS)
    return tenant, right


def test_a_clearly_better_policy_is_switched_to_and_audited(
    ll: LearnLoop, explored: tuple[str, dict[str, int]], app_client: TestClient
):
    tenant, _ = explored
    off = ll.learning.autoswitch(tenant)  # off by default: said, not done
    found = (off["action"], off["to"], off["applied"])
    assert found == ("switch", "memory", False), (off["reason"], off["candidates"])
    assert "auto_switch is off" in off["reason"]
    assert ll.learning.config(tenant).policy == "similarity" and ll.learning.switches(tenant) == []

    ll.learning.configure(tenant, {"auto_switch": {"enabled": True}})
    assert tenant in autoswitch_tenants(ll.db)
    check = next(p for p in PERIODIC if p.name.startswith("learning: automatic policy"))
    assert check.run(ll)  # the worker's periodic check makes it
    assert ll.learning.config(tenant).policy == "memory"
    made = ll.learning.switches(tenant)[0]
    assert (made["action"], made["from_policy"], made["to_policy"]) == (
        "switch",
        "similarity",
        "memory",
    )
    evidence = made["evidence"]
    offline_report = evidence["offline"]
    assert offline_report["verdict"] == "better" and offline_report["difference"]["low"] > 0
    assert offline_report["support"] >= 0.95 and offline_report["effective_sample_size"] >= 30
    assert offline_report["impressions"] == ROUNDS * len(QUESTIONS)
    before = evidence["live_before"]
    assert before["impressions"] == ROUNDS * len(QUESTIONS)
    assert 0 < before["low"] <= before["value"] <= before["high"]
    assert offline_report["estimates"]["dr"]["value"] > before["high"]

    key = ll.keys.create(tenant, "switches").key
    listed = app_client.get("/v1/learning/switches", headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200
    rows = listed.json()
    assert [(r["action"], r["from_policy"], r["to_policy"]) for r in rows] == [
        ("switch", "similarity", "memory")
    ]
    assert rows[0]["evidence"]["offline"]["difference"] == offline_report["difference"]
    waiting = ll.learning.autoswitch(tenant)  # no impressions of memory yet: probation
    assert waiting["action"] is None and "probation: 0 of 12" in waiting["reason"]


def test_a_switch_is_rolled_back_when_the_live_value_drops(
    ll: LearnLoop, explored: tuple[str, dict[str, int]]
):
    tenant, right = explored
    if ll.learning.config(tenant).policy != "memory":
        pytest.skip("needs the switch of the test before")
    log(ll, tenant, right, rounds=3, helps=False)  # 12 impressions, nothing helps any more
    undone = ll.learning.autoswitch(tenant)
    assert (undone["action"], undone["to"], undone["applied"]) == ("rollback", "similarity", True)
    assert ll.learning.config(tenant).policy == "similarity"
    evidence = undone["switch"]["evidence"]
    assert evidence["live_since"]["impressions"] == 12 and evidence["live_since"]["value"] == 0
    assert evidence["live_since"]["value"] < evidence["live_before"]["low"]
    assert [r["action"] for r in ll.learning.switches(tenant)] == ["rollback", "switch"]
    again = ll.learning.autoswitch(tenant)  # the log still favours memory: it cools down
    assert again["action"] is None and "rolled back in the last 168 hours" in again["reason"]


def test_the_autoswitch_api(api: TestClient):
    found = api.post("/v1/learning/autoswitch")
    assert found.status_code == 200
    body = found.json()
    assert body["action"] is None and body["applied"] is False and body["policy"] == "similarity"
    assert api.get("/v1/learning/switches").json() == []
    refused = api.patch("/v1/learning", json={"auto_switch": {"candidates": ["psychic"]}})
    assert refused.status_code == 422 and "candidates" in refused.json()["error"]["message"]
    assert api.get("/v1/learning/switches", params={"limit": 0}).status_code == 422


def test_the_autoswitch_commands(
    database_url: str, ll: LearnLoop, explored: tuple[str, dict[str, int]]
):
    from typer.testing import CliRunner

    from learnloop.cli.main import app

    tenant, _ = explored
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant, "COLUMNS": "100"}

    def run(*args: str) -> Any:
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    checked = run("learning", "autoswitch")
    assert checked["policy"] == ll.learning.config(tenant).policy and not checked["applied"]
    listed = run("learning", "switches", "--limit", "1")
    assert len(listed) == 1 and listed[0]["action"] in ("switch", "rollback")
    assert listed[0]["evidence"]["reason"]

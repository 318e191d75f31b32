"""The duplicate threshold learned from reviewers' merge and distinct decisions, and
proposals that ask for an item to be written; on the real database and embedding model."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from learnloop.cli.main import app
from learnloop.errors import Conflict, InvalidInput, NotFound
from learnloop.proposals import DEFAULT_THRESHOLD
from learnloop.proposals.threshold import MIN_DECISIONS, f1_at, fit
from learnloop.service import LearnLoop

# Items and, for each, two ways a customer asks the same thing in other words.
TOPICS = {
    "How do I reset my password?": [
        "I forgot my login password, how can I change it?",
        "Can't sign in, need a new password",
    ],
    "When will my new card arrive?": [
        "How long does delivery of a card take?",
        "My card still has not been delivered",
    ],
    "What exchange rate do you use?": [
        "Which rate is applied when I convert currency?",
        "Why was my currency conversion rate so bad?",
    ],
    "Why did my top-up fail?": [
        "My attempt to add money to my account was declined",
        "Adding funds does not work",
    ],
    "How do I report a stolen card?": [
        "Someone took my card, what should I do?",
        "My card was stolen yesterday",
    ],
    "How do I get a refund?": [
        "I want my money back for a purchase",
        "Can I be reimbursed for an item I returned?",
    ],
}
REVIEW = {"reviewer": "ana"}


def test_fitting_needs_a_floor_of_evidence_and_follows_the_decisions() -> None:
    merges = [(0.7 + i / 100, True) for i in range(10)]
    apart = [(0.4 + i / 100, False) for i in range(10)]
    short = fit(merges + apart[:9], DEFAULT_THRESHOLD)
    assert (short.learned, short.threshold) == (False, DEFAULT_THRESHOLD)
    assert "not enough evidence: 19 decisions" in short.reason
    one_kind = fit([(0.9, True)] * 25, DEFAULT_THRESHOLD)
    assert not one_kind.learned and "5 of each" in one_kind.reason
    lower = fit(merges + apart, DEFAULT_THRESHOLD)
    assert lower.learned and 0.49 < lower.threshold <= 0.7 and lower.f1 == 1.0
    assert lower.f1_previous == pytest.approx(f1_at(merges + apart, DEFAULT_THRESHOLD))
    # Reviewers who keep high-similarity pairs apart raise it.
    strict = [(0.86 + i / 200, False) for i in range(10)] + [
        (0.93 + i / 200, True) for i in range(10)
    ]
    assert 0.9 < fit(strict, DEFAULT_THRESHOLD).threshold <= 0.93
    # A threshold already best stays, with the reason.
    kept = fit([(0.9, True)] * 10 + [(0.5, False)] * 10, 0.8)
    assert (kept.learned, kept.threshold) == (False, 0.8) and "already fits" in kept.reason


def _decide(ll: LearnLoop, tenant: str, proposal_id: int, decision: str, item_id: int) -> None:
    ll.proposals.decide_duplicate(
        tenant, proposal_id, REVIEW | {"decision": decision, "item_id": item_id}
    )


def test_the_threshold_is_learned_from_decisions_on_pairs(ll: LearnLoop, tenant: str) -> None:
    items = {t: ll.items.put(tenant, {"kind": "faq", "title": t})[0].item_id for t in TOPICS}
    titles = list(TOPICS)
    pairs: list[tuple[int, str, int]] = []
    for n, (title, asks) in enumerate(TOPICS.items()):
        other = items[titles[(n + 1) % len(titles)]]
        for ask in asks:
            proposal = ll.proposals.add(tenant, {"title": ask, "body": ask})
            pairs += [
                (proposal.proposal_id, "distinct", other),
                (proposal.proposal_id, "merge", items[title]),
            ]
    assert len(pairs) == 24 >= MIN_DECISIONS
    for proposal_id, decision, item_id in pairs[: MIN_DECISIONS - 1]:
        _decide(ll, tenant, proposal_id, decision, item_id)
    refused = ll.proposals.learn_duplicate_threshold(tenant)
    assert not refused.learned and "not enough evidence: 19 decisions" in refused.reason
    assert ll.proposals.duplicate_threshold(tenant) == DEFAULT_THRESHOLD

    for proposal_id, decision, item_id in pairs[MIN_DECISIONS - 1 :]:
        _decide(ll, tenant, proposal_id, decision, item_id)
    learned = ll.proposals.learn_duplicate_threshold(tenant)
    # The paraphrases lie below 0.85: the reviewers' merges pull the threshold down.
    assert learned.learned and learned.saved and learned.decisions == 24
    assert learned.threshold < DEFAULT_THRESHOLD and learned.f1 > (learned.f1_previous or 0)
    assert ll.proposals.duplicate_threshold(tenant) == learned.threshold
    # The decisions acted: merged proposals revise their item, the audit says who decided.
    merged = ll.proposals.get(tenant, pairs[1][0])
    assert merged.item_id == items[titles[0]] and merged.status == "pending"
    actions = [a.action for a in ll.proposals.audit(tenant, pairs[1][0])]
    assert actions == ["created", "distinct", "merged"]
    # Items added afterwards are checked against the learned threshold.
    repeat = ll.items.add(tenant, {"kind": "faq", "title": TOPICS[titles[0]][0]})
    assert repeat.duplicate is not None and repeat.duplicate.item_id == items[titles[0]]


def test_decisions_on_a_pair_are_checked(ll: LearnLoop, tenant: str) -> None:
    item = ll.items.put(tenant, {"kind": "faq", "title": "Card fees", "body": "Free."})[0]
    linked = ll.proposals.add(tenant, {"title": "Card fees", "body": "Free."})
    assert linked.duplicate is not None and linked.duplicate.id == item.item_id
    lone = ll.proposals.add(tenant, {"title": "Opening hours", "body": "9 to 5."})
    with pytest.raises(InvalidInput, match="linked to no duplicate"):
        ll.proposals.decide_duplicate(tenant, lone.proposal_id, REVIEW | {"decision": "merge"})
    with pytest.raises(InvalidInput, match="decision"):
        ll.proposals.decide_duplicate(tenant, lone.proposal_id, REVIEW | {"decision": "maybe"})
    with pytest.raises(NotFound, match="no item 999999 in this tenant"):
        _decide(ll, tenant, lone.proposal_id, "merge", 999_999)
    theirs = ll.tenants.create(f"{tenant}-b").tenant_id
    their_item = ll.items.put(theirs, {"kind": "faq", "title": "Opening hours"})[0].item_id
    with pytest.raises(NotFound, match=f"no item {their_item} in this tenant"):
        _decide(ll, tenant, lone.proposal_id, "merge", their_item)
    apart = ll.proposals.decide_duplicate(
        tenant, linked.proposal_id, REVIEW | {"decision": "distinct"}
    )
    assert apart.duplicate is None and apart.status == "pending"
    ll.proposals.reject(tenant, lone.proposal_id, REVIEW)
    with pytest.raises(Conflict, match="is rejected"):
        _decide(ll, tenant, lone.proposal_id, "distinct", item.item_id)
    # A proposal repeating another pending one is rejected when merged.
    twin = ll.proposals.add(tenant, {"title": "Opening times", "body": "9 to 5."})
    other = ll.proposals.add(tenant, {"title": "Opening times", "body": "9 to 5!"})
    assert other.duplicate is not None and other.duplicate.kind == "proposal"
    done = ll.proposals.decide_duplicate(tenant, other.proposal_id, REVIEW | {"decision": "merge"})
    assert done.status == "rejected" and done.review_note == (
        f"a duplicate of proposal {twin.proposal_id}"
    )


def test_a_proposal_without_a_body_asks_for_an_item(
    ll: LearnLoop, tenant: str, api: TestClient, database_url: str
) -> None:
    asked = ll.proposals.add(tenant, {"title": "How do I close my account?"})
    assert (asked.body, asked.status, asked.embedded) == ("", "pending", True)
    blank = ll.proposals.add(tenant, {"title": "Can I freeze my card?", "body": "  "})
    assert blank.body == ""  # blank is the same as left out: a request for the content
    assert asked.proposal_id in [p.proposal_id for p in ll.proposals.list(tenant)]
    with pytest.raises(InvalidInput, match="content is empty"):
        ll.proposals.approve(tenant, asked.proposal_id, REVIEW)
    ll.proposals.edit(tenant, asked.proposal_id, REVIEW | {"body": "Settings > Close account."})
    ll.proposals.approve(tenant, asked.proposal_id, REVIEW)
    while ll.proposals.apply(tenant_id=tenant):
        pass
    applied = ll.proposals.get(tenant, asked.proposal_id)
    assert applied.status == "applied" and applied.applied_item_id is not None
    assert ll.items.get(tenant, applied.applied_item_id).body == "Settings > Close account."

    over_http = api.post("/v1/proposals", json={"title": "Where is my statement?"})
    assert over_http.status_code == 201 and over_http.json()["body"] == ""
    listed = api.get("/v1/proposals").json()
    assert "Where is my statement?" in [p["title"] for p in listed]
    rejected = api.post(f"/v1/proposals/{over_http.json()['proposal_id']}/reject", json=REVIEW)
    assert rejected.json()["status"] == "rejected"
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant, "COLUMNS": "160"}
    out = CliRunner().invoke(
        app, ["proposals", "add", "--title", "Can I pay by SEPA?", "--json"], env=env
    )
    assert out.exit_code == 0 and json.loads(out.stdout)["body"] == ""
    shown = CliRunner().invoke(
        app, ["proposals", "show", str(json.loads(out.stdout)["proposal_id"])], env=env
    )
    assert "(empty: edit it before approving)" in shown.stdout


def test_the_threshold_over_the_cli_and_http(
    ll: LearnLoop, tenant: str, api: TestClient, database_url: str
) -> None:
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant, "COLUMNS": "160"}

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, ["proposals", "duplicates-threshold", *args], env=env)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result.stdout

    assert "duplicate threshold 0.85" in run() and "not enough evidence: 0" in run()
    assert "duplicate threshold 0.8" in run("0.8")
    assert ll.proposals.duplicate_threshold(tenant) == 0.8
    learned = json.loads(run("--learn", "--json"))
    assert (learned["learned"], learned["threshold"]) == (False, 0.8)
    assert api.get("/v1/proposals/settings/learn").json()["decisions"] == 0
    assert api.post("/v1/proposals/settings/learn").json()["saved"] is False
    assert api.get("/v1/proposals/settings").json() == {"duplicate_threshold": 0.8}
    bad = CliRunner().invoke(app, ["proposals", "duplicates-threshold", "1.5"], env=env)
    assert bad.exit_code == 1 and "at most 1" in bad.stderr

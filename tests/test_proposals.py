"""The learning queue: proposals arise with what caused them, are reviewed, found duplicate,
applied as item versions and rolled back; on the real database and embedding model."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest

from learnloop.errors import Conflict, InvalidInput, NotFound
from learnloop.proposals import DEFAULT_THRESHOLD, embed_pending, refresh_views
from learnloop.service import LearnLoop
from tests.conftest import shared_data

REVIEW = {"reviewer": "ana", "note": "checked against the docs"}


def _proposals(ll: LearnLoop, tenant: str, status: str = "pending") -> list[Any]:
    return ll.proposals.list(tenant, status=status, limit=500)


def _correct(ll: LearnLoop, tenant: str, **fields: Any) -> int:
    data = {"original_response": "Restart the router.", "corrected_answer": "Reset the card."}
    correction, _ = ll.feedback.correct(tenant, data | fields)
    return correction.correction_id


def _apply_mine(ll: LearnLoop, tenant: str) -> None:
    while ll.proposals.apply(tenant_id=tenant):
        pass


def _embed_all(ll: LearnLoop, tenant: str) -> None:
    """Run the worker's embedding step until none of this tenant's proposals lacks a vector."""
    while embed_pending(ll.db, ll.embedder, limit=200):
        pass
    for status in ("pending", "approved"):
        assert all(p.embedded for p in _proposals(ll, tenant, status))


# ------------------------------------------------------------------ proposals arise


def test_negative_feedback_proposes_a_revision_and_positive_does_not(
    ll: LearnLoop, tenant: str
) -> None:
    item, _ = ll.items.put(tenant, {"kind": "faq", "title": "Card delivery", "body": "5 days"})
    ll.feedback.add(
        tenant, {"response_id": "r1", "item_id": item.item_id, "kind": "thumbs", "value": "up"}
    )
    ll.feedback.add(tenant, {"response_id": "r2", "kind": "stars", "value": 3})
    assert _proposals(ll, tenant) == []

    ll.feedback.add(
        tenant,
        {
            "response_id": "r3",
            "item_id": item.item_id,
            "kind": "thumbs",
            "value": "down",
            "reason": "it takes two weeks",
        },
    )
    ll.feedback.add(tenant, {"response_id": "r4", "kind": "stars", "value": 2})
    ll.feedback.add(tenant, {"response_id": "r5", "kind": "helpfulness", "value": "not_helpful"})
    found = {p.attrs["response_id"]: p for p in _proposals(ll, tenant)}
    assert set(found) == {"r3", "r4", "r5"}
    revision = found["r3"]
    assert (revision.source, revision.item_id, revision.title) == (
        "feedback",
        item.item_id,
        "Card delivery",
    )
    assert revision.rationale == "thumbs down: it takes two weeks"
    assert revision.confidence == 50 and found["r4"].confidence == 25
    assert revision.body == "" and not revision.embedded
    # No content yet: it cannot be approved until a reviewer writes it.
    with pytest.raises(InvalidInput, match="content is empty"):
        ll.proposals.approve(tenant, revision.proposal_id, REVIEW)


def test_a_proposal_commits_or_rolls_back_with_its_cause(ll: LearnLoop, tenant: str) -> None:
    with pytest.raises(RuntimeError), ll.db.transaction() as conn:
        conn.execute(
            "INSERT INTO corrections (tenant_id, original_response, corrected_answer)"
            " VALUES (%s, 'a', 'b')",
            (tenant,),
        )
        assert conn.execute(
            "SELECT count(*) AS n FROM proposals WHERE tenant_id = %s", (tenant,)
        ).fetchone() == {"n": 1}
        raise RuntimeError("the request failed after the correction was written")
    assert _proposals(ll, tenant) == []


@pytest.mark.parametrize(("priority", "confidence"), [("low", 40), ("normal", 60), ("high", 80)])
def test_corrections_wait_for_review_with_a_confidence_set_by_priority(
    ll: LearnLoop, tenant: str, priority: str, confidence: int
) -> None:
    _correct(ll, tenant, query="Where is my card?", priority=priority, author="owner")
    [proposal] = _proposals(ll, tenant)
    assert (proposal.source, proposal.kind, proposal.confidence) == (
        "correction",
        "correction",
        confidence,
    )
    assert (proposal.title, proposal.body) == ("Where is my card?", "Reset the card.")
    assert proposal.attrs["original_response"] == "Restart the router."


def test_urgent_corrections_skip_review_and_apply_as_correction_items(
    ll: LearnLoop, tenant: str
) -> None:
    correction_id = _correct(
        ll,
        tenant,
        query="How long does a new card take to arrive?",
        priority="urgent",
        corrected_answer="New cards arrive within 3 working days; track them in the app.",
    )
    assert _proposals(ll, tenant) == []
    [proposal] = _proposals(ll, tenant, "approved")
    assert (proposal.source_id, proposal.confidence, proposal.reviewer) == (
        correction_id,
        95,
        "auto:urgent",
    )
    [audit] = ll.proposals.audit(tenant, proposal.proposal_id)
    assert (audit.action, audit.actor) == ("approved", "auto:urgent")

    _apply_mine(ll, tenant)
    applied = ll.proposals.get(tenant, proposal.proposal_id)
    assert applied.status == "applied" and applied.previous_version is None
    item = ll.items.get(tenant, applied.applied_item_id or 0)
    assert (item.kind, item.title, item.version) == (
        "correction",
        "How long does a new card take to arrive?",
        1,
    )
    assert item.body.startswith("New cards arrive within 3 working days")
    assert item.attrs["source"] == "proposal"
    assert item.attrs["proposal_id"] == proposal.proposal_id
    assert item.attrs["proposal_source"] == "correction"
    assert [a.action for a in ll.proposals.audit(tenant, proposal.proposal_id)] == [
        "approved",
        "applied",
    ]

    # The correction takes effect: a paraphrase of the question is answered with it.
    ll.items.put(
        tenant,
        {
            "kind": "faq",
            "title": "Order a replacement card",
            "body": "Order one in the app under Cards.",
        },
    )
    answer = ll.recommender.recommend(tenant, {"query": "when will my new card get here?"})
    assert answer.recommendations
    assert answer.recommendations[0].item.item_id == item.item_id


def test_negative_transcripts_and_completed_reports_propose_knowledge(
    ll: LearnLoop, tenant: str
) -> None:
    ll.conversations.transcript(tenant, {"text": "This is terrible. I am furious, nothing works."})
    ll.conversations.transcript(tenant, {"text": "Thanks, that was great and very helpful!"})
    report = {
        "external_id": "r-1",
        "account": "Acme",
        "playbook": "Renewal risk",
        "status": "in_progress",
        "steps_completed": 1,
        "steps_total": 3,
    }
    ll.tracking.report(tenant, report)
    assert [p.source for p in _proposals(ll, tenant)] == ["transcript"]

    ll.tracking.report(
        tenant,
        report
        | {
            "status": "completed",
            "steps_completed": 3,
            "executive_summary": "Renewed for 2 years.",
            "outcomes": [{"metric": "NPS", "before": 18, "after": 41}],
        },
    )
    ll.tracking.report(tenant, report | {"status": "completed", "steps_completed": 3})
    by_source = {p.source: p for p in _proposals(ll, tenant)}
    assert set(by_source) == {"transcript", "report"}
    assert "furious" in by_source["transcript"].rationale
    made = by_source["report"]
    assert (made.kind, made.title, made.confidence) == ("report", "Renewal risk: Acme", 70)
    assert "Renewed for 2 years." in made.body and "- NPS: 18 -> 41" in made.body

    ll.proposals.approve(tenant, made.proposal_id, REVIEW)
    _apply_mine(ll, tenant)
    item = ll.items.get(tenant, ll.proposals.get(tenant, made.proposal_id).applied_item_id or 0)
    assert (item.kind, item.attrs["account"], item.attrs["proposal_source"]) == (
        "report",
        "Acme",
        "report",
    )


# ------------------------------------------------------------------ added by hand, refused


def test_bad_proposals_are_refused_with_a_clear_message(ll: LearnLoop, tenant: str) -> None:
    other = ll.tenants.create(f"{tenant}-b").tenant_id
    theirs, _ = ll.items.put(other, {"kind": "faq", "title": "Their item"})
    with pytest.raises(InvalidInput, match="needs a title"):
        ll.proposals.add(tenant, {"body": "Cards arrive in 3 days."})
    with pytest.raises(NotFound, match="item_id: no item 999999999 in this tenant"):
        ll.proposals.add(tenant, {"item_id": 999_999_999, "body": "x"})
    with pytest.raises(NotFound, match=f"no item {theirs.item_id} in this tenant"):
        ll.proposals.add(tenant, {"item_id": theirs.item_id, "body": "x"})
    with pytest.raises(InvalidInput, match="confidence"):
        ll.proposals.add(tenant, {"title": "t", "body": "b", "confidence": 101})
    assert _proposals(ll, tenant) == [] and _proposals(ll, other) == []
    # Another tenant's proposal is invisible.
    mine = ll.proposals.add(tenant, {"title": "Card delivery", "body": "3 days"})
    with pytest.raises(NotFound):
        ll.proposals.approve(other, mine.proposal_id, REVIEW)


def test_review_edit_approve_reject_with_reviewer_note_and_sorting(
    ll: LearnLoop, tenant: str
) -> None:
    item, _ = ll.items.put(tenant, {"kind": "faq", "title": "Card fees", "body": "Free."})
    low = ll.proposals.add(
        tenant,
        {
            "item_id": item.item_id,
            "body": "One card free, then 5 EUR.",
            "confidence": 30,
            "author": "bo",
        },
    )
    high = ll.proposals.add(
        tenant,
        {"title": "Lost card", "body": "Freeze it in the app.", "kind": "faq", "confidence": 90},
    )
    assert low.title == "Card fees" and low.embedded and low.duplicate is None
    assert [p.proposal_id for p in _proposals(ll, tenant)] == [high.proposal_id, low.proposal_id]
    by_age = ll.proposals.list(tenant, order="age")
    assert [p.proposal_id for p in by_age] == [low.proposal_id, high.proposal_id]
    assert [p.proposal_id for p in ll.proposals.list(tenant, min_confidence=50)] == [
        high.proposal_id
    ]
    with pytest.raises(InvalidInput, match="status must be one of"):
        ll.proposals.list(tenant, status="done")

    edited = ll.proposals.edit(
        tenant,
        low.proposal_id,
        {
            "body": "The first card is free; each further one costs 5 EUR.",
            "confidence": 70,
            "reviewer": "ana",
            "note": "clearer",
        },
    )
    assert edited.body.startswith("The first card is free") and edited.confidence == 70
    assert edited.embedded
    approved = ll.proposals.approve(tenant, low.proposal_id, REVIEW)
    assert (approved.status, approved.reviewer, approved.review_note) == (
        "approved",
        "ana",
        "checked against the docs",
    )
    rejected = ll.proposals.reject(tenant, high.proposal_id, {"reviewer": "bo", "note": "dup"})
    assert rejected.status == "rejected"
    with pytest.raises(Conflict, match="is rejected; it cannot be approved"):
        ll.proposals.approve(tenant, high.proposal_id, REVIEW)
    with pytest.raises(InvalidInput, match="reviewer"):
        ll.proposals.approve(tenant, low.proposal_id, {"note": "who?"})
    trail = ll.proposals.audit(tenant, low.proposal_id)
    assert [(a.action, a.actor) for a in trail] == [
        ("created", "bo"),
        ("edited", "ana"),
        ("approved", "ana"),
    ]
    assert trail[1].note == "clearer" and trail[1].detail["confidence"] == 70


# ------------------------------------------------------------------ apply and roll back


def test_rollback_restores_the_exact_previous_version(ll: LearnLoop, tenant: str) -> None:
    original, _ = ll.items.put(
        tenant,
        {
            "kind": "runbook",
            "title": "Disk full",
            "body": "Delete old logs.",
            "tags": ["disk"],
            "attrs": {"team": "sre"},
        },
    )
    proposal = ll.proposals.add(
        tenant, {"item_id": original.item_id, "body": "Expand the volume first, then rotate logs."}
    )
    ll.proposals.approve(tenant, proposal.proposal_id, REVIEW)
    _apply_mine(ll, tenant)
    applied = ll.proposals.get(tenant, proposal.proposal_id)
    assert (applied.previous_version, applied.applied_version) == (1, 2)
    revised = ll.items.get(tenant, original.item_id)
    assert revised.body.startswith("Expand the volume") and revised.version == 2
    assert revised.attrs == {
        "team": "sre",
        "source": "proposal",
        "proposal_id": proposal.proposal_id,
        "proposal_source": "manual",
    }
    assert revised.external_id == f"item-{original.item_id}"

    rolled = ll.proposals.rollback(tenant, proposal.proposal_id, {"reviewer": "ana"})
    assert rolled.status == "rolled_back" and rolled.rolled_back_at is not None
    restored = ll.items.get(tenant, original.item_id)
    v1 = ll.items.version(tenant, original.item_id, 1)
    assert restored.version == 3
    fields = ("kind", "title", "body", "tags", "attrs", "status", "content_hash")
    assert {f: getattr(restored, f) for f in fields} == {f: getattr(v1, f) for f in fields}
    assert [v.version for v in ll.items.versions(tenant, original.item_id)] == [1, 2, 3]
    with pytest.raises(Conflict, match="only an applied proposal can be rolled back"):
        ll.proposals.rollback(tenant, proposal.proposal_id, {"reviewer": "ana"})
    assert [a.action for a in ll.proposals.audit(tenant, proposal.proposal_id)][-1] == (
        "rolled_back"
    )


def test_rollback_archives_a_created_item_and_refuses_after_a_later_change(
    ll: LearnLoop, tenant: str
) -> None:
    first = ll.proposals.add(tenant, {"title": "Cash withdrawal limits", "body": "500 a day."})
    second = ll.proposals.add(tenant, {"title": "Top-up by card", "body": "Instant."})
    for p in (first, second):
        ll.proposals.approve(tenant, p.proposal_id, REVIEW)
    _apply_mine(ll, tenant)
    ll.proposals.rollback(tenant, first.proposal_id, {"reviewer": "ana"})
    made = ll.items.get(tenant, ll.proposals.get(tenant, first.proposal_id).applied_item_id or 0)
    assert (made.status, made.version, made.body) == ("archived", 1, "500 a day.")

    other_id = ll.proposals.get(tenant, second.proposal_id).applied_item_id or 0
    ll.items.update(tenant, other_id, {"body": "Instant, up to 1,000."})
    with pytest.raises(Conflict, match="changed after the proposal was applied"):
        ll.proposals.rollback(tenant, second.proposal_id, {"reviewer": "ana"})


def test_an_approved_revision_of_a_deleted_item_is_rejected_not_applied(
    ll: LearnLoop, tenant: str
) -> None:
    item, _ = ll.items.put(tenant, {"kind": "faq", "title": "Old"})
    proposal = ll.proposals.add(tenant, {"item_id": item.item_id, "body": "New"})
    ll.proposals.approve(tenant, proposal.proposal_id, REVIEW)
    ll.items.delete(tenant, item.item_id)
    _apply_mine(ll, tenant)
    gone = ll.proposals.get(tenant, proposal.proposal_id)
    assert (gone.status, gone.reviewer) == ("rejected", "system")
    assert gone.review_note == f"item {item.item_id} no longer exists"


# ------------------------------------------------------------------ duplicates


def _banking77(categories: int, per_category: int) -> list[tuple[str, str]]:
    by_category: dict[str, list[str]] = defaultdict(list)
    with shared_data("banking77/train.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            by_category[row["category"]].append(row["text"].strip())
    chosen = sorted(by_category)[:categories]
    return [(c, text) for c in chosen for text in by_category[c][:per_category]]


def test_duplicates_are_found_among_paraphrased_banking77_questions(
    ll: LearnLoop, tenant: str
) -> None:
    """Half of each category's questions are items; owners then correct answers to the other
    half. Each proposal is linked to exactly the nearest item or earlier pending proposal at or
    above the threshold (checked against a brute-force scan), and only within its category."""
    questions = _banking77(categories=6, per_category=8)
    known = [q for n, q in enumerate(questions) if n % 2 == 0]
    asked = [q for n, q in enumerate(questions) if n % 2 == 1]
    stored = ll.items.put_many(tenant, [{"kind": "faq", "title": text} for _, text in known])
    category_of_item = {item.item_id: c for (item, _), (c, _) in zip(stored, known, strict=True)}
    for _, text in asked:
        _correct(ll, tenant, query=text, corrected_answer=text)
    _embed_all(ll, tenant)

    proposals = sorted(_proposals(ll, tenant), key=lambda p: p.proposal_id)
    category_of_proposal = {p.proposal_id: c for p, (c, _) in zip(proposals, asked, strict=True)}
    # The brute-force check works on the stored vectors.
    with ll.db.connection() as conn:
        item_vectors = np.array(
            [
                row["embedding"].to_numpy()
                for row in conn.execute(
                    "SELECT embedding FROM items WHERE tenant_id = %s AND item_id = ANY(%s)"
                    " ORDER BY array_position(%s, item_id)",
                    (tenant, [i.item_id for i, _ in stored], [i.item_id for i, _ in stored]),
                )
            ]
        )
        own = np.array(
            [
                row["embedding"].to_numpy()
                for row in conn.execute(
                    "SELECT embedding FROM proposals WHERE tenant_id = %s ORDER BY proposal_id",
                    (tenant,),
                )
            ]
        )
    linked = 0
    for n, proposal in enumerate(proposals):
        # What the check saw: every item, and the proposals embedded before this one.
        candidates = [("item", item.item_id) for item, _ in stored] + [
            ("proposal", p.proposal_id) for p in proposals[:n]
        ]
        similarities = np.concatenate([item_vectors @ own[n], own[:n] @ own[n]])
        best = int(np.argmax(similarities))
        dup = proposal.duplicate
        if similarities[best] >= DEFAULT_THRESHOLD:
            assert dup is not None, (proposal.title, candidates[best], similarities[best])
            assert (dup.kind, dup.id) == candidates[best]
            assert dup.similarity == pytest.approx(float(similarities[best]), abs=1e-3)
            category = (
                category_of_item.get(dup.id)
                if dup.kind == "item"
                else (category_of_proposal[dup.id])
            )
            assert category == category_of_proposal[proposal.proposal_id], proposal.title
            linked += 1
        else:
            assert dup is None, (proposal.title, dup)
    assert linked >= 4
    listed = ll.proposals.list(tenant, duplicates_only=True, limit=500)
    assert len(listed) == linked and all(p.duplicate and p.duplicate.title for p in listed)


def test_the_duplicate_threshold_is_set_per_tenant(ll: LearnLoop, tenant: str) -> None:
    ll.items.put(tenant, {"kind": "faq", "title": "How do I reset my password?"})
    assert ll.proposals.duplicate_threshold(tenant) == DEFAULT_THRESHOLD
    assert ll.proposals.set_duplicate_threshold(tenant, 0.99) == pytest.approx(0.99)
    strict = ll.proposals.add(
        tenant,
        {
            "title": "I forgot my password, how can I reset it?",
            "body": "Use the reset link on the sign-in page.",
        },
    )
    assert strict.duplicate is None
    ll.proposals.set_duplicate_threshold(tenant, 0.5)
    loose = ll.proposals.add(
        tenant,
        {
            "title": "I forgot my password, how can I reset it?",
            "body": "Use the reset link on the sign-in page.",
        },
    )
    assert loose.duplicate is not None and loose.duplicate.kind == "proposal"
    assert loose.duplicate.id == strict.proposal_id and loose.duplicate.similarity > 0.99
    with pytest.raises(InvalidInput, match="duplicate_threshold must be above 0"):
        ll.proposals.set_duplicate_threshold(tenant, 1.5)


def test_vectors_of_another_dimension_are_left_out_of_the_check(ll: LearnLoop, tenant: str) -> None:
    """After the embedder changed, old vectors (another dimension) cannot be compared."""
    old = ll.proposals.add(tenant, {"title": "Card delivery time", "body": "3 days"})
    with ll.db.connection() as conn:
        conn.execute("UPDATE proposals SET embedding = '[1, 0, 0]' WHERE tenant_id = %s", (tenant,))
    again = ll.proposals.add(tenant, {"title": "Card delivery time", "body": "3 days"})
    assert again.duplicate is None and old.proposal_id != again.proposal_id


# ------------------------------------------------------------------ metric views


def test_metric_views_refresh_concurrently_and_count_by_source_and_status(
    ll: LearnLoop, tenant: str, database_url: str
) -> None:
    _correct(ll, tenant, priority="urgent")
    _correct(ll, tenant, priority="low")
    ll.feedback.add(tenant, {"response_id": "r", "kind": "thumbs", "value": "down"})
    refresh_views(ll.db)
    since = date.today() - timedelta(days=1)
    rows = {
        (m.source, m.status): m.proposals
        for m in ll.proposals.learning_metrics(tenant, since=since)
    }
    assert rows == {
        ("correction", "approved"): 1,
        ("correction", "pending"): 1,
        ("feedback", "pending"): 1,
    }
    [day] = ll.proposals.response_performance(tenant, since=since)
    assert (day.feedback, day.negative_feedback, day.corrections) == (1, 1, 2)

    # A reader is not blocked while the views refresh: it sees the last refreshed rows.
    with (
        psycopg.connect(database_url, autocommit=True) as refresher,
        psycopg.connect(database_url, autocommit=True) as reader,
    ):
        with refresher.transaction():
            refresher.execute("SELECT learnloop_refresh_learning_views()")
            reader.execute("SET statement_timeout = '2s'")
            count = reader.execute(
                "SELECT sum(proposals) FROM learning_metrics_daily WHERE tenant_id = %s",
                (tenant,),
            ).fetchone()
        assert count == (3,)


def test_pairs_of_pending_proposals_are_shown_together(ll: LearnLoop, tenant: str) -> None:
    texts = ["My card has not arrived yet", "My card still has not arrived"]
    made = [ll.proposals.add(tenant, {"title": t, "body": "It ships in 3 days."}) for t in texts]
    assert made[0].duplicate is None
    dup = made[1].duplicate
    assert dup is not None and (dup.kind, dup.id, dup.title) == (
        "proposal",
        made[0].proposal_id,
        texts[0],
    )
    listed = ll.proposals.list(tenant, duplicates_only=True)
    assert [(p.proposal_id, p.duplicate.id if p.duplicate else None) for p in listed] == [
        (made[1].proposal_id, made[0].proposal_id)
    ]

"""One tenant's bad proposal never stops another's learning queue (issue 19): the edge refuses
what an item cannot hold, and a proposal stored anyway fails alone, with its reason."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from learnloop.service import LearnLoop
from learnloop.worker.app import PERIODIC

APPLY_STEP = next(p for p in PERIODIC if p.name == "learning queue: approved proposals applied")


def _approved(ll: LearnLoop, tenant: str, title: str, tags: list[str]) -> int:
    """An approved proposal for a new item, written as SQL (as an older version, a trigger or
    a hand in psql could have), so the edge checks are not in the way."""
    with ll.db.transaction() as conn:
        row = conn.execute(
            "INSERT INTO proposals (tenant_id, source, kind, title, body, tags, confidence,"
            " status, reviewer, reviewed_at)"
            " VALUES (%s, 'manual', 'faq', %s, 'b', %s, 50, 'approved', 'ana', now())"
            " RETURNING proposal_id",
            (tenant, title, tags),
        ).fetchone()
    assert row is not None
    return int(row["proposal_id"])


def test_a_poisoned_proposal_fails_alone_and_the_other_tenants_apply_in_one_tick(
    ll: LearnLoop,
) -> None:
    run = uuid.uuid4().hex[:8]
    # The poisoned tenant sorts first, so the step meets its bad proposal before the other's.
    poisoned = ll.tenants.create(f"a-poisoned-{run}").tenant_id
    healthy = ll.tenants.create(f"z-healthy-{run}").tenant_id
    bad = _approved(ll, poisoned, "t", [""])
    good_same_tenant = _approved(ll, poisoned, "Reset a password", ["account"])
    good_other = [_approved(ll, healthy, f"Question {n}", ["faq"]) for n in range(3)]

    assert APPLY_STEP.run(ll) >= 5  # one tick of the worker's periodic work

    for proposal_id in good_other:
        assert ll.proposals.get(healthy, proposal_id).status == "applied"
    assert ll.proposals.get(poisoned, good_same_tenant).status == "applied"
    failed = ll.proposals.get(poisoned, bad)
    assert failed.status == "failed"
    assert failed.apply_error is not None and "tags" in failed.apply_error
    audit = ll.proposals.audit(poisoned, bad)
    assert [(a.action, a.actor) for a in audit] == [("failed", "worker")]
    assert ll.proposals.list(poisoned, status="failed")[0].proposal_id == bad
    APPLY_STEP.run(ll)  # a failed proposal is not retried tick after tick
    assert ll.proposals.get(poisoned, bad).status == "failed"

    # A reviewer fixes it and approves it again; the next tick applies it.
    ll.proposals.edit(poisoned, bad, {"tags": ["fixed"], "reviewer": "ana"})
    again = ll.proposals.approve(poisoned, bad, {"reviewer": "ana"})
    assert (again.status, again.apply_error) == ("approved", None)
    APPLY_STEP.run(ll)
    applied = ll.proposals.get(poisoned, bad)
    assert applied.status == "applied"
    assert applied.applied_item_id is not None
    assert ll.items.get(poisoned, applied.applied_item_id).tags == ["fixed"]


def test_a_failed_proposal_can_be_rejected(ll: LearnLoop, tenant: str) -> None:
    bad = _approved(ll, tenant, "t", ["  "])
    ll.proposals.apply(tenant_id=tenant)
    assert ll.proposals.get(tenant, bad).status == "failed"
    assert ll.proposals.reject(tenant, bad, {"reviewer": "ana"}).status == "rejected"


def test_empty_tags_are_refused_at_the_edge_naming_the_field(api: TestClient) -> None:
    made = api.post("/v1/proposals", json={"title": "t", "kind": "faq", "body": "b", "tags": [""]})
    assert made.status_code == 422, made.text
    assert "tags" in made.text
    made = api.post("/v1/proposals", json={"title": "t", "body": "b", "tags": ["ok"]})
    assert made.status_code == 201, made.text
    edited = api.patch(
        f"/v1/proposals/{made.json()['proposal_id']}", json={"tags": [" "], "reviewer": "ana"}
    )
    assert edited.status_code == 422, edited.text
    assert "tags" in edited.text

"""Playbook recommendations from accounts with similar KPIs and what their playbooks achieved."""

from __future__ import annotations

import uuid

import pytest

from learnloop import LearnLoop
from learnloop.context.effects import effect, improvements, similarities
from learnloop.errors import InvalidInput, NotFound

# Latest KPI values: "target" is like "near-1" and "near-2", unlike "far-1" and "far-2".
KPIS = {
    "target": {"nps": 20.0, "weekly_active_users": 30.0, "support_tickets": 50.0},
    "near-1": {"nps": 22.0, "weekly_active_users": 28.0, "support_tickets": 55.0},
    "near-2": {"nps": 18.0, "weekly_active_users": 33.0, "support_tickets": 47.0},
    "far-1": {"nps": 80.0, "weekly_active_users": 90.0, "support_tickets": 5.0},
    "far-2": {"nps": 75.0, "weekly_active_users": 95.0, "support_tickets": 8.0},
}


def load_accounts(ll: LearnLoop, tenant: str) -> None:
    """Accounts and KPI values as the ingest stores them; an older value must be ignored."""
    with ll.db.transaction() as conn:
        for account, kpis in KPIS.items():
            conn.execute(
                "INSERT INTO accounts (tenant_id, account_id, name) VALUES (%s, %s, %s)",
                (tenant, account, account.title()),
            )
            for kpi, value in kpis.items():
                for age, recorded in ((30, 1000.0), (0, value)):  # an old value, then the latest
                    conn.execute(
                        "INSERT INTO kpi_values (tenant_id, account_id, kpi, value, recorded_at,"
                        " fingerprint) VALUES (%s, %s, %s, %s, now() - make_interval(days => %s),"
                        " %s)",
                        (tenant, account, kpi, recorded, age, uuid.uuid4().hex),
                    )


def report(ll: LearnLoop, tenant: str, account: str, playbook: str, status: str,
           wau: tuple[float, float] | None = None, tickets: tuple[float, float] | None = None
           ) -> int:  # fmt: skip
    outcomes = []
    if wau:
        outcomes.append({"metric": "weekly_active_users", "before": wau[0], "after": wau[1]})
    if tickets:
        outcomes.append({"metric": "support_tickets", "before": tickets[0], "after": tickets[1]})
    return ll.tracking.report(
        tenant,
        {"account": account, "playbook": playbook, "status": status, "steps_total": 3,
         "steps_completed": 3 if status == "completed" else 1, "outcomes": outcomes,
         "executive_summary": f"{playbook} at {account}"},
    ).report_id  # fmt: skip


@pytest.fixture
def history(ll: LearnLoop, tenant: str) -> dict[str, int]:
    load_accounts(ll, tenant)
    return {
        # Worked for both similar accounts: more users, fewer tickets.
        "workshop-1": report(ll, tenant, "near-1", "Adoption workshop", "completed",
                             wau=(28, 40), tickets=(55, 35)),
        "workshop-2": report(ll, tenant, "near-2", "Adoption workshop", "completed", wau=(33, 45)),
        # Failed at one similar account and made things worse at the other...
        "review-1": report(ll, tenant, "near-1", "Executive review", "failed"),
        "review-2": report(ll, tenant, "near-2", "Executive review", "completed",
                           wau=(33, 30), tickets=(47, 60)),
        # ...though it did wonders at accounts unlike this one, which must not count.
        "review-3": report(ll, tenant, "far-1", "Executive review", "completed", wau=(90, 160)),
        "review-4": report(ll, tenant, "far-2", "Executive review", "completed", wau=(95, 170)),
        "far-only": report(ll, tenant, "far-1", "Premium upsell", "completed", wau=(90, 99)),
        # Still running: no outcome yet.
        "running": report(ll, tenant, "near-1", "Health check", "in_progress"),
    }  # fmt: skip


def test_a_playbook_that_worked_for_similar_accounts_beats_one_that_did_not(
    ll: LearnLoop, tenant: str, history: dict[str, int]
) -> None:
    advice = ll.playbooks.recommend(tenant, {"account": "target", "k": 5})
    assert {a.account_id for a in advice.similar_accounts} == {"near-1", "near-2"}
    assert all(a.similarity > 0.5 and a.shared_kpis == 3 for a in advice.similar_accounts)
    assert advice.kpis == KPIS["target"]  # the latest values, not the older ones
    names = [r.playbook for r in advice.recommendations]
    assert names == ["Adoption workshop", "Executive review"]
    best, worst = advice.recommendations
    assert (best.rank, best.reports, best.worked) == (1, 2, 2)
    assert best.score > 0 > worst.score
    assert {e.report_id for e in best.evidence} == {history["workshop-1"], history["workshop-2"]}
    assert {e.report_id for e in worst.evidence} == {history["review-1"], history["review-2"]}
    first = next(e for e in best.evidence if e.report_id == history["workshop-1"])
    changes = {i.metric: round(i.change, 3) for i in first.improvements}
    assert changes == {
        "weekly_active_users": round(12 / 28, 3),  # 28 -> 40: more is better
        "support_tickets": round(20 / 55, 3),  # 55 -> 35: fewer is better
    }


def test_playbooks_the_account_ran_are_left_out_unless_asked(
    ll: LearnLoop, tenant: str, history: dict[str, int]
) -> None:
    report(ll, tenant, "target", "Adoption workshop", "completed", wau=(30, 31))
    advice = ll.playbooks.recommend(tenant, {"account": "target"})
    assert [r.playbook for r in advice.recommendations] == ["Executive review"]
    again = ll.playbooks.recommend(tenant, {"account": "target", "include_tried": True})
    assert again.recommendations[0].playbook == "Adoption workshop"
    assert again.recommendations[0].tried_by_account


def test_accounts_of_another_tenant_do_not_count(
    ll: LearnLoop, tenant: str, history: dict[str, int]
) -> None:
    other = ll.tenants.create(f"o-{uuid.uuid4().hex[:12]}").tenant_id
    load_accounts(ll, other)
    advice = ll.playbooks.recommend(other, {"account": "target"})
    assert advice.recommendations == [] and len(advice.similar_accounts) == 2
    with pytest.raises(NotFound, match="no account"):
        ll.playbooks.recommend(tenant, {"account": "nobody"})
    with pytest.raises(InvalidInput, match="k"):
        ll.playbooks.recommend(tenant, {"account": "target", "k": 0})


def test_similarity_standardises_each_kpi_and_skips_constant_ones() -> None:
    kpis = {
        "a": {"revenue": 1_000_000.0, "nps": 10.0, "seats": 5.0},
        "b": {"revenue": 1_000_100.0, "nps": 12.0, "seats": 5.0},
        "c": {"revenue": 10.0, "nps": 90.0, "seats": 5.0},
    }
    found = similarities(kpis, "a")
    assert found["b"][0] > 0.9 and found["c"][0] < -0.9
    assert found["b"][1] == 2  # seats, the same everywhere, says nothing
    assert similarities(kpis, "missing") == {}


def test_effects_know_lower_is_better_for_tickets_and_churn() -> None:
    better = improvements([{"metric": "Churn rate", "before": 0.1, "after": 0.05},
                           {"metric": "NPS", "before": 10.0, "after": 20.0},
                           {"metric": "seats", "before": None, "after": 3.0}])  # fmt: skip
    assert [(i.metric, i.change) for i in better] == [("Churn rate", 0.5), ("NPS", 1.0)]
    assert effect("completed", better) == 0.75
    assert effect("abandoned", better) == -1.0

"""Rewards and statistics kept up to date from new events, on the real database."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from learnloop import LearnLoop
from learnloop._ids import uuid7
from learnloop.learn import stats

ITEMS = [
    {"kind": "faq", "title": "Reset a forgotten password", "body": "Settings > Security > Reset."},
    {"kind": "faq", "title": "Change your password", "body": "Settings > Security > Change."},
    {"kind": "faq", "title": "Password requirements", "body": "12 characters and a digit."},
]
QUESTION = "how do I change or reset my password"


def drain(ll: LearnLoop, **options: Any) -> int:
    """Run the update until nothing is pending; the rows processed."""
    total = 0
    while (n := stats.update(ll.db, **options)) > 0:
        total += n
    return total


@pytest.fixture
def shown(ll: LearnLoop, tenant: str) -> dict[str, Any]:
    ll.items.put_many(tenant, ITEMS)
    ll.recommender.set_threshold(tenant, 0.0)  # several items shown, whatever their confidence
    answer = ll.recommender.recommend(tenant, {"query": QUESTION, "context": {"segment": "smb"}})
    assert len(answer.recommendations) >= 2
    drain(ll)
    return {"impression": answer.impression_id, "items": answer.recommendations}


def stat_rows(ll: LearnLoop, tenant: str) -> dict[tuple[str, str, int], dict[str, Any]]:
    with ll.db.connection() as conn:
        rows = conn.execute("SELECT * FROM learn_stats WHERE tenant_id = %s", (tenant,)).fetchall()
    return {(r["dimension"], r["value"], r["item_id"]): r for r in rows}


def test_shown_items_count_as_trials_weighted_by_rank(ll: LearnLoop, tenant: str, shown: Any):
    rows = stat_rows(ll, tenant)
    for rec in shown["items"]:
        for key in (("", "", rec.item.item_id), ("segment", "smb", rec.item.item_id)):
            assert rows[key]["trials"] == 1
            assert rows[key]["exposure"] == pytest.approx(1.0 / rec.rank)
            assert rows[key]["reward"] == 0


def test_events_change_rewards_once_and_by_the_strongest_outcome(
    ll: LearnLoop, tenant: str, shown: Any
):
    first, second = shown["items"][0].item.item_id, shown["items"][1].item.item_id
    impression = shown["impression"]
    events = [
        {"type": "clicked", "impression_id": impression, "item_id": first},
        {"type": "succeeded", "impression_id": impression, "item_id": first},
        {"type": "viewed", "impression_id": impression, "item_id": first},  # weaker: ignored
        {"type": "dismissed", "impression_id": impression, "rank": 2},  # item from the rank
    ]
    ll.events.record(tenant, events)
    assert drain(ll) == 4
    assert drain(ll) == 0  # idempotent: nothing left to count
    rows = stat_rows(ll, tenant)
    assert rows["", "", first]["reward"] == pytest.approx(1.0)
    assert rows["", "", first]["positive"] == pytest.approx(1.0)
    assert rows["segment", "smb", second]["reward"] == pytest.approx(-0.1)
    assert rows["", "", second]["positive"] == 0


def test_an_event_committed_late_with_a_lower_id_is_still_counted(
    ll: LearnLoop, tenant: str, shown: Any, database_url: str
):
    impression, first = shown["impression"], shown["items"][0].item.item_id
    ll.events.record(tenant, [{"type": "viewed", "impression_id": impression, "rank": 3}])
    with psycopg.connect(database_url) as slow:  # takes its ids first, commits last
        slow.execute(
            "INSERT INTO events (tenant_id, type, impression_id, item_id, occurred_at,"
            " impression_seen) VALUES (%s, 'succeeded', %s, %s, now(), true)",
            (tenant, impression, first),
        )
        ll.events.record(tenant, [{"type": "clicked", "impression_id": impression, "rank": 2}])
        drain(ll)
        slow.commit()
    drain(ll)
    rows = stat_rows(ll, tenant)
    assert rows["", "", first]["reward"] == pytest.approx(1.0)


def test_concurrent_updates_count_every_event_exactly_once(ll: LearnLoop, tenant: str):
    ll.items.put_many(tenant, ITEMS)
    impressions = [
        ll.recommender.recommend(tenant, {"query": QUESTION, "context": {"segment": "b"}})
        for _ in range(30)
    ]
    events = [
        {"type": "clicked", "impression_id": a.impression_id, "item_id": rec.item.item_id}
        for a in impressions
        for rec in a.recommendations
    ]
    ll.events.record(tenant, events)
    counted: list[int] = []

    def work() -> None:
        counted.append(drain(ll, limit=7))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    drain(ll)
    rows = stat_rows(ll, tenant)
    total = sum(r["reward"] for (d, _, _), r in rows.items() if d == "")
    assert total == pytest.approx(0.3 * len(events))
    assert sum(r["trials"] for (d, _, _), r in rows.items() if d == "") == len(events)


def test_an_item_with_no_outcome_gets_the_default_reward_after_the_wait(ll: LearnLoop, tenant: str):
    ll.learning.configure(tenant, {"rewards": {"no_outcome": -0.05, "wait_seconds": 60}})
    ll.items.put_many(tenant, ITEMS)
    ll.recommender.set_threshold(tenant, 0.0)
    answer = ll.recommender.recommend(tenant, {"query": QUESTION})
    drain(ll)
    first = answer.recommendations[0].item.item_id
    assert stat_rows(ll, tenant)["", "", first]["reward"] == 0  # still waiting
    drain(ll, now=datetime.now(UTC) + timedelta(seconds=61))
    rows = stat_rows(ll, tenant)
    assert all(
        rows["", "", r.item.item_id]["reward"] == pytest.approx(-0.05)
        for r in answer.recommendations
    )
    ll.events.record(
        tenant, [{"type": "clicked", "impression_id": answer.impression_id, "item_id": first}]
    )  # late: replaces the default
    drain(ll)
    assert stat_rows(ll, tenant)["", "", first]["reward"] == pytest.approx(0.3)


def test_an_event_for_an_impression_never_logged_waits_without_keeping_the_update_busy(
    ll: LearnLoop, tenant: str, shown: Any
):
    """An event may arrive before its impression commits, so its row waits; until then it
    is not work done (a caller repeating while the update returns more than 0 would spin),
    and after ``ORPHAN_AFTER`` it is dropped without touching the statistics."""
    item = shown["items"][0].item.item_id
    before = stat_rows(ll, tenant)
    ghost = str(uuid7())  # an impression id of now that this tenant never logged
    ll.events.record(tenant, [{"type": "clicked", "impression_id": ghost, "item_id": item}])

    def pending() -> int:
        with ll.db.connection() as conn:
            row = conn.execute(
                "SELECT count(*) AS n FROM learn_pending WHERE tenant_id = %s", (tenant,)
            ).fetchone()
        return int(row["n"])  # type: ignore[index]

    assert pending() == 1
    assert stats.update_tenant(ll.db, tenant) == 0  # put back to wait, not counted
    assert stats.update_tenant(ll.db, tenant) == 0
    assert pending() == 1
    later = datetime.now(UTC) + stats.ORPHAN_AFTER + timedelta(minutes=1)
    assert stats.update_tenant(ll.db, tenant, now=later) == 1  # given up: dropped
    assert pending() == 0
    assert stats.update_tenant(ll.db, tenant, now=later) == 0
    after = stat_rows(ll, tenant)
    assert {k: v["reward"] for k, v in after.items()} == {k: v["reward"] for k, v in before.items()}

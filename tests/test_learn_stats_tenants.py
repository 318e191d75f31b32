"""The statistics update, tenant by tenant: each under its own lock, in its own transaction."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from learnloop import LearnLoop
from learnloop.learn import stats
from tests.test_learn_stats import ITEMS, QUESTION, drain


def make_tenant(ll: LearnLoop, impressions: int = 3) -> str:
    """A tenant with impressions shown and one click on each item shown."""
    tenant = ll.tenants.create(f"locks-{uuid.uuid4().hex[:8]}").tenant_id
    ll.items.put_many(tenant, ITEMS)
    ll.recommender.set_threshold(tenant, 0.0)
    answers = [
        ll.recommender.recommend(tenant, {"query": QUESTION, "context": {"segment": "a"}})
        for _ in range(impressions)
    ]
    ll.events.record(
        tenant,
        [
            {"type": "clicked", "impression_id": a.impression_id, "item_id": r.item.item_id}
            for a in answers
            for r in a.recommendations
        ],
    )
    return tenant


def pending(ll: LearnLoop, tenant: str) -> int:
    with ll.db.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM learn_pending WHERE tenant_id = %s", (tenant,)
        ).fetchone()
    assert row is not None
    return int(row["n"])


def overall(ll: LearnLoop, tenant: str) -> dict[int, tuple[int, float]]:
    """Trials and reward per item, as the update counted them."""
    with ll.db.connection() as conn:
        rows = conn.execute(
            "SELECT item_id, trials, reward FROM learn_stats"
            " WHERE tenant_id = %s AND dimension = ''",
            (tenant,),
        ).fetchall()
    return {r["item_id"]: (r["trials"], r["reward"]) for r in rows}


def recount(ll: LearnLoop, tenant: str) -> dict[int, tuple[int, float]]:
    """Trials and reward per item, counted again from the items shown and the clicks."""
    with ll.db.connection() as conn:
        rows = conn.execute(
            "SELECT ii.item_id, count(*) AS trials,"
            " 0.3 * count(*) FILTER (WHERE EXISTS (SELECT 1 FROM events AS e"
            "   WHERE e.tenant_id = ii.tenant_id AND e.impression_id = ii.impression_id"
            "   AND e.item_id = ii.item_id AND e.type = 'clicked')) AS reward"
            " FROM impression_items AS ii WHERE ii.tenant_id = %s AND ii.shown"
            " GROUP BY ii.item_id",
            (tenant,),
        ).fetchall()
    return {r["item_id"]: (r["trials"], float(r["reward"])) for r in rows}


def assert_counted_once(ll: LearnLoop, tenant: str) -> None:
    counted, expected = overall(ll, tenant), recount(ll, tenant)
    assert counted.keys() == expected.keys()
    for item, (trials, reward) in expected.items():
        assert counted[item][0] == trials
        assert counted[item][1] == pytest.approx(reward)


def test_a_tenant_locked_elsewhere_waits_and_the_others_go_on(ll: LearnLoop, database_url: str):
    a, b = make_tenant(ll), make_tenant(ll)
    with psycopg.connect(database_url) as other:  # another worker, busy with tenant a
        assert other.execute(stats.Q["try_lock"], {"tenant_id": a}).fetchone() == (True,)
        assert drain(ll) > 0  # returns, does not wait for a
        assert pending(ll, b) == 0
        assert_counted_once(ll, b)
        assert pending(ll, a) > 0
        assert overall(ll, a) == {}
        assert stats.update_tenant(ll.db, a) == 0
        other.rollback()  # the other worker is done: its lock goes
    assert drain(ll) > 0
    assert pending(ll, a) == 0
    assert_counted_once(ll, a)


def test_two_updates_at_once_count_every_outcome_exactly_once(ll: LearnLoop):
    tenants = [make_tenant(ll, impressions=8) for _ in range(2)]
    counted: list[int] = []
    start = threading.Barrier(2)

    def work() -> None:
        start.wait()
        counted.append(drain(ll, limit=5))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(counted) == 2
    for tenant in tenants:
        assert pending(ll, tenant) == 0
        assert_counted_once(ll, tenant)
    with ll.db.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM learn_outcomes WHERE tenant_id = ANY(%s)", (tenants,)
        ).fetchone()
    assert row is not None
    assert row["n"] == sum(t for tenant in tenants for t, _ in recount(ll, tenant).values())


def test_a_tenant_that_fails_is_rolled_back_and_the_others_are_updated(
    ll: LearnLoop, caplog: pytest.LogCaptureFixture
):
    bad, good = make_tenant(ll), make_tenant(ll)
    before = pending(ll, bad)
    with ll.db.transaction() as conn:  # a stored setting the update cannot read
        conn.execute(
            "UPDATE tenants SET settings = jsonb_set(settings, '{learning}',"
            ' \'{"position_bias": "steep"}\') WHERE tenant_id = %s',
            (bad,),
        )
    try:
        drain(ll)
        assert pending(ll, good) == 0
        assert_counted_once(ll, good)
        assert pending(ll, bad) == before  # nothing of it claimed, nothing lost
        assert overall(ll, bad) == {}
        assert f"tenant {bad}: the statistics update failed" in caplog.text
    finally:
        with ll.db.transaction() as conn:
            conn.execute(
                "UPDATE tenants SET settings = settings - 'learning' WHERE tenant_id = %s", (bad,)
            )
    drain(ll)
    assert pending(ll, bad) == 0
    assert_counted_once(ll, bad)

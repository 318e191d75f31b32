"""Applying approved proposals with several workers at once, and with a worker killed
mid-batch: each proposal is applied exactly once, and nothing is ever half-applied."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from learnloop.proposals import apply_approved
from learnloop.service import LearnLoop

WORKER = Path(__file__).resolve().with_name("proposals_worker.py")
REVIEW = {"reviewer": "ana"}


def _approved_revisions(ll: LearnLoop, tenant: str, n: int) -> tuple[list[int], list[int]]:
    """``n`` items, each with an approved proposal to revise it; their ids."""
    rows = [
        {"kind": "faq", "title": f"Question {i}", "body": f"Old answer {i}", "external_id": f"q{i}"}
        for i in range(n)
    ]
    items = [item.item_id for item, _ in ll.items.put_many(tenant, rows, embed=False)]
    with ll.db.transaction() as conn:
        made = conn.execute(
            "INSERT INTO proposals (tenant_id, source, item_id, kind, title, body, confidence,"
            " status, reviewer, reviewed_at)"
            " SELECT %(tenant)s, 'manual', item_id, 'faq', 'Question', 'New answer ' || item_id,"
            "        50, 'approved', 'ana', now()"
            " FROM unnest(%(items)s::bigint[]) AS item_id ORDER BY item_id"
            " RETURNING proposal_id",
            {"tenant": tenant, "items": items},
        ).fetchall()
    return items, [row["proposal_id"] for row in made]


def _applied_once(ll: LearnLoop, tenant: str, items: list[int], proposals: list[int]) -> None:
    """Every proposal applied, audited once; every item revised once, to its proposal."""
    for proposal_id in proposals:
        proposal = ll.proposals.get(tenant, proposal_id)
        assert proposal.status == "applied"
        actions = [a.action for a in ll.proposals.audit(tenant, proposal_id)]
        assert actions == ["applied"], (proposal_id, actions)
    for item_id in items:
        item = ll.items.get(tenant, item_id)
        assert (item.version, item.body) == (2, f"New answer {item_id}")
        assert [v.version for v in ll.items.versions(tenant, item_id)] == [1, 2]


def test_two_workers_applying_at_once_apply_each_proposal_exactly_once(
    ll: LearnLoop, tenant: str
) -> None:
    items, proposals = _approved_revisions(ll, tenant, 60)
    start = threading.Barrier(2)
    done: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            start.wait()
            while n := apply_approved(ll.db, ll.items, batch=5, embed=False, tenant_id=tenant):
                done[name].append(n)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in done]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sum(done["a"]) + sum(done["b"]) == 60
    assert done["a"] and done["b"], "both workers took batches"
    _applied_once(ll, tenant, items, proposals)
    assert apply_approved(ll.db, ll.items, embed=False, tenant_id=tenant) == 0


def _read_json(proc: subprocess.Popen[str], timeout: float = 60) -> dict[str, Any]:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the worker printed nothing (rc={proc.returncode}):\n{err}")
    result: dict[str, Any] = json.loads(line)
    return result


def _wait_for(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...]) -> Any:
    deadline = time.monotonic() + 60
    while (row := conn.execute(query, params).fetchone()) is None:
        assert time.monotonic() < deadline, f"timed out waiting for: {query}"
        time.sleep(0.05)
    return row


def _approved_new_items(ll: LearnLoop, tenant: str, n: int) -> list[int]:
    """``n`` approved proposals of new items; their ids."""
    with ll.db.transaction() as conn:
        made = conn.execute(
            "INSERT INTO proposals (tenant_id, source, kind, title, body, confidence, status)"
            " SELECT %s, 'correction', 'correction', 'Question ' || g, 'Answer ' || g, 60,"
            "        'approved'"
            " FROM generate_series(1, %s) AS g ORDER BY g RETURNING proposal_id",
            (tenant, n),
        ).fetchall()
    return [row["proposal_id"] for row in made]


def test_a_worker_killed_mid_batch_leaves_nothing_half_applied_and_the_batch_is_retried(
    ll: LearnLoop, tenant: str, database_url: str
) -> None:
    """A real worker process claims a batch of three revisions and three new items, starts
    writing them, blocks on the tenant row the new items' foreign key check needs (the test
    holds a lock on it), and is killed there."""
    items, revisions = _approved_revisions(ll, tenant, 3)
    creations = _approved_new_items(ll, tenant, 3)
    name = f"proposals-kill-{uuid.uuid4().hex[:8]}"
    url = psycopg.conninfo.make_conninfo(database_url, application_name=name)
    with (
        psycopg.connect(database_url, autocommit=True) as blocker,
        psycopg.connect(database_url, autocommit=True) as watcher,
    ):
        blocker.execute("BEGIN")
        blocker.execute("SELECT 1 FROM tenants WHERE tenant_id = %s FOR UPDATE", (tenant,))
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), url, tenant],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert _read_json(proc) == {"ready": True}
            backend, query = _wait_for(
                watcher,
                "SELECT pid, query FROM pg_stat_activity WHERE application_name = %s"
                " AND wait_event_type = 'Lock'",
                (name,),
            )
            # Mid-batch: the proposals are claimed and their items locked, and it waits
            # inside the statement writing the items (new rows need the tenant row).
            assert "items" in query
            writing = watcher.execute(
                "SELECT count(*) FROM pg_locks WHERE pid = %s AND mode = 'RowExclusiveLock'"
                " AND relation = 'items'::regclass",
                (backend,),
            ).fetchone()
            assert writing == (1,)
        finally:
            proc.kill()
            proc.communicate(timeout=30)
        # The server ends the dead worker's session: its transaction rolls back.
        watcher.execute("SELECT pg_terminate_backend(%s)", (backend,))
        _wait_for(
            watcher,
            "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)",
            (backend,),
        )
        blocker.execute("ROLLBACK")

    proposals = revisions + creations
    assert {ll.proposals.get(tenant, p).status for p in proposals} == {"approved"}
    assert {ll.items.get(tenant, item_id).version for item_id in items} == {1}
    assert ll.items.list(tenant, kinds=["correction"])[0] == []
    assert all(ll.proposals.audit(tenant, p) == [] for p in proposals)

    assert apply_approved(ll.db, ll.items, embed=False, tenant_id=tenant) == 6
    _applied_once(ll, tenant, items, revisions)
    made, _ = ll.items.list(tenant, kinds=["correction"])
    assert sorted(item.attrs["proposal_id"] for item in made) == creations


def test_two_proposals_revising_one_item_in_a_batch_make_two_versions(
    ll: LearnLoop, tenant: str
) -> None:
    row = {"kind": "faq", "title": "Fees", "body": "v1"}
    [(item, _)] = ll.items.put_many(tenant, [row], embed=False)
    ids = [
        ll.proposals.add(tenant, {"item_id": item.item_id, "body": body}).proposal_id
        for body in ("v2", "v3")
    ]
    for proposal_id in ids:
        ll.proposals.approve(tenant, proposal_id, REVIEW)
    assert apply_approved(ll.db, ll.items, embed=False, tenant_id=tenant) == 2
    applied = [ll.proposals.get(tenant, proposal_id) for proposal_id in ids]
    assert [(p.previous_version, p.applied_version) for p in applied] == [(1, 2), (2, 3)]
    assert ll.items.get(tenant, item.item_id).body == "v3"

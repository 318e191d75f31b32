"""Group commit of POST /v1/events: single events sent at once share one transaction, and
each call still gets its own answer (a bad one fails alone, a key repeated in a group is
stored once), given only once its events are committed; a group the database refuses is
recorded again call by call. On the real server, the real PostgreSQL and the real model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI

from learnloop import LearnLoop
from learnloop._ids import uuid7
from learnloop.api import create_app
from learnloop.api.server import config
from learnloop.errors import Conflict
from learnloop.events.service import Recorded
from learnloop.tenants import RateLimit
from tests.conftest import free_port, running
from tests.test_interactions import (
    key_of,
    new_tenant,
    put_faq,
    recommend,
    rows,
    shown_and_hidden,
    start_server,
    stop,
)


@pytest.fixture(scope="module")
def served(ll: LearnLoop) -> Iterator[tuple[FastAPI, str]]:
    """The real API (its httptools protocol) on a free loopback port: the app and its URL."""
    port = free_port()
    app = create_app(ll)
    server = uvicorn.Server(
        config(app, ll.settings, host="127.0.0.1", port=port, log_level="warning")
    )
    with running(server):
        yield app, f"http://127.0.0.1:{port}"


def _until(condition: Any, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.01)


def _waiting_on_a_lock(ll: LearnLoop) -> int:
    sql = (
        "SELECT count(*) AS n FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    return int(rows(ll, sql, {})[0]["n"])


def _stored(ll: LearnLoop, tenant: str) -> dict[int, dict[str, Any]]:
    found = rows(
        ll,
        "SELECT event_id, type, impression_id, metadata FROM events WHERE tenant_id = %(t)s",
        {"t": tenant},
    )
    return {r["event_id"]: r for r in found}


def test_concurrent_single_events_share_a_commit_each_with_its_own_answer(
    ll: LearnLoop, served: tuple[FastAPI, str], database_url: str
) -> None:
    app, url = served
    a, b = new_tenant(ll), new_tenant(ll)
    put_faq(ll, a)
    put_faq(ll, b)
    answer_a = recommend(ll, a)
    imp_a, imp_b = str(answer_a.impression_id), str(recommend(ll, b).impression_id)
    item_a, _ = shown_and_hidden(ll, a, answer_a)
    key_a, key_b = key_of(ll, a), key_of(ll, b)
    good = [{"type": "viewed", "impression_id": imp_a, "metadata": {"n": n}} for n in range(6)] + [
        {"type": "clicked", "impression_id": imp_a, "item_id": item_a, "idempotency_key": "k1"},
        {"type": "viewed", "impression_id": imp_a, "idempotency_key": "k2"},
    ]
    twice = [
        {"type": "viewed", "impression_id": imp_a, "idempotency_key": "twice",
         "metadata": {"copy": n}}
        for n in (1, 2)
    ]  # fmt: skip
    rest: list[tuple[dict[str, str], dict[str, Any]]] = [
        *[(key_a, e) for e in good + twice],
        (key_a, {"type": "bogus", "impression_id": imp_a}),  # no such type
        (key_a, {"type": "clicked", "impression_id": imp_a, "item_id": 10**12}),  # not shown
        (key_b, {"type": "viewed", "impression_id": imp_a}),  # another tenant's impression
        (key_b, {"type": "viewed", "impression_id": imp_b, "idempotency_key": "k1"}),  # b's own k1
    ]

    def post(headers: dict[str, str], event: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{url}/v1/events", json=event, headers=headers, timeout=60)

    with ThreadPoolExecutor(len(rest) + 1) as pool:
        # A transaction holding key "gate" keeps the first call's commit waiting, so the
        # calls sent meanwhile wait for it and then make one group together.
        with psycopg.connect(database_url) as gate:
            gate.execute(
                "INSERT INTO event_keys (tenant_id, idempotency_key) VALUES (%s, 'gate')", (a,)
            )
            gated = {"type": "viewed", "impression_id": imp_a, "idempotency_key": "gate"}
            first = pool.submit(post, key_a, gated)
            _until(
                lambda: (
                    getattr(app.state, "group_commit", None) is not None
                    and _waiting_on_a_lock(ll) >= 1
                ),
                "the first call waits for the gate",
            )
            groups = app.state.group_commit
            before = (groups.groups, groups.calls)
            answers = [pool.submit(post, headers, event) for headers, event in rest]
            _until(lambda: groups.waiting == len(rest), "every other call waits for a group")
            assert not first.done() and not any(f.done() for f in answers)  # none acknowledged
            gate.rollback()
        assert first.result().status_code == 200
        assert first.result().json()["stored"] == 1
        got = [f.result() for f in answers]
    assert (groups.groups - before[0], groups.calls - before[1]) == (2, 1 + len(rest))

    *ok, bogus, not_shown, foreign, b_k1 = got
    assert [r.status_code for r in ok] == [200] * len(ok)
    assert [r.json()["stored"] for r in ok[: len(good)]] == [1] * len(good)
    copies = [r.json() for r in ok[len(good) :]]
    assert sorted((c["stored"], c["duplicates"]) for c in copies) == [(0, 1), (1, 0)]
    kept = next(n for n, c in zip((1, 2), copies, strict=True) if c["stored"] == 1)
    assert bogus.status_code == 422 and "type" in bogus.json()["error"]["message"]
    assert not_shown.status_code == 422
    assert "was not shown in impression" in not_shown.json()["error"]["message"]
    assert foreign.status_code == 422
    assert foreign.json()["error"]["message"] == f"unknown impression {imp_a} in this tenant"
    assert b_k1.status_code == 200 and b_k1.json()["stored"] == 1  # keys are per tenant

    # Every acknowledged event is stored once, in its own tenant, and nothing else is.
    acknowledged = [r.json()["results"][0]["event_id"] for r in [first.result(), *ok]]
    stored_a = _stored(ll, a)
    assert sorted(stored_a) == sorted(e for e in acknowledged if e is not None)
    assert [r["metadata"] for r in stored_a.values() if r["metadata"].get("copy")] == [
        {"copy": kept}
    ]
    stored_b = _stored(ll, b)
    assert list(stored_b) == [b_k1.json()["results"][0]["event_id"]]
    assert str(stored_b[next(iter(stored_b))]["impression_id"]) == imp_b


def test_a_group_the_database_refuses_is_recorded_call_by_call(ll: LearnLoop) -> None:
    a = new_tenant(ll)
    put_faq(ll, a)
    imp = str(recommend(ll, a).impression_id)
    fresh = str(uuid7())  # an impression made just now: kept as pending, stored unchecked
    calls: list[tuple[str, list[dict[str, Any]]]] = [
        (a, [{"type": "viewed", "impression_id": imp, "idempotency_key": "x"}]),
        # A tenant that does not exist: its key cannot be claimed (event_keys -> tenants).
        ("t-no-such-tenant", [{"type": "viewed", "impression_id": fresh, "idempotency_key": "x"}]),
        (a, [{"type": "viewed", "impression_id": imp, "idempotency_key": "x"},
             {"type": "viewed", "impression_id": imp}]),
    ]  # fmt: skip
    first, ghost, last = ll.events.record_many(calls)
    assert isinstance(ghost, Conflict)
    assert isinstance(first, Recorded) and isinstance(last, Recorded)
    assert (len(first.stored), len(first.duplicates)) == (1, 0)
    assert (len(last.stored), last.duplicates) == (1, {0})  # its first event: "x" again
    assert len(_stored(ll, a)) == 2


def test_grouped_single_events_acknowledged_survive_a_killed_server(
    ll: LearnLoop, tenant: str, database_url: str, tmp_path: Any
) -> None:
    put_faq(ll, tenant)
    imp = str(recommend(ll, tenant).impression_id)
    headers = key_of(ll, tenant)
    events = [
        {"type": "viewed", "impression_id": imp, "idempotency_key": f"g-{n}", "metadata": {"n": n}}
        for n in range(200)
    ]
    log = tmp_path / "server.log"
    proc = None
    try:
        proc, url = start_server(database_url, log)
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:

            def post(event: dict[str, Any]) -> httpx.Response:
                return client.post("/v1/events", json=event)

            with ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(post, events))
        proc.kill()  # SIGKILL as soon as the last answer is in: no shutdown, no flushing
        proc.wait(timeout=10)
        assert [r.status_code for r in answers] == [200] * len(events)
        acknowledged = {r.json()["results"][0]["event_id"] for r in answers}
        assert None not in acknowledged

        proc, url = start_server(database_url, log)
        again = [httpx.post(f"{url}/v1/events", json=e, headers=headers) for e in events[:20]]
        assert [r.json()["duplicates"] for r in again] == [1] * 20
    finally:
        stop(proc)
    stored = _stored(ll, tenant)
    assert set(stored) == acknowledged
    assert sorted(r["metadata"]["n"] for r in stored.values()) == list(range(200))


# ----------------------------------------------------------------------------- the fast path


def _pairs(url: str, headers: dict[str, str], body: bytes, ctype: str = "application/json"):
    """The same request answered by FastEvents and by the route (a query string sends it
    there): both answers, and whether the first was FastEvents'."""
    sent = {**headers, "Content-Type": ctype}
    with httpx.Client(base_url=url, headers=sent, timeout=30) as client:
        return client.post("/v1/events", content=body), client.post(
            "/v1/events?via=route", content=body
        )


def _same(fast: httpx.Response, route: httpx.Response, *, ids: bool = True) -> None:
    assert fast.status_code == route.status_code
    for name in ("content-type", "retry-after", "x-frame-options", "content-security-policy"):
        assert fast.headers.get(name) == route.headers.get(name), name
    if ids:
        assert fast.json() == route.json()
    else:  # the same answer but for the event ids: the two requests stored an event each
        drop = [{k: v for k, v in r.items() if k != "event_id"} for r in fast.json()["results"]]
        again = [{k: v for k, v in r.items() if k != "event_id"} for r in route.json()["results"]]
        assert drop == again


def test_fast_events_answers_as_the_route_does(
    ll: LearnLoop, served: tuple[FastAPI, str], tenant: str
) -> None:
    app, url = served
    put_faq(ll, tenant)
    imp = str(recommend(ll, tenant).impression_id)
    writer = key_of(ll, tenant)
    reader = {"X-API-Key": ll.keys.create(tenant, "r", scopes=["read"]).key}
    slow = {"Authorization": "Bearer " + ll.keys.create(tenant, "s", rate=RateLimit(0.01, 3)).key}
    event = {"type": "viewed", "impression_id": imp}
    for headers in (writer, reader, slow):  # each key authenticates once: then it is cached
        httpx.get(f"{url}/v1/keys/current", headers=headers).raise_for_status()
    before = getattr(app.state, "fast_events", 0)

    _same(*_pairs(url, writer, json.dumps(event).encode()), ids=False)
    _same(*_pairs(url, writer, json.dumps({"events": [event, {"type": "x"}]}).encode()), ids=False)
    fast, route = _pairs(url, writer, json.dumps({**event, "type": "bogus"}).encode())
    _same(fast, route)
    assert fast.status_code == 422
    assert getattr(app.state, "fast_events", 0) - before == 2  # the 422 is an error answer
    fast, route = _pairs(url, reader, json.dumps(event).encode())
    _same(fast, route)
    assert fast.status_code == 403 and "'write' scope" in fast.json()["error"]["message"]
    fast, route = _pairs(
        url, slow, json.dumps(event).encode()
    )  # its burst of 3 (one spent): then 429
    assert (fast.status_code, route.status_code) == (200, 200)
    fast, route = _pairs(url, slow, json.dumps(event).encode())
    _same(fast, route)
    assert fast.status_code == 429 and int(fast.headers["retry-after"]) >= 1
    # What FastEvents leaves to the route: the same answers, whichever way they went.
    unknown = {"Authorization": "Bearer ll_nope_nope"}
    for headers, body, ctype in [
        (unknown, json.dumps(event).encode(), "application/json"),
        ({}, json.dumps(event).encode(), "application/json"),
        (writer, b"[1, 2]", "application/json"),
        (writer, b"{not json", "application/json"),
        (writer, b"", "application/json"),
        (writer, json.dumps({"events": {"type": "viewed"}}).encode(), "application/json"),
    ]:
        _same(*_pairs(url, headers, body, ctype))
    assert getattr(app.state, "fast_events", 0) - before == 2 + 1  # the second good batch
    stored = _stored(ll, tenant)
    assert len(stored) == 2 + 2 + 2  # two single events, two batches' good ones, two slow

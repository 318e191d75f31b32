"""Recommendations, their impressions, and what happened next: events, feedback, corrections.

Everything runs on the real embedded PostgreSQL and the real embedding model, through the
domain (``ll.recommender``, ``ll.events``, ``ll.feedback``) and through the HTTP API, and is
checked against the rows the database then holds.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from learnloop import LearnLoop
from learnloop._ids import uuid7
from learnloop._sql import load_queries
from learnloop.errors import InvalidInput, NotFound
from learnloop.events.models import MAX_BATCH
from learnloop.recommend import RecommendResponse
from learnloop.settings import Settings

EQ = load_queries("learnloop.events")
RQ = load_queries("learnloop.recommend")

FAQ = {
    "reset": (
        "Reset a forgotten password",
        "Settings > Security > Reset password; we email a link.",
    ),
    "change": ("Change your password", "Settings > Security > Change password; old, then new."),
    "rules": ("Password requirements", "A password needs 12 characters, a digit and a symbol."),
    "billing": ("Change the billing address", "Go to Billing > Details and edit the address."),
    "export": ("Export data as CSV", "Open Reports, pick the report and choose Export > CSV."),
}
# Questions whose answers the real model ranks as the tests expect (checked, not assumed).
SEVERAL = "how do I change or reset my password"  # two of the password items, confidently
ONE = "change billing address"  # the billing item alone
UNRELATED = "what is the weather like on mars"  # nothing


# ----------------------------------------------------------------------------- helpers


def put_faq(ll: LearnLoop, tenant: str) -> dict[str, int]:
    """The FAQ items in the tenant, by short name -> item id."""
    ids = {}
    for name, (title, body) in FAQ.items():
        item, _ = ll.items.put(tenant, {"kind": "faq", "title": title, "body": body})
        ids[name] = item.item_id
    return ids


def rows(ll: LearnLoop, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with ll.db.connection() as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def count(ll: LearnLoop, query: str, params: dict[str, Any]) -> int:
    (row,) = rows(ll, query, params)
    return int(row["n"])


def events_of(ll: LearnLoop, tenant: str, impression_id: Any) -> list[dict[str, Any]]:
    """The stored events of an impression, as the ``impression_events`` query orders them."""
    return rows(ll, EQ["impression_events"], {"tenant_id": tenant, "impression_id": impression_id})


def events_anywhere(ll: LearnLoop, impression_id: Any) -> int:
    """Events naming this impression id, in any tenant."""
    sql = "SELECT count(*) AS n FROM events WHERE impression_id = %(id)s"
    return count(ll, sql, {"id": impression_id})


def key_of(ll: LearnLoop, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ll.keys.create(tenant, 'test').key}"}


def new_tenant(ll: LearnLoop) -> str:
    return ll.tenants.create(f"t-{uuid.uuid4().hex[:12]}").tenant_id


def recommend(ll: LearnLoop, tenant: str, query: str = SEVERAL, **fields: Any) -> RecommendResponse:
    return ll.recommender.recommend(tenant, {"query": query, **fields})


def shown_and_hidden(ll: LearnLoop, tenant: str, answer: RecommendResponse) -> tuple[int, int]:
    """An item id shown by the impression, and one it ranked but did not show."""
    candidates = ll.recommender.impression(tenant, answer.impression_id).candidates
    shown = next(c.item_id for c in candidates if c.shown)
    hidden = next(c.item_id for c in candidates if not c.shown)
    return shown, hidden


# ----------------------------------------------------------------------------- 1. recommend


def test_recommend_shows_confident_items_and_logs_every_candidate(
    api: TestClient, ll: LearnLoop, tenant: str
) -> None:
    ids = put_faq(ll, tenant)
    ll.recommender.set_threshold(tenant, 0.125)  # the second password item is less sure
    # A second version of one item: the impression must log the version that was ranked.
    ll.items.update(tenant, ids["change"], {"body": "Settings > Security > Change password."})
    context = {"user": "ana", "session": "s-1", "plan": "pro", "locale": "pt-BR"}
    response = api.post("/v1/recommend", json={"query": SEVERAL, "context": context, "k": 3})
    assert response.status_code == 200, response.text
    answer = response.json()
    shown = answer["recommendations"]

    assert answer["strategy"] == "multiple_options"
    assert answer["threshold"] == 0.125
    assert (answer["policy"], answer["policy_version"], answer["replayed"]) == (
        "similarity",
        "1",
        False,
    )
    assert {r["item"]["item_id"] for r in shown} == {ids["reset"], ids["change"]}
    assert [r["rank"] for r in shown] == sorted(r["rank"] for r in shown)
    assert len({r["rank"] for r in shown}) == len(shown)
    for rec in shown:
        assert 0.125 <= rec["confidence"] <= 1
        assert rec["propensity"] == 1.0
        assert -1 <= rec["similarity"] <= 1

    logged = api.get(f"/v1/impressions/{answer['impression_id']}")
    assert logged.status_code == 200, logged.text
    impression = logged.json()
    assert impression["query"] == SEVERAL
    assert impression["context"] == context
    assert (impression["policy"], impression["policy_version"]) == ("similarity", "1")
    assert (impression["strategy"], impression["threshold"], impression["k"]) == (
        "multiple_options",
        0.125,
        3,
    )
    candidates = impression["candidates"]
    # Every item of the tenant was a candidate (fewer than the 10 ranked), shown or not.
    assert sorted(c["item_id"] for c in candidates) == sorted(ids.values())
    assert [c["rank"] for c in candidates] == list(range(1, len(ids) + 1))
    for cand in candidates:
        assert 0 <= cand["confidence"] <= 1
        assert cand["propensity"] == (1.0 if cand["shown"] else 0.0)
        # k=3 and multiple_options: shown is exactly "at or above the threshold".
        assert cand["shown"] == (cand["confidence"] >= 0.125), cand
        expected_version = 2 if cand["item_id"] == ids["change"] else 1
        assert cand["item_version"] == expected_version
    assert [
        (c["rank"], c["item_id"], c["score"], c["confidence"]) for c in candidates if c["shown"]
    ] == [(r["rank"], r["item"]["item_id"], r["score"], r["confidence"]) for r in shown]
    stored = rows(
        ll,
        "SELECT user_id, session_id, account_id FROM impressions"
        " WHERE tenant_id = %(t)s AND impression_id = %(i)s",
        {"t": tenant, "i": answer["impression_id"]},
    )
    assert stored == [{"user_id": "ana", "session_id": "s-1", "account_id": None}]


def test_strategy_matches_what_is_shown(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    ids = put_faq(ll, tenant)
    ll.recommender.set_threshold(tenant, 0.125)

    one = recommend(ll, tenant, ONE)
    assert one.strategy == "single_solution"
    assert [r.item.item_id for r in one.recommendations] == [ids["billing"]]
    assert one.recommendations[0].confidence >= 0.85

    # k=1: several items are confident enough, but one is shown, so it is a single solution.
    capped = recommend(ll, tenant, SEVERAL, k=1)
    assert capped.strategy == "single_solution" and len(capped.recommendations) == 1
    logged = ll.recommender.impression(tenant, capped.impression_id).candidates
    eligible = [c for c in logged if c.confidence >= capped.threshold]
    assert len(eligible) >= 2  # the cap, not the threshold, hid the others
    assert [c.rank for c in logged if c.shown] == [capped.recommendations[0].rank]

    nothing = recommend(ll, tenant, UNRELATED)
    assert (nothing.strategy, nothing.recommendations) == ("no_confident_match", [])
    logged = ll.recommender.impression(tenant, nothing.impression_id).candidates
    assert len(logged) == len(ids)
    assert all(c.confidence < 0.5 and c.propensity == 0.0 and not c.shown for c in logged)

    # Raising the threshold over every confidence shows nothing for the same question.
    before = recommend(ll, tenant, SEVERAL)
    assert before.strategy == "multiple_options"
    assert max(r.confidence for r in before.recommendations) < 0.99
    response = api.put("/v1/tenant/settings", json={"confidence_threshold": 0.99})
    assert response.status_code == 200 and response.json() == {"confidence_threshold": 0.99}
    answer = api.post("/v1/recommend", json={"query": SEVERAL}).json()
    assert (answer["strategy"], answer["recommendations"]) == ("no_confident_match", [])
    assert answer["threshold"] == pytest.approx(0.99)
    impression = api.get(f"/v1/impressions/{answer['impression_id']}").json()
    assert impression["threshold"] == pytest.approx(0.99)
    assert all(c["propensity"] == 0.0 for c in impression["candidates"])
    assert ll.recommender.threshold(tenant) == pytest.approx(0.99)

    refused = api.put("/v1/tenant/settings", json={"confidence_threshold": 1.5})
    assert refused.status_code == 422
    assert "confidence_threshold" in refused.json()["error"]["message"]
    assert ll.recommender.threshold(tenant) == pytest.approx(0.99)
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        ll.recommender.set_threshold(tenant, -0.1)


def test_impressions_reject_bad_requests(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    put_faq(ll, tenant)
    for body, message in [
        ({"query": ""}, "String should have at least 1 character"),
        ({"query": "password", "k": 0}, "k: Input should be greater than or equal to 1"),
        ({"query": "password", "k": 21}, "k: Input should be less than or equal to 20"),
        ({"query": "password", "kinds": ["poem"]}, "kinds.0: Input should be 'runbook'"),
        ({"query": "password", "context": {"user": "u" * 201}}, "context.user"),
    ]:
        response = api.post("/v1/recommend", json=body)
        assert response.status_code == 422, body
        assert message in response.json()["error"]["message"], body
    assert api.get(f"/v1/impressions/{uuid7()}").status_code == 404
    assert api.get("/v1/impressions/not-a-uuid").status_code == 422
    assert (
        count(ll, "SELECT count(*) AS n FROM impressions WHERE tenant_id = %(t)s", {"t": tenant})
        == 0
    )


def test_an_error_in_the_query_field_names_it(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    response = api.post("/v1/recommend", json={"query": ""})
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("query: ")
    with pytest.raises(InvalidInput, match=r"^query: String should have at most 2000"):
        ll.feedback.correct(
            tenant,
            {
                "response_id": "r",
                "original_response": "a",
                "corrected_answer": "b",
                "query": "q" * 2001,
            },
        )


# ----------------------------------------------------------------------------- 2. idempotent


def test_the_same_recommend_key_answers_the_first_answer(
    api: TestClient, ll: LearnLoop, tenant: str
) -> None:
    put_faq(ll, tenant)
    body = {"query": SEVERAL, "context": {"user": "bo"}, "idempotency_key": "rec-1"}
    first = api.post("/v1/recommend", json=body).json()
    again = api.post("/v1/recommend", json=body).json()
    assert first["replayed"] is False and again["replayed"] is True
    assert again["impression_id"] == first["impression_id"]
    for field in ("strategy", "threshold", "policy", "policy_version", "created_at"):
        assert again[field] == first[field], field
    assert [
        (r["rank"], r["item"]["item_id"], r["confidence"], r["propensity"])
        for r in again["recommendations"]
    ] == [
        (r["rank"], r["item"]["item_id"], r["confidence"], r["propensity"])
        for r in first["recommendations"]
    ]
    # Even with another question, the key answers the first answer and logs nothing new.
    other = api.post("/v1/recommend", json=body | {"query": UNRELATED}).json()
    assert other["impression_id"] == first["impression_id"] and other["replayed"] is True
    params = {"t": tenant}
    assert count(ll, "SELECT count(*) AS n FROM impressions WHERE tenant_id = %(t)s", params) == 1
    items_logged = "SELECT count(*) AS n FROM impression_items WHERE tenant_id = %(t)s"
    assert count(ll, items_logged, params) == len(FAQ)
    # The same key in another tenant is that tenant's own.
    other_tenant = new_tenant(ll)
    put_faq(ll, other_tenant)
    theirs = recommend(ll, other_tenant, SEVERAL, idempotency_key="rec-1")
    assert not theirs.replayed and str(theirs.impression_id) != first["impression_id"]


def test_the_same_recommend_key_from_two_threads_logs_one_impression(
    ll: LearnLoop, tenant: str
) -> None:
    put_faq(ll, tenant)
    for round_ in range(3):
        key = f"race-{round_}"
        barrier = threading.Barrier(2, timeout=30)

        def call(key: str = key, barrier: threading.Barrier = barrier) -> RecommendResponse:
            barrier.wait()
            return recommend(ll, tenant, SEVERAL, idempotency_key=key)

        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = [f.result() for f in [pool.submit(call), pool.submit(call)]]
        assert answers[0].impression_id == answers[1].impression_id
        assert sorted(a.replayed for a in answers) == [False, True]
        assert [r.item.item_id for r in answers[0].recommendations] == [
            r.item.item_id for r in answers[1].recommendations
        ]
        sql = (
            "SELECT count(*) AS n FROM impressions"
            " WHERE tenant_id = %(t)s AND idempotency_key = %(k)s"
        )
        assert count(ll, sql, {"t": tenant, "k": key}) == 1
        logged = "SELECT count(*) AS n FROM impression_items WHERE impression_id = %(i)s"
        assert count(ll, logged, {"i": answers[0].impression_id}) == len(FAQ)
    total = "SELECT count(*) AS n FROM impressions WHERE tenant_id = %(t)s"
    assert count(ll, total, {"t": tenant}) == 3


def test_a_replay_shows_the_items_as_they_were_shown(ll: LearnLoop, tenant: str) -> None:
    ids = put_faq(ll, tenant)
    first = recommend(ll, tenant, ONE, idempotency_key="as-shown")
    assert [r.item.item_id for r in first.recommendations] == [ids["billing"]]
    ll.items.update(tenant, ids["billing"], {"body": "Billing > Details > Address (new UI)."})
    again = recommend(ll, tenant, ONE, idempotency_key="as-shown")
    assert again.replayed
    assert again.recommendations[0].item.version == first.recommendations[0].item.version
    assert again.recommendations[0].item.body == first.recommendations[0].item.body


# ----------------------------------------------------------------------------- 3. events


def test_every_click_is_kept_in_order(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    put_faq(ll, tenant)
    answer = recommend(ll, tenant)
    imp = str(answer.impression_id)
    first = answer.recommendations[0]
    batch = [
        {"type": "viewed", "impression_id": imp},
        {"type": "clicked", "impression_id": imp, "item_id": first.item.item_id},
        {"type": "clicked", "impression_id": imp, "item_id": first.item.item_id},
        {"type": "clicked", "impression_id": imp, "metadata": {"n": 3}},
    ]
    response = api.post("/v1/events", json={"events": batch})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["stored"], result["duplicates"], result["errors"]) == (4, 0, 0)
    assert [r["index"] for r in result["results"]] == [0, 1, 2, 3]
    single = api.post("/v1/events", json={"type": "executed", "impression_id": imp})
    assert single.status_code == 200 and single.json()["stored"] == 1
    later = datetime.now(UTC) + timedelta(seconds=1)
    api.post(
        "/v1/events",
        json={"type": "succeeded", "impression_id": imp, "occurred_at": later.isoformat()},
    )

    stored = events_of(ll, tenant, answer.impression_id)
    assert [e["type"] for e in stored] == [
        "viewed",
        "clicked",
        "clicked",
        "clicked",
        "executed",
        "succeeded",
    ]
    event_ids = [e["event_id"] for e in stored]
    assert event_ids[:4] == [r["event_id"] for r in result["results"]]
    assert event_ids[4] == single.json()["results"][0]["event_id"]
    # A click naming a shown item gets its rank from the impression.
    assert [(e["item_id"], e["rank"]) for e in stored[1:3]] == [
        (first.item.item_id, first.rank)
    ] * 2
    assert stored[3]["metadata"] == {"n": 3}
    assert all(e["impression_seen"] for e in stored)
    assert stored[-1]["occurred_at"] == later


def test_an_event_naming_a_session_joins_its_latest_impression(
    api: TestClient, ll: LearnLoop, tenant: str
) -> None:
    put_faq(ll, tenant)
    older = recommend(ll, tenant, ONE, context={"session": "chat-9"})
    newer = recommend(ll, tenant, SEVERAL, context={"session": "chat-9"})
    elsewhere = recommend(ll, tenant, SEVERAL, context={"session": "chat-10"})
    response = api.post(
        "/v1/events",
        json={
            "events": [
                {"type": "clicked", "session": "chat-9"},
                {"type": "viewed", "session": "chat-10"},
                {"type": "viewed", "session": "chat-404"},
            ]
        },
    )
    results = response.json()["results"]
    assert [r["impression_id"] for r in results[:2]] == [
        str(newer.impression_id),
        str(elsewhere.impression_id),
    ]
    assert results[2]["status"] == "error"
    assert "session 'chat-404' has no impression to attach to" in results[2]["error"]
    assert [e["type"] for e in events_of(ll, tenant, newer.impression_id)] == ["clicked"]
    assert events_of(ll, tenant, older.impression_id) == []
    single = api.post("/v1/events", json={"type": "viewed", "session": "nobody"})
    assert single.status_code == 422
    assert "has no impression" in single.json()["error"]["message"]


def test_a_retried_event_is_stored_once(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    put_faq(ll, tenant)
    imp = str(recommend(ll, tenant).impression_id)
    click = {"type": "clicked", "impression_id": imp, "idempotency_key": "click-1"}
    other = {"type": "viewed", "impression_id": imp, "idempotency_key": "view-1"}
    response = api.post("/v1/events", json={"events": [click, other, click]})
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["stored", "stored", "duplicate"]
    assert (body["stored"], body["duplicates"], body["errors"]) == (2, 1, 0)
    assert body["results"][2]["event_id"] is None
    assert body["results"][2]["impression_id"] == imp

    retried = api.post("/v1/events", json=click)
    assert retried.status_code == 200
    assert [r["status"] for r in retried.json()["results"]] == ["duplicate"]
    results = ll.events.record(tenant, [click, other, {"type": "dismissed", "impression_id": imp}])
    assert [r.status for r in results] == ["duplicate", "duplicate", "stored"]
    assert [e["type"] for e in events_of(ll, tenant, imp)] == ["clicked", "viewed", "dismissed"]
    # The key is this tenant's: another tenant's event with the same key is its own.
    theirs = new_tenant(ll)
    put_faq(ll, theirs)
    their_imp = str(recommend(ll, theirs).impression_id)
    mine = ll.events.record(theirs, [click | {"impression_id": their_imp}])
    assert mine[0].status == "stored"


def test_a_batch_stores_its_good_events_and_answers_each_bad_one(
    api: TestClient, ll: LearnLoop, tenant: str
) -> None:
    put_faq(ll, tenant)
    answer = recommend(ll, tenant)
    imp = str(answer.impression_id)
    shown, hidden = shown_and_hidden(ll, tenant, answer)
    rank = next(r.rank for r in answer.recommendations if r.item.item_id == shown)
    now = datetime.now(UTC)
    an_hour_ago = uuid7(int((time.time() - 3600) * 1000))
    good = {"type": "clicked", "impression_id": imp}
    batch: list[Any] = [
        good | {"metadata": {"good": 0}},
        {"type": "hovered", "impression_id": imp},
        {"type": "clicked", "impression_id": str(uuid.uuid4())},
        good | {"metadata": {"good": 1}, "item_id": shown, "rank": rank},
        {"type": "clicked", "impression_id": str(an_hour_ago)},
        good | {"occurred_at": (now + timedelta(days=1)).isoformat()},
        good | {"rank": 0},
        good | {"item_id": "x"},
        good | {"item_id": hidden},
        good | {"item_id": shown, "rank": rank + 1},
        {"type": "clicked"},
        good | {"occurred_at": (now - timedelta(days=731)).isoformat()},
        good | {"color": "red"},
        "not an event",
        good | {"metadata": {"good": 2}, "occurred_at": (now - timedelta(minutes=1)).isoformat()},
    ]
    expected_errors = {
        1: "type: Input should be 'viewed', 'clicked', 'executed', 'succeeded', 'failed'",
        2: "unknown impression",
        4: f"unknown impression {an_hour_ago} in this tenant",
        5: "is in the future; send UTC times",
        6: "rank: Input should be greater than or equal to 1",
        7: "item_id: Input should be a valid integer",
        8: f"item {hidden} was not shown in impression {imp}",
        9: f"item {shown} was shown at rank {rank}, not {rank + 1}",
        10: "name the impression_id, or the session whose latest impression it is",
        11: "is older than the retention",
        12: "color: Extra inputs are not permitted",
        13: "Input should be a valid dictionary",
    }
    response = api.post("/v1/events", json={"events": batch})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["stored"], body["duplicates"], body["errors"]) == (3, 0, len(expected_errors))
    for result in body["results"]:
        index = result["index"]
        if index in expected_errors:
            assert result["status"] == "error", result
            assert expected_errors[index] in result["error"], result
            assert result["event_id"] is None
        else:
            assert result["status"] == "stored" and result["error"] is None, result
    # Every error is its own: no two bad events share a message.
    messages = [r["error"] for r in body["results"] if r["error"]]
    assert len(set(messages)) == len(messages)
    stored = events_of(ll, tenant, imp)
    assert sorted(e["metadata"]["good"] for e in stored) == [0, 1, 2]
    assert {(e["item_id"], e["rank"]) for e in stored} == {(None, None), (shown, rank)}
    assert events_anywhere(ll, an_hour_ago) == 0


def test_a_single_bad_event_is_a_422_and_stores_nothing(
    api: TestClient, ll: LearnLoop, tenant: str
) -> None:
    put_faq(ll, tenant)
    imp = str(recommend(ll, tenant).impression_id)
    for event, message in [
        ({"type": "clicked", "impression_id": imp, "rank": 0}, "rank: Input should be greater"),
        ({"type": "clicked", "impression_id": str(uuid.uuid4())}, "unknown impression"),
        ({"type": "poked", "impression_id": imp}, "type: Input should be"),
        ({"events": "clicked"}, '"events" must be a list of events'),
    ]:
        response = api.post("/v1/events", json=event)
        assert response.status_code == 422, (event, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert message in error["message"], (event, error)
    assert events_of(ll, tenant, imp) == []


def test_a_batch_over_the_limit_is_refused(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    put_faq(ll, tenant)
    imp = str(recommend(ll, tenant).impression_id)
    events = [{"type": "viewed", "impression_id": imp}] * (MAX_BATCH + 1)
    response = api.post("/v1/events", json={"events": events})
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "at most 10,000 events a call, not 10,001"
    with pytest.raises(InvalidInput, match="at most 10,000 events a call"):
        ll.events.record(tenant, events)
    assert events_of(ll, tenant, imp) == []
    # The limit itself is fine.
    accepted = api.post("/v1/events", json={"events": events[:MAX_BATCH]})
    assert accepted.status_code == 200 and accepted.json()["stored"] == MAX_BATCH


def test_an_event_older_than_the_retention_is_refused(ll: LearnLoop, tenant: str) -> None:
    put_faq(ll, tenant)
    imp = str(recommend(ll, tenant).impression_id)
    retention = timedelta(days=ll.settings.event_retention_days)
    now = datetime.now(UTC)
    too_old = {
        "type": "viewed",
        "impression_id": imp,
        "occurred_at": now - retention - timedelta(hours=1),
    }
    just_in = {
        "type": "viewed",
        "impression_id": imp,
        "occurred_at": now - retention + timedelta(hours=1),
    }
    naive_old = too_old | {
        "occurred_at": (now - retention - timedelta(hours=1)).replace(tzinfo=None)
    }
    results = ll.events.record(tenant, [too_old, just_in, naive_old])
    assert [r.status for r in results] == ["error", "stored", "error"]
    assert results[0].error is not None and "older than the retention" in results[0].error
    assert [e["occurred_at"] for e in events_of(ll, tenant, imp)] == [just_in["occurred_at"]]


@pytest.mark.parametrize(
    "bad",
    [
        {"rank": 2**31},
        {"metadata": {"note": "a\x00b"}},
        {"idempotency_key": "a\x00b"},
    ],
    ids=["rank-out-of-range", "nul-in-metadata", "nul-in-key"],
)
def test_an_event_postgres_cannot_store_fails_alone(
    ll: LearnLoop, tenant: str, bad: dict[str, Any]
) -> None:
    put_faq(ll, tenant)
    imp = str(recommend(ll, tenant).impression_id)
    good = {"type": "viewed", "impression_id": imp}
    results = ll.events.record(tenant, [good, good | bad, good])
    assert [r.status for r in results] == ["stored", "error", "stored"]
    assert len(events_of(ll, tenant, imp)) == 2


@pytest.mark.parametrize(
    "call",
    ["recommend-query", "recommend-context", "feedback-reason", "feedback-item", "correction"],
)
def test_a_request_postgres_cannot_store_is_invalid_input(
    ll: LearnLoop, tenant: str, call: str
) -> None:
    put_faq(ll, tenant)
    imp = str(recommend(ll, tenant).impression_id)
    thumbs = {"impression_id": imp, "kind": "thumbs", "value": "up"}
    with pytest.raises(InvalidInput):
        if call == "recommend-query":
            recommend(ll, tenant, "reset\x00password")
        elif call == "recommend-context":
            recommend(ll, tenant, SEVERAL, context={"note": "a\x00b"})
        elif call == "feedback-reason":
            ll.feedback.add(tenant, thumbs | {"reason": "a\x00b"})
        elif call == "feedback-item":
            ll.feedback.add(tenant, thumbs | {"item_id": 2**63})
        else:
            fix = {"impression_id": imp, "original_response": "a", "corrected_answer": "b\x00"}
            ll.feedback.correct(tenant, fix)
    tables = ("feedback", "corrections")
    for table in tables:
        sql = f"SELECT count(*) AS n FROM {table} WHERE tenant_id = %(t)s"
        assert count(ll, sql, {"t": tenant}) == 0


def waiting_on_locks(ll: LearnLoop) -> int:
    sql = (
        "SELECT count(*) AS n FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return count(ll, sql, {})


def wait_until(check: Any, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def test_overlapping_keys_in_another_order_do_not_deadlock(
    ll: LearnLoop, tenant: str, database_url: str
) -> None:
    put_faq(ll, tenant)
    imp = str(recommend(ll, tenant).impression_id)

    def events(*keys: str) -> list[dict[str, Any]]:
        return [{"type": "viewed", "impression_id": imp, "idempotency_key": k} for k in keys]

    with ThreadPoolExecutor(max_workers=2) as pool:
        # Another writer holds key c, so the first call stops after claiming b, before a.
        holder = psycopg.connect(database_url)
        try:  # closed before the pool waits for its threads, which may wait on the holder
            holder.execute(
                "INSERT INTO event_keys (tenant_id, idempotency_key) VALUES (%s, 'c')", [tenant]
            )
            first = pool.submit(ll.events.record, tenant, events("b", "c", "a"))
            wait_until(lambda: waiting_on_locks(ll) == 1, "the first call waits on c")
            second = pool.submit(ll.events.record, tenant, events("a", "b"))
            wait_until(lambda: waiting_on_locks(ll) == 2, "the second call waits on b")
            holder.commit()
        finally:
            holder.close()
        results = first.result(timeout=30) + second.result(timeout=30)
    assert sorted(r.status for r in results) == ["duplicate"] * 3 + ["stored"] * 2
    assert len(events_of(ll, tenant, imp)) == 2


# ----------------------------------------------------------------------------- 4. tenants


def test_another_tenants_impression_is_refused_everywhere(
    api: TestClient, ll: LearnLoop, tenant: str
) -> None:
    owner = new_tenant(ll)
    put_faq(ll, owner)
    theirs = recommend(ll, owner)
    imp = str(theirs.impression_id)
    item = theirs.recommendations[0].item.item_id

    assert api.get(f"/v1/impressions/{imp}").status_code == 404
    event = {"type": "clicked", "impression_id": imp, "item_id": item, "idempotency_key": "k-1"}
    single = api.post("/v1/events", json=event)
    assert single.status_code == 422
    assert f"unknown impression {imp} in this tenant" in single.json()["error"]["message"]
    batch = api.post(
        "/v1/events", json={"events": [event, {"type": "viewed", "impression_id": imp}]}
    )
    assert [r["status"] for r in batch.json()["results"]] == ["error", "error"]
    feedback = api.post(
        "/v1/feedback", json={"impression_id": imp, "kind": "thumbs", "value": "down"}
    )
    assert feedback.status_code == 404
    assert f"no impression {imp} in this tenant" in feedback.json()["error"]["message"]
    correction = api.post(
        "/v1/corrections",
        json={"impression_id": imp, "original_response": "old", "corrected_answer": "new"},
    )
    assert correction.status_code == 404
    with pytest.raises(NotFound):
        ll.feedback.add(tenant, {"impression_id": imp, "kind": "stars", "value": 1})
    with pytest.raises(NotFound):
        ll.recommender.impression(tenant, theirs.impression_id)

    assert events_anywhere(ll, imp) == 0
    for table in ("feedback", "corrections"):
        sql = f"SELECT count(*) AS n FROM {table} WHERE impression_id = %(i)s"
        assert count(ll, sql, {"i": imp}) == 0, table
    keys = "SELECT count(*) AS n FROM event_keys WHERE tenant_id = ANY(%(t)s)"
    assert count(ll, keys, {"t": [tenant, owner]}) == 0
    # The owner's own event with that key is new: the refused one claimed nothing.
    mine = ll.events.record(owner, [event])
    assert mine[0].status == "stored" and mine[0].pending is False
    assert [
        e["tenant_id"]
        for e in rows(ll, "SELECT tenant_id FROM events WHERE impression_id = %(i)s", {"i": imp})
    ] == [owner]
    assert api.get(f"/v1/impressions/{imp}", headers=key_of(ll, owner)).status_code == 200


# ----------------------------------------------------------------------------- 5. pending


def test_an_event_before_its_impression_is_visible_is_kept(
    ll: LearnLoop, tenant: str, database_url: str
) -> None:
    impression_id = uuid7()
    params = {
        "tenant_id": tenant,
        "impression_id": impression_id,
        "idempotency_key": None,
        "query": "slow to commit",
        "context": Jsonb({"session": "late"}),
        "user_id": None,
        "session_id": "late",
        "account_id": None,
        "kinds": None,
        "k": 3,
        "policy": "similarity",
        "policy_version": "1",
        "strategy": "no_confident_match",
        "threshold": 0.5,
        "experiment": None,
        "variant": None,
    }
    writer = psycopg.connect(database_url)
    try:
        assert writer.execute(RQ["insert_impression"], params).fetchone() is not None
        # Not committed: no one else can see the impression yet.
        with pytest.raises(NotFound):
            ll.recommender.impression(tenant, impression_id)
        results = ll.events.record(
            tenant,
            [{"type": "clicked", "impression_id": impression_id, "metadata": {"early": True}}],
        )
        assert (results[0].status, results[0].pending) == ("stored", True)
        assert results[0].impression_id == impression_id
        writer.commit()
    finally:
        writer.close()
    assert ll.recommender.impression(tenant, impression_id).query == "slow to commit"
    stored = events_of(ll, tenant, impression_id)
    assert [(e["type"], e["impression_seen"], e["metadata"]) for e in stored] == [
        ("clicked", False, {"early": True})
    ]
    assert stored[0]["event_id"] == results[0].event_id
    # Once visible, the next event is an ordinary one.
    after = ll.events.record(tenant, [{"type": "viewed", "impression_id": impression_id}])
    assert (after[0].status, after[0].pending) == ("stored", False)
    assert [e["impression_seen"] for e in events_of(ll, tenant, impression_id)] == [False, True]


# ----------------------------------------------------------------------------- 6. partitions


@pytest.fixture
def own_ll(settings: Settings, migrated_db_url: str, ll: LearnLoop) -> Iterator[LearnLoop]:
    """A LearnLoop on a database of its own: pruning drops month partitions for all tenants."""
    instance = LearnLoop.open(
        settings.model_copy(update={"database_url": migrated_db_url}), ll.embedder
    )
    yield instance
    instance.close()


def partitions(ll: LearnLoop) -> list[str]:
    return [r["name"] for r in rows(ll, EQ["event_partitions"], {})]


def test_events_land_in_month_partitions_and_old_months_are_pruned(own_ll: LearnLoop) -> None:
    ll = own_ll
    tenant = new_tenant(ll)
    put_faq(ll, tenant)
    imp = str(recommend(ll, tenant).impression_id)
    now = datetime.now(UTC)
    retention = timedelta(days=ll.settings.event_retention_days)
    when = {
        "now": now,
        "forty_days_ago": now - timedelta(days=40),
        "almost_expired": now - retention + timedelta(days=1),
    }
    events = [
        {"type": "viewed", "impression_id": imp, "occurred_at": at, "metadata": {"at": name}}
        for name, at in when.items()
    ]
    assert [r.status for r in ll.events.record(tenant, events)] == ["stored"] * 3
    expected = {name: f"events_{at:%Y_%m}" for name, at in when.items()}
    assert len(set(expected.values())) == 3
    assert partitions(ll) == sorted(expected.values())
    placed = rows(
        ll,
        "SELECT tableoid::regclass::text AS part, metadata ->> 'at' AS at FROM events"
        " WHERE tenant_id = %(t)s",
        {"t": tenant},
    )
    assert {r["at"]: r["part"] for r in placed} == expected
    parent = "SELECT count(*) AS n FROM pg_inherits WHERE inhrelid = %(p)s::regclass"
    parent += " AND inhparent = 'events'::regclass"
    for name in expected.values():
        assert count(ll, parent, {"p": name}) == 1
    assert count(ll, "SELECT count(*) AS n FROM events_default", {}) == 0

    # Today nothing is old enough: even the month of an event one day inside retention stays.
    assert ll.events.prune(now=now) == []
    assert ll.events.prune() == []
    assert len(events_of(ll, tenant, imp)) == 3
    # Three years on, every one of them is past the retention.
    later = now + timedelta(days=3 * 365)
    assert ll.events.prune(now=later) == sorted(expected.values())
    assert partitions(ll) == []
    assert events_of(ll, tenant, imp) == []
    assert ll.events.prune(now=later) == []
    # New events still find (or make) their partition.
    assert ll.events.record(tenant, events[:1])[0].status == "stored"
    assert partitions(ll) == [expected["now"]]


# ----------------------------------------------------------------------------- 7. feedback


RATINGS: list[tuple[str, str | int, float, bool]] = [
    ("thumbs", "up", 1.0, False),
    ("thumbs", "down", -1.0, True),
    ("stars", 1, -1.0, True),
    ("stars", 2, -0.5, True),
    ("stars", 3, 0.0, False),
    ("stars", 4, 0.5, False),
    ("stars", 5, 1.0, False),
    ("emoji", "😀", 1.0, False),
    ("emoji", "🙂", 0.5, False),
    ("emoji", "😐", 0.0, False),
    ("emoji", "🙁", -0.5, True),
    ("emoji", "😡", -1.0, True),
    ("helpfulness", "helpful", 1.0, False),
    ("helpfulness", "partially", 0.0, False),
    ("helpfulness", "not_helpful", -1.0, True),
]


def test_every_rating_maps_to_its_score(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    put_faq(ll, tenant)
    answer = recommend(ll, tenant)
    imp = str(answer.impression_id)
    item = answer.recommendations[0].item.item_id
    for kind, value, score, negative in RATINGS:
        body = {"impression_id": imp, "item_id": item, "kind": kind, "value": value}
        response = api.post("/v1/feedback", json=body | {"reason": f"{kind} {value}"})
        assert response.status_code == 201, (kind, value, response.text)
        fb = response.json()
        assert (fb["score"], fb["negative"], fb["value"]) == (score, negative, str(value))
        assert (fb["impression_id"], fb["item_id"], fb["kind"]) == (imp, item, kind)
        stored = rows(
            ll,
            "SELECT score, negative, value FROM feedback"
            " WHERE tenant_id = %(t)s AND feedback_id = %(f)s",
            {"t": tenant, "f": fb["feedback_id"]},
        )
        assert stored == [{"score": score, "negative": negative, "value": str(value)}]
    by_response = api.post(
        "/v1/feedback", json={"response_id": "resp-7", "kind": "thumbs", "value": "up"}
    )
    assert by_response.status_code == 201
    assert (by_response.json()["response_id"], by_response.json()["impression_id"]) == (
        "resp-7",
        None,
    )
    total = "SELECT count(*) AS n FROM feedback WHERE tenant_id = %(t)s"
    assert count(ll, total, {"t": tenant}) == len(RATINGS) + 1
    negatives = "SELECT count(*) AS n FROM feedback WHERE tenant_id = %(t)s AND negative"
    assert count(ll, negatives, {"t": tenant}) == sum(n for *_, n in RATINGS)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "stars", "value": 6}, "value: stars take a whole number 1 to 5, not 6"),
        ({"kind": "stars", "value": 0}, "value: stars take a whole number 1 to 5, not 0"),
        ({"kind": "stars", "value": "five"}, "stars take a whole number 1 to 5, not 'five'"),
        ({"kind": "thumbs", "value": "maybe"}, "value: thumbs takes one of ['up', 'down']"),
        ({"kind": "emoji", "value": "🤖"}, "value: emoji takes one of"),
        ({"kind": "helpfulness", "value": "yes"}, "helpfulness takes one of ['helpful'"),
        ({"kind": "likes", "value": "up"}, "kind: Input should be 'thumbs'"),
        ({"kind": "thumbs"}, "value: Field required"),
        ({"kind": "thumbs", "value": "up", "extra": 1}, "extra: Extra inputs are not permitted"),
        pytest.param(
            {"kind": "stars", "value": True},
            "value: ",
            id="stars-true",
        ),
    ],
)
def test_bad_feedback_is_a_422_that_names_the_fix(
    api: TestClient, ll: LearnLoop, tenant: str, body: dict[str, Any], message: str
) -> None:
    response = api.post("/v1/feedback", json={"response_id": "resp-1"} | body)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]
    no_subject = api.post("/v1/feedback", json={"kind": "thumbs", "value": "up"})
    assert no_subject.status_code == 422
    assert "name the impression_id or the response_id" in no_subject.json()["error"]["message"]
    assert (
        count(ll, "SELECT count(*) AS n FROM feedback WHERE tenant_id = %(t)s", {"t": tenant}) == 0
    )


def test_retried_feedback_and_corrections_are_stored_once(
    api: TestClient, ll: LearnLoop, tenant: str
) -> None:
    put_faq(ll, tenant)
    imp = str(recommend(ll, tenant).impression_id)
    body = {"impression_id": imp, "kind": "thumbs", "value": "down", "idempotency_key": "fb-1"}
    first = api.post("/v1/feedback", json=body)
    again = api.post("/v1/feedback", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert ll.feedback.add(tenant, body)[1] is False
    sql = "SELECT count(*) AS n FROM feedback WHERE tenant_id = %(t)s"
    assert count(ll, sql, {"t": tenant}) == 1
    # Without a key, the same rating twice is two ratings.
    plain = {k: v for k, v in body.items() if k != "idempotency_key"}
    assert api.post("/v1/feedback", json=plain).status_code == 201
    assert api.post("/v1/feedback", json=plain).status_code == 201
    assert count(ll, sql, {"t": tenant}) == 3

    fix = {
        "impression_id": imp,
        "original_response": "Call support.",
        "corrected_answer": "Settings > Security > Reset password.",
        "idempotency_key": "fix-1",
    }
    made = api.post("/v1/corrections", json=fix)
    retried = api.post("/v1/corrections", json=fix | {"priority": "urgent"})
    assert (made.status_code, retried.status_code) == (201, 200)
    assert retried.json() == made.json() and made.json()["priority"] == "normal"
    corrections = "SELECT count(*) AS n FROM corrections WHERE tenant_id = %(t)s"
    assert count(ll, corrections, {"t": tenant}) == 1


def test_corrections_keep_their_priority_and_refuse_an_empty_answer(
    api: TestClient, ll: LearnLoop, tenant: str
) -> None:
    put_faq(ll, tenant)
    answer = recommend(ll, tenant)
    imp = str(answer.impression_id)
    base = {
        "impression_id": imp,
        "item_id": answer.recommendations[0].item.item_id,
        "query": SEVERAL,
        "original_response": "Call support.",
        "corrected_answer": "  Settings > Security > Reset password.  ",
        "author": "owner@example.com",
    }
    for priority in ("low", "normal", "high", "urgent"):
        response = api.post("/v1/corrections", json=base | {"priority": priority})
        assert response.status_code == 201, response.text
        made = response.json()
        assert made["priority"] == priority
        assert made["corrected_answer"] == "Settings > Security > Reset password."
        assert (made["impression_id"], made["author"]) == (imp, "owner@example.com")
    by_response = ll.feedback.correct(
        tenant, {"response_id": "resp-3", "original_response": "a", "corrected_answer": "b"}
    )
    assert by_response[0].priority == "normal" and by_response[1] is True
    stored = rows(
        ll,
        "SELECT priority FROM corrections WHERE tenant_id = %(t)s ORDER BY correction_id",
        {"t": tenant},
    )
    assert [r["priority"] for r in stored] == ["low", "normal", "high", "urgent", "normal"]

    for bad, message in [
        ({"corrected_answer": ""}, "corrected_answer: String should have at least 1 character"),
        ({"corrected_answer": "   "}, "corrected_answer: String should have at least 1 character"),
        ({"priority": "asap"}, "priority: Input should be 'low', 'normal', 'high' or 'urgent'"),
        ({"original_response": ""}, "original_response: String should have at least 1"),
    ]:
        response = api.post("/v1/corrections", json=base | bad)
        assert response.status_code == 422, bad
        assert message in response.json()["error"]["message"], bad
    with pytest.raises(InvalidInput, match="corrected_answer"):
        ll.feedback.correct(tenant, base | {"corrected_answer": "\n\t "})
    assert len(stored) == 5
    total = "SELECT count(*) AS n FROM corrections WHERE tenant_id = %(t)s"
    assert count(ll, total, {"t": tenant}) == 5


# ----------------------------------------------------------------------------- 8. durability


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(database_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``learnloop serve`` on a free port, once /health answers; its output goes to ``log``."""
    env = {k: v for k, v in os.environ.items() if k != "LEARNLOOP_TENANT"}
    env["DATABASE_URL"] = database_url
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "learnloop"), "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise AssertionError(f"the server did not come up:\n{log.read_text(errors='replace')}")


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.kill()
    if proc is not None:
        proc.wait(timeout=10)


def test_acknowledged_events_survive_a_killed_server(
    ll: LearnLoop, tenant: str, database_url: str, tmp_path: Path
) -> None:
    put_faq(ll, tenant)
    imp = str(recommend(ll, tenant).impression_id)
    headers = key_of(ll, tenant)
    events = [
        {"type": "viewed", "impression_id": imp, "idempotency_key": f"d-{n}", "metadata": {"n": n}}
        for n in range(500)
    ]
    log = tmp_path / "server.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc, url = start_server(database_url, log)
        response = httpx.post(
            f"{url}/v1/events", json={"events": events}, headers=headers, timeout=30
        )
        proc.kill()  # SIGKILL as soon as the answer is in: no shutdown, no flushing
        proc.wait(timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["stored"] == 500
        acknowledged = [r["event_id"] for r in response.json()["results"]]

        proc, url = start_server(database_url, log)
        retried = httpx.post(
            f"{url}/v1/events", json={"events": events}, headers=headers, timeout=30
        )
        assert retried.status_code == 200
        assert (retried.json()["stored"], retried.json()["duplicates"]) == (0, 500)
    finally:
        stop(proc)
    stored = events_of(ll, tenant, imp)
    assert [e["metadata"]["n"] for e in stored] == list(range(500))
    assert [e["event_id"] for e in stored] == acknowledged


def test_deprecated_items_rank_lower_and_archived_ones_not_at_all(
    ll: LearnLoop, tenant: str
) -> None:
    ll.recommender.set_threshold(tenant, 0.0)
    old, _ = ll.items.put(
        tenant,
        {
            "kind": "runbook",
            "title": "Restart the payment gateway",
            "body": "Restart the payment gateway.",
        },
    )
    new, _ = ll.items.put(
        tenant,
        {
            "kind": "runbook",
            "title": "Bring payments back",
            "body": "When card payments fail, restart the gateway.",
        },
    )
    gone, _ = ll.items.put(
        tenant,
        {
            "kind": "runbook",
            "title": "Gateway restarts",
            "body": "Payments failing: restart the gateway.",
        },
    )
    question = {"query": "restart the payment gateway", "k": 3}
    before = {
        rec.item.item_id: rec for rec in ll.recommender.recommend(tenant, question).recommendations
    }
    assert set(before) == {old.item_id, new.item_id, gone.item_id}
    assert before[old.item_id].similarity > before[new.item_id].similarity  # type: ignore[operator]

    ll.items.update(tenant, old.item_id, {"status": "deprecated"})
    ll.items.archive(tenant, gone.item_id)
    after = ll.recommender.recommend(tenant, question)
    assert [rec.item.item_id for rec in after.recommendations] == [new.item_id, old.item_id]
    demoted = after.recommendations[1]
    assert demoted.item.status == "deprecated"
    assert demoted.similarity == pytest.approx(0.9 * before[old.item_id].similarity)  # type: ignore[operator]

"""API key scopes, per-key rate limits and the bounded beacon, over the real app
(FastAPI's TestClient on the suite's embedded PostgreSQL and embedding model)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from learnloop import LearnLoop
from learnloop.api import create_app
from learnloop.api.app import ROUTERS
from learnloop.api.scopes_doc import route_scope
from learnloop.cli.demo import dashboard_link
from learnloop.tenants import SCOPES, RateLimit

# Representative routes, a valid request each, and the scope each needs.
ROUTES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/v1/items", None, "read"),
    ("POST", "/v1/search", {"query": "disk full"}, "read"),
    ("GET", "/v1/analytics/funnel", None, "read"),
    ("GET", "/v1/proposals", None, "read"),
    ("POST", "/v1/items", {"kind": "faq", "title": "Scoped"}, "write"),
    ("POST", "/v1/recommend", {"query": "disk full"}, "write"),
    ("POST", "/v1/proposals", {"kind": "faq", "title": "t", "body": "b"}, "write"),
    ("GET", "/v1/keys", None, "admin"),
    ("POST", "/v1/keys", {"name": "made", "scopes": ["read"]}, "admin"),
    ("PUT", "/v1/tenant/settings", {"confidence_threshold": 0.4}, "admin"),
    ("PATCH", "/v1/learning", {"policy": "memory"}, "admin"),
]
# What a key made with each scope may do.
ALLOWED = {
    "read": {"read"},
    "write": {"read", "write", "beacon"},
    "admin": {"read", "write", "admin", "beacon"},
    "beacon": {"beacon"},
}


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    app_client.headers.pop("Authorization", None)  # a key left by another test's fixture
    return app_client


def _snapshot(ll: LearnLoop, tenant: str) -> tuple[Any, ...]:
    with ll.db.connection() as conn:
        items = conn.execute("SELECT count(*) AS n FROM items WHERE tenant_id = %s", (tenant,))
        n_items = items.fetchone()["n"]  # type: ignore[index]
    return (n_items, len(ll.keys.list(tenant)), ll.recommender.threshold(tenant))


@pytest.mark.parametrize("scope", SCOPES)
def test_each_scope_is_allowed_and_refused_on_representative_routes(
    client: TestClient, ll: LearnLoop, tenant: str, scope: str
) -> None:
    key = _bearer(ll.keys.create(tenant, scope, [scope]).key)
    for method, path, body, needed in ROUTES:
        before = _snapshot(ll, tenant)
        response = client.request(method, path, json=body, headers=key)
        if needed in ALLOWED[scope]:
            assert response.status_code < 300, (scope, method, path, response.text)
        else:
            assert response.status_code == 403, (scope, method, path, response.text)
            error = response.json()["error"]
            assert error["code"] == "forbidden"
            assert f"needs the '{needed}' scope" in error["message"], error
            assert _snapshot(ll, tenant) == before  # a refused request changes nothing


def test_every_keyed_route_declares_the_scope_it_needs() -> None:
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    needs = {(m, r.path): route_scope(r) for r in routes for m in r.methods}
    keyless = {path for (_, path), scope in needs.items() if scope is None}
    assert keyless == {
        "/health",
        "/v1/widget.js",
        "/v1/beacon",
        "/dashboard",
        "/dashboard/",
        "/dashboard/{name}",
        "/docs",
        "/docs/{name}",
    }
    assert needs[("GET", "/v1/keys/current")] == ""  # any key may ask what it may do
    # Reading never needs more than read, except the list of keys.
    reads = {path: s for (m, path), s in needs.items() if m == "GET" and s not in (None, "")}
    assert {path for path, s in reads.items() if s != "read"} == {"/v1/keys"}
    assert needs[("POST", "/v1/recommend")] == "write"  # it logs an impression
    assert needs[("POST", "/v1/keys")] == needs[("DELETE", "/v1/keys/{key_id}")] == "admin"
    assert needs[("PATCH", "/v1/learning")] == needs[("PUT", "/v1/tenant/settings")] == "admin"


def test_the_dashboards_key_reads_but_cannot_manage_keys(
    client: TestClient, ll: LearnLoop, tenant: str
) -> None:
    admin = _bearer(ll.keys.create(tenant, "owner").key)
    link = dashboard_link(ll, "http://127.0.0.1:8000", tenant)
    viewer = _bearer(link.split("#key=")[1])
    owner_id = ll.keys.list(tenant)[0].key_id
    assert client.get("/v1/keys/current", headers=viewer).json()["scopes"] == ["read"]
    assert client.get("/v1/analytics/funnel", headers=viewer).status_code == 200
    assert client.post("/v1/analytics/refresh", headers=viewer).status_code == 200  # sign-in
    made = client.post("/v1/keys", json={"name": "stolen"}, headers=viewer)
    assert made.status_code == 403
    assert "needs the 'admin' scope" in made.json()["error"]["message"]
    assert client.delete(f"/v1/keys/{owner_id}", headers=viewer).status_code == 403
    assert client.get("/v1/keys", headers=viewer).status_code == 403
    assert [k.name for k in ll.keys.list(tenant)] == ["owner", "dashboard (read-only)"]
    assert client.get("/v1/keys", headers=admin).status_code == 200  # the owner's key still can


def test_keys_made_over_http_carry_their_scopes_and_bad_scopes_are_refused(
    client: TestClient, ll: LearnLoop, tenant: str
) -> None:
    admin = _bearer(ll.keys.create(tenant).key)
    made = client.post("/v1/keys", json={"scopes": ["write", "read"]}, headers=admin)
    assert made.status_code == 201 and made.json()["scopes"] == ["read", "write"]
    current = client.get("/v1/keys/current", headers=_bearer(made.json()["key"])).json()
    assert current["scopes"] == ["beacon", "read", "write"]
    assert client.post("/v1/keys", json={}, headers=admin).json()["scopes"] == ["admin"]
    for body, message in [
        ({"scopes": ["root"]}, "scopes.0: Input should be 'read', 'write', 'admin' or 'beacon'"),
        ({"scopes": []}, "scopes: List should have at least 1 item"),
        ({"rate_per_second": 5.0}, "give both rate_per_second and rate_burst"),
        ({"rate_per_second": 0, "rate_burst": 1}, "rate_per_second: Input should be greater"),
    ]:
        refused = client.post("/v1/keys", json=body, headers=admin)
        assert refused.status_code == 422, refused.text
        assert message in refused.json()["error"]["message"]
    assert len(ll.keys.list(tenant)) == 3


def test_keys_made_before_scopes_are_admin_keys(ll: LearnLoop, tenant: str) -> None:
    with ll.db.connection() as conn:  # a row as the migration found it: no scopes named
        conn.execute(
            "INSERT INTO api_keys (tenant_id, key_id, key_hash, name) VALUES (%s, 'old', 'x', '')",
            (tenant,),
        )
    assert [k.scopes for k in ll.keys.list(tenant)] == [["admin"]]
    with ll.db.connection() as conn:
        check = conn.execute(
            "SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint"
            " WHERE conrelid = 'api_keys'::regclass AND conname = 'api_keys_scopes_check'"
        ).fetchone()
    assert check is not None
    assert re.findall(r"'(\w+)'::text", check["d"]) == list(SCOPES)


def _until_refused(client: TestClient, headers: dict[str, str], most: int = 8) -> Any:
    for _ in range(most):
        response = client.get("/v1/keys/current", headers=headers)
        if response.status_code != 200:
            return response
    raise AssertionError(f"no 429 in {most} requests")


def test_a_key_over_its_rate_gets_429_with_retry_after_then_recovers(
    client: TestClient, ll: LearnLoop, tenant: str
) -> None:
    admin = _bearer(ll.keys.create(tenant).key)
    body = {"scopes": ["read"], "rate_per_second": 4.0, "rate_burst": 2}
    made = client.post("/v1/keys", json=body, headers=admin).json()
    assert (made["rate_per_second"], made["rate_burst"]) == (4.0, 2)
    limited = _bearer(made["key"])
    refused = _until_refused(client, limited)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"  # 0.25 s at most, in whole seconds
    error = refused.json()["error"]
    assert error["code"] == "rate_limited" and "4 requests a second, 2 at once" in error["message"]
    assert client.get("/v1/keys/current", headers=admin).status_code == 200  # its own bucket
    time.sleep(0.3)  # a token is back after 0.25 s
    assert client.get("/v1/keys/current", headers=limited).status_code == 200


def test_the_servers_default_rate_applies_to_keys_without_their_own(
    ll: LearnLoop, tenant: str, app_client: TestClient
) -> None:
    key = _bearer(ll.keys.create(tenant, "plain").key)
    for _ in range(20):  # the suite's app: no default limit
        assert app_client.get("/v1/keys/current", headers=key).status_code == 200
    settings = ll.settings.model_copy(update={"key_rate_per_second": 4.0, "key_rate_burst": 2})
    with TestClient(create_app(ll, settings)) as limited:
        assert _until_refused(limited, key).status_code == 429
        own = ll.keys.create(tenant, "own", ["read"], RateLimit(per_second=1000.0, burst=1000))
        for _ in range(10):  # a key's own rate wins over the default
            assert limited.get("/v1/keys/current", headers=_bearer(own.key)).status_code == 200


# --- the beacon ------------------------------------------------------------------------------


@pytest.fixture
def shown(ll: LearnLoop, tenant: str) -> Iterator[dict[str, Any]]:
    """An impression that showed one item, and another item it did not show."""
    item, _ = ll.items.put(tenant, {"kind": "faq", "title": "Invoices", "body": "Billing."})
    other, _ = ll.items.put(tenant, {"kind": "faq", "title": "Zebra care", "body": "Hay."})
    answer = ll.recommender.recommend(tenant, {"query": "where are my invoices", "k": 1})
    assert [r.item.item_id for r in answer.recommendations] == [item.item_id]
    yield {"impression_id": str(answer.impression_id), "item": item.item_id, "other": other.item_id}


def _beacon(client: TestClient, events: list[dict[str, Any]], **headers: str) -> Any:
    body = json.dumps({"events": events})
    return client.post(
        "/v1/beacon", content=body, headers={"content-type": "text/plain", **headers}
    )


def _stored(ll: LearnLoop, impression_id: str) -> list[str]:
    with ll.db.connection() as conn:
        rows = conn.execute(
            "SELECT type FROM events WHERE impression_id = %s ORDER BY event_id", (impression_id,)
        ).fetchall()
    return [row["type"] for row in rows]


def test_the_beacon_takes_only_what_a_browser_may_report_for_the_impression(
    client: TestClient, ll: LearnLoop, shown: dict[str, Any]
) -> None:
    impression, item = shown["impression_id"], shown["item"]
    good = {"type": "clicked", "impression_id": impression, "item_id": item}
    events = [
        good | {"metadata": {"page": "/chat"}},
        good | {"item_id": shown["other"]},  # not one of the impression's items
        {"type": "viewed", "impression_id": impression},  # no item
        good | {"type": "succeeded"},  # an outcome, not what a browser sees
        good | {"occurred_at": "2020-01-01T00:00:00Z"},  # not a widget's field
        good | {"metadata": {"page": "x" * 2000}},
        good | {"item_id": True},
        good | {"metadata": ["a"]},
    ]
    response = _beacon(client, events)
    assert response.status_code == 202, response.text
    result = response.json()
    assert (result["stored"], result["refused"]) == (1, 7)
    reasons = {e["index"]: e["error"] for e in result["errors"]}
    assert f"item {shown['other']} was not shown in impression" in reasons[1]
    assert "item_id: the id of an item the impression showed is required" in reasons[2]
    assert "type must be one of clicked, viewed" in reasons[3]
    assert "not occurred_at" in reasons[4]
    assert "metadata is over 1024 bytes" in reasons[5]
    assert "item_id" in reasons[6] and "metadata must be an object" in reasons[7]
    assert _stored(ll, impression) == ["clicked"]


def test_a_key_sent_to_the_beacon_binds_it_to_its_tenant(
    client: TestClient, ll: LearnLoop, shown: dict[str, Any]
) -> None:
    other = ll.tenants.create(f"beacon-{uuid.uuid4().hex[:10]}").tenant_id
    theirs = ll.keys.create(other, "site", ["beacon"]).key
    event = {"type": "viewed", "impression_id": shown["impression_id"], "item_id": shown["item"]}
    response = _beacon(client, [event], authorization=f"Bearer {theirs}")
    assert response.json()["errors"][0]["error"].startswith("unknown impression")
    reader = ll.keys.create(other, "reader", ["read"]).key
    refused = _beacon(client, [event], authorization=f"Bearer {reader}")
    assert refused.status_code == 403 and "needs the 'beacon' scope" in refused.text
    assert client.get("/v1/items", headers=_bearer(theirs)).status_code == 403  # beacon only
    assert _stored(ll, shown["impression_id"]) == []


def test_an_impression_over_its_beacon_limit_gets_429_then_recovers(
    ll: LearnLoop, shown: dict[str, Any]
) -> None:
    update = {"beacon_event_burst": 3, "beacon_events_per_second": 4.0}
    event = {"type": "viewed", "impression_id": shown["impression_id"], "item_id": shown["item"]}
    with TestClient(create_app(ll, ll.settings.model_copy(update=update))) as client:
        assert _beacon(client, [event] * 4).status_code == 422  # more than a burst at once
        assert _beacon(client, [event] * 3).json()["stored"] == 3
        refused = _beacon(client, [event])
        assert refused.status_code == 429, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert "over the beacon's limit" in refused.json()["error"]["message"]
        assert refused.headers["access-control-allow-origin"] == "*"
        time.sleep(0.3)
        assert _beacon(client, [event]).json()["stored"] == 1
    assert _stored(ll, shown["impression_id"]) == ["viewed"] * 4


def test_the_schema_documents_401_403_and_429() -> None:
    schema = create_app().openapi()
    keys = schema["paths"]["/v1/keys"]["post"]
    assert {"401", "403", "429"} <= set(keys["responses"])
    assert "Retry-After" in keys["responses"]["429"]["headers"]
    ref = keys["responses"]["403"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.rsplit("/", 1)[1] in schema["components"]["schemas"]
    assert "`admin` scope" in keys["description"]
    assert "403" not in schema["paths"]["/v1/keys/current"]["get"]["responses"]
    assert "429" in schema["paths"]["/v1/beacon"]["post"]["responses"]
    assert "401" not in schema["paths"]["/health"]["get"]["responses"]
    loaded = schemathesis.openapi.from_dict(schema)
    assert len(list(loaded.get_all_operations())) == sum(len(p) for p in schema["paths"].values())

"""The HTTP API: round trips, errors that say what to fix, and tenants that never meet."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from learnloop import LearnLoop


def put(api: TestClient, **fields: object) -> dict[str, object]:
    body = {"kind": "runbook", "title": "Disk full", "body": "Remove old logs.", **fields}
    response = api.post("/v1/items", json=body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, object] = response.json()
    return result


def test_item_lifecycle_over_http(api: TestClient) -> None:
    created = put(api, external_id="disk", tags=["disk"])
    assert created["outcome"] == "created"
    item_id = created["item"]["item_id"]  # type: ignore[index]
    again = api.post(
        "/v1/items",
        json={
            "kind": "runbook",
            "title": "Disk full",
            "body": "Remove old logs.",
            "external_id": "disk",
            "tags": ["disk"],
        },
    )
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    patched = api.patch(f"/v1/items/{item_id}", json={"body": "Rotate logs, then clean /tmp."})
    assert patched.json()["version"] == 2
    versions = api.get(f"/v1/items/{item_id}/versions").json()
    assert [v["body"] for v in versions] == ["Remove old logs.", "Rotate logs, then clean /tmp."]
    assert api.get(f"/v1/items/{item_id}/versions/1").json()["version"] == 1
    listed = api.get("/v1/items", params={"kind": "runbook", "tag": "disk"}).json()
    assert [i["item_id"] for i in listed["items"]] == [item_id]
    assert api.post(f"/v1/items/{item_id}/archive").json()["status"] == "archived"
    assert api.post("/v1/search", json={"query": "disk full"}).json()["hits"] == []
    assert api.delete(f"/v1/items/{item_id}").status_code == 204
    assert api.get(f"/v1/items/{item_id}").status_code == 404


def test_search_hits_carry_their_scores(api: TestClient) -> None:
    disk = put(api)["item"]["item_id"]  # type: ignore[index]
    put(api, kind="faq", title="Reset a password", body="Settings > Security.")
    hits = api.post("/v1/search", json={"query": "no space left on the disk", "k": 2}).json()
    top = hits["hits"][0]
    assert top["item"]["item_id"] == disk
    assert top["similarity"] > hits["hits"][1]["similarity"]
    assert top["keyword_score"] > 0 and top["semantic_rank"] == 1
    only_faq = api.post("/v1/search", json={"query": "disk", "kinds": ["faq"]}).json()["hits"]
    assert {h["item"]["kind"] for h in only_faq} == {"faq"}


def test_tenant_b_never_sees_tenant_a(app_client: TestClient, ll: LearnLoop) -> None:
    a, b = ll.tenants.create("iso-a-" + _suffix()), ll.tenants.create("iso-b-" + _suffix())
    key_a = {"Authorization": f"Bearer {ll.keys.create(a.tenant_id).key}"}
    key_b = {"Authorization": f"Bearer {ll.keys.create(b.tenant_id).key}"}
    body = {"kind": "faq", "title": "Secret pricing", "body": "A's discount", "external_id": "p"}
    item_id = app_client.post("/v1/items", json=body, headers=key_a).json()["item"]["item_id"]
    assert app_client.get("/v1/items", headers=key_b).json()["items"] == []
    assert (
        app_client.post(
            "/v1/search", json={"query": "secret pricing discount"}, headers=key_b
        ).json()["hits"]
        == []
    )
    for method, path, payload in [
        ("GET", f"/v1/items/{item_id}", None),
        ("PATCH", f"/v1/items/{item_id}", {"body": "stolen"}),
        ("POST", f"/v1/items/{item_id}/archive", None),
        ("GET", f"/v1/items/{item_id}/versions", None),
        ("GET", f"/v1/items/{item_id}/versions/1", None),
        ("DELETE", f"/v1/items/{item_id}", None),
    ]:
        response = app_client.request(method, path, json=payload, headers=key_b)
        assert response.status_code == 404, (method, path, response.text)
    # B's same external_id is B's own item; A's stays as it was.
    mine = app_client.post("/v1/items", json=body | {"body": "B's"}, headers=key_b).json()
    assert mine["outcome"] == "created" and mine["item"]["item_id"] != item_id
    key_a_id = ll.keys.list(a.tenant_id)[0].key_id
    assert app_client.delete(f"/v1/keys/{key_a_id}", headers=key_b).status_code == 404
    assert key_a_id not in {k["key_id"] for k in app_client.get("/v1/keys", headers=key_b).json()}
    theirs = app_client.get(f"/v1/items/{item_id}", headers=key_a).json()
    assert (theirs["body"], theirs["status"], theirs["version"]) == ("A's discount", "active", 1)


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"kind": "faq"}, 422, "title: Field required"),
        ({"kind": "faq", "title": 7}, 422, "title: Input should be a valid string"),
        ({"kind": "faq", "title": "x", "tags": "one"}, 422, "tags: Input should be a valid list"),
        ({"kind": "poem", "title": "x"}, 422, "kind: Input should be 'runbook'"),
        ({"kind": "faq", "title": "x", "body": "b" * 300_000}, 422, "over the limit of 200,000"),
        ({"kind": "faq", "title": "x", "body": "b" * 10 * 1024 * 1024}, 413, "5 MB limit"),
    ],
)
def test_bad_items_get_a_clear_4xx_and_change_nothing(
    api: TestClient, payload: dict[str, object], status: int, message: str
) -> None:
    response = api.post("/v1/items", json=payload)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]
    assert api.get("/v1/items").json()["items"] == []


def test_bad_json_is_a_400_that_says_so(api: TestClient) -> None:
    response = api.post(
        "/v1/items",
        content=b'{"kind": "faq", "title": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]
    assert api.get("/v1/items").json()["items"] == []


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Send a valid API key"),
        ({"Authorization": "Basic abc"}, "use 'Authorization: Bearer <API key>'"),
        ({"Authorization": "Bearer nope"}, "not a learnloop API key"),
        ({"Authorization": "Bearer ll_0000_wrong"}, "unknown or revoked API key"),
        ({"X-API-Key": "ll_0000_wrong"}, "unknown or revoked API key"),
    ],
)
def test_wrong_keys_are_refused(
    app_client: TestClient, headers: dict[str, str], message: str
) -> None:
    app_client.headers.pop("Authorization", None)  # a key left by another test's fixture
    response = app_client.get("/v1/items", headers=headers)
    assert response.status_code == 401
    assert message in response.json()["error"]["message"]


def test_revoked_key_stops_working_at_once(api: TestClient) -> None:
    made = api.post("/v1/keys", json={"name": "ci"}).json()
    other = {"Authorization": f"Bearer {made['key']}"}
    assert api.get("/v1/items", headers=other).status_code == 200
    assert api.delete(f"/v1/keys/{made['key_id']}").json()["revoked_at"] is not None
    assert api.get("/v1/items", headers=other).status_code == 401
    assert "key_hash" not in str(api.get("/v1/keys").json())


def test_unknown_routes_and_openapi(api: TestClient) -> None:
    response = api.get("/v1/nothing")
    assert response.status_code == 404 and "no such endpoint" in response.json()["error"]["message"]
    schema = api.get("/openapi.json").json()
    assert {"/v1/items", "/v1/search", "/v1/keys", "/health"} <= set(schema["paths"])


def _suffix() -> str:
    return uuid.uuid4().hex[:8]


def test_an_item_cursor_beyond_any_id_is_a_clear_422(api: TestClient) -> None:
    answer = api.get("/v1/items", params={"cursor": 10**20})
    assert answer.status_code == 422
    assert "cursor" in answer.json()["error"]["message"]

from fastapi.testclient import TestClient


def test_health_and_item_round_trip(api: TestClient) -> None:
    assert api.get("/health").json()["status"] == "ok"
    r = api.post(
        "/v1/items", json={"kind": "faq", "title": "Reset a password", "body": "Use settings"}
    )
    assert r.status_code == 201, r.text
    item_id = r.json()["item"]["item_id"]
    assert api.get(f"/v1/items/{item_id}").json()["title"] == "Reset a password"
    hits = api.post("/v1/search", json={"query": "forgot my password"}).json()["hits"]
    assert hits[0]["item"]["item_id"] == item_id

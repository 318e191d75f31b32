"""What /openapi.json says each route answers: every error with the one error body, the
statuses routes of each kind give, the ones particular routes give, and links that name real
operations and their real parameters. tests/test_fuzz.py checks real answers against it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from learnloop.api import create_app
from learnloop.api.links import LINKS

SCHEMA = create_app().openapi()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, methods in SCHEMA["paths"].items()
    for method, operation in methods.items()
]
OWN_ERRORS = {("POST", "/v1/traces"), ("GET", "/health")}  # OTLP's answers; the health body


def _documented(method: str, path: str) -> dict[str, Any]:
    responses: dict[str, Any] = SCHEMA["paths"][path][method.lower()]["responses"]
    return responses


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=lambda v: str(v)[:40])
def test_every_error_an_operation_documents_has_the_error_body(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    responses = operation["responses"]
    assert "422" in responses, "any query parameter may be refused (NUL), so any route 422s"
    if any(p["in"] == "path" for p in operation.get("parameters", [])):
        assert "404" in responses
    if "requestBody" in operation:
        assert {"400", "408", "413"} <= set(responses)
    if "401" in responses or path == "/health":
        assert "503" in responses  # every route with a key reads the database
    for status, answer in responses.items():
        if status[0] in "45" and (method, path) not in OWN_ERRORS:
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (status, answer)
    assert "HTTPValidationError" not in str(responses)  # FastAPI's, which the API never sends


def test_the_statuses_routes_give_are_the_ones_they_document(api: TestClient) -> None:
    """Each answer below is a status only some routes give: each is documented where given."""
    item = {"kind": "faq", "title": "Opening hours", "body": "9 to 5", "external_id": "hours"}
    experiment = {"name": "twice", "variants": [{"name": "control"}, {"name": "bayes"}]}
    broken = {"content": b"{", "headers": {"Content-Type": "application/json"}}
    answers = [
        ("POST", "/v1/items", api.post("/v1/items", json=item), 201),
        ("POST", "/v1/items", api.post("/v1/items", json=item), 200),  # unchanged
        ("POST", "/v1/proposals", api.post("/v1/proposals", json={"item_id": 2**53 - 1}), 404),
        ("GET", "/v1/items/{item_id}", api.get("/v1/items/99999999"), 404),
        ("POST", "/v1/search", api.post("/v1/search", **broken), 400),
        ("POST", "/v1/learning/experiments", api.post("/v1/learning/experiments", json={}), 422),
        ("POST", "/v1/learning/experiments",
         api.post("/v1/learning/experiments", json=experiment), 201),
        ("POST", "/v1/learning/experiments",
         api.post("/v1/learning/experiments", json=experiment), 409),
    ]  # fmt: skip
    assert [answer[2].status_code for answer in answers] == [answer[3] for answer in answers]
    for method, path, response, _ in answers:
        assert str(response.status_code) in _documented(method, path), (method, path, response)
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"code", "message"}


def test_links_name_real_operations_and_their_parameters() -> None:
    by_id = {operation["operationId"]: operation for _, _, operation in OPERATIONS}
    links = [
        link
        for _, _, operation in OPERATIONS
        for answer in operation["responses"].values()
        for link in answer.get("links", {}).values()
    ]
    assert len(links) == sum(len(named) for _, named in LINKS.values())  # each one written
    for link in links:
        target = by_id[link["operationId"]]
        path_parameters = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
        assert set(link.get("parameters", {})) == path_parameters, link
        assert "requestBody" in link or "requestBody" not in target or path_parameters, link

"""OpenAPI links: which request an answer's ids feed next (an item made, then read, changed,
archived and deleted; an impression shown, then read, clicked and rated; a proposal made,
then edited, approved or rejected, and an approved one rolled back). Clients and API
fuzzers (schemathesis' stateful phase) follow them to chain requests on real ids."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute

ITEM = {"item_id": "$response.body#/item/item_id"}
IMPRESSION = {"impression_id": "$response.body#/impression_id"}
PROPOSAL = {"proposal_id": "$response.body#/proposal_id"}
SHOWN = "$response.body#/recommendations/0/item/item_id"

# (method, path) of the answering route: its status, and per link the (method, path) of the
# route it feeds, the path parameters it fills and the body it sends (None: any body).
Target = tuple[str, str, dict[str, str], dict[str, Any] | None]
LINKS: dict[tuple[str, str], tuple[int, dict[str, Target]]] = {
    ("POST", "/v1/items"): (
        201,
        {
            "GetItem": ("GET", "/v1/items/{item_id}", ITEM, None),
            "UpdateItem": ("PATCH", "/v1/items/{item_id}", ITEM, None),
            "ItemVersions": ("GET", "/v1/items/{item_id}/versions", ITEM, None),
            "ArchiveItem": ("POST", "/v1/items/{item_id}/archive", ITEM, None),
            "DeleteItem": ("DELETE", "/v1/items/{item_id}", ITEM, None),
        },
    ),
    ("POST", "/v1/recommend"): (
        200,
        {
            "GetImpression": ("GET", "/v1/impressions/{impression_id}", IMPRESSION, None),
            "ClickShown": (
                "POST",
                "/v1/events",
                {},
                {"type": "clicked", **IMPRESSION, "item_id": SHOWN},
            ),
            "RateImpression": (
                "POST",
                "/v1/feedback",
                {},
                {**IMPRESSION, "kind": "thumbs", "value": "up"},
            ),
        },
    ),
    ("POST", "/v1/proposals"): (
        201,
        {
            "GetProposal": ("GET", "/v1/proposals/{proposal_id}", PROPOSAL, None),
            "EditProposal": ("PATCH", "/v1/proposals/{proposal_id}", PROPOSAL, None),
            "ProposalAudit": ("GET", "/v1/proposals/{proposal_id}/audit", PROPOSAL, None),
            "ApproveProposal": ("POST", "/v1/proposals/{proposal_id}/approve", PROPOSAL, None),
            "RejectProposal": ("POST", "/v1/proposals/{proposal_id}/reject", PROPOSAL, None),
        },
    ),
    ("POST", "/v1/proposals/{proposal_id}/approve"): (
        200,
        {"RollbackProposal": ("POST", "/v1/proposals/{proposal_id}/rollback", PROPOSAL, None)},
    ),
}


def add(router: APIRouter) -> None:
    """Write the links of :data:`LINKS` whose routes are this router's into its routes'
    answers (a link names the route it feeds by its operationId)."""
    routes = {
        (method, route.path): route
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    for key, (status, links) in LINKS.items():
        if key not in routes:
            continue
        route = routes[key]
        route.responses = {**route.responses, status: {**route.responses.get(status, {})}}
        route.responses[status]["links"] = {
            name: _link(routes[(method, path)], parameters, body)
            for name, (method, path, parameters, body) in links.items()
        }


def _link(target: APIRoute, parameters: dict[str, str], body: dict[str, Any] | None) -> Any:
    link: dict[str, Any] = {"operationId": target.unique_id}
    if parameters:
        link["parameters"] = parameters
    if body is not None:
        link["requestBody"] = body
    return link

"""The chat-widget snippet and the beacon it reports to.

The beacon takes no API key: an impression id (UUIDv7 with 74 random bits, made by
learnloop) names its tenant, so knowing it is the right to report viewed and clicked for the
items it showed, within a rate limit per impression. A key with the beacon scope may come
along: then only its tenant's impressions are taken.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from learnloop.api.deps import LL, RequireScope, get_grant
from learnloop.api.errors import learnloop_error_response
from learnloop.api.ratelimit import Limits
from learnloop.api.responses import ErrorBody
from learnloop.errors import InvalidInput, LearnLoopError
from learnloop.service import LearnLoop
from learnloop.validation import storable

router = APIRouter(prefix="/v1", tags=["widget"])
BEACON_TYPES = {"viewed", "clicked"}  # what a browser sees; outcomes come with a key
BEACON_FIELDS = {
    "type",
    "impression_id",
    "item_id",
    "rank",
    "idempotency_key",
    "metadata",
    "page_context",
    "referrer",
}
MAX_BEACON_EVENTS = 50
MAX_BEACON_METADATA_BYTES = 1024
CORS = {"Access-Control-Allow-Origin": "*"}


class BeaconRefusal(BaseModel):
    index: int
    error: str


class BeaconResult(BaseModel):
    stored: int
    refused: int
    errors: list[BeaconRefusal] = Field(description="why each refused event was refused")


@cache
def widget_source() -> str:
    return resources.files("learnloop.api").joinpath("static/widget.js").read_text("utf-8")


@router.get("/widget.js", response_class=Response)
def widget() -> Response:
    """The dependency-free snippet a chat widget includes (see its header for usage)."""
    headers = CORS | {"Cache-Control": "public, max-age=300"}
    return Response(widget_source(), media_type="text/javascript", headers=headers)


# What a beacon takes: each event's own rules are checked one by one, and an event that
# breaks one is refused alone (202, in "errors"), so they are described, not stated.
BEACON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "JSON; the widget sends it as text/plain, so a browser sends no preflight",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["events"],
                    "properties": {
                        "events": {
                            "type": "array",
                            "maxItems": MAX_BEACON_EVENTS,
                            "items": {
                                "type": "object",
                                "description": "type (viewed or clicked), impression_id, "
                                "item_id, rank, idempotency_key, metadata, page_context, "
                                "referrer; an event that breaks a rule is refused alone",
                            },
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/beacon",
    response_model=BeaconResult,
    status_code=202,
    openapi_extra=BEACON_BODY,
    responses={
        401: {"model": ErrorBody, "description": "An API key was sent and is not valid"},
        403: {"model": ErrorBody, "description": "The key sent lacks the beacon scope"},
        429: {
            "model": ErrorBody,
            "description": "An impression (or the key sent) is over its limit; nothing stored",
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "s"}},
        },
    },
)
async def beacon(request: Request, ll: LL, response: Response) -> BeaconResult | JSONResponse:
    """viewed / clicked events from the widget, as JSON sent as text/plain (no preflight).

    No API key needed. Each event must name an impression and an item it showed; its
    metadata is at most 1 KB; each impression may send a burst of events, then about one
    a second (429 with Retry-After beyond). With a key (scope `beacon`, or `write`), only
    that key's tenant's impressions are taken."""
    response.headers.update(CORS)
    try:
        tenant = await _key_tenant(request, ll)
        events = _events(await request.body())
        owners = await run_in_threadpool(ll.recommender.owners, [_impression(e) for e in events])
        kept, refused = _bounded(events, owners, tenant)
        limits: Limits = request.app.state.limits
        limits.throttle_beacon(Counter(_impression(event) for _, event in kept))
    except LearnLoopError as exc:  # answered here, so a page on another origin can read it
        refusal = learnloop_error_response(exc)
        refusal.headers.update(CORS)
        return refusal
    return await run_in_threadpool(_record, ll, owners, kept, refused)


async def _key_tenant(request: Request, ll: LearnLoop) -> str | None:
    """The tenant of the key sent with the beacon, if one was (it needs the beacon scope)."""
    headers = request.headers
    if "authorization" not in headers and "x-api-key" not in headers:
        return None
    grant = await get_grant(request, ll, headers.get("authorization"), headers.get("x-api-key"))
    return await RequireScope("beacon")(grant)


def _impression(event: dict[str, Any]) -> str:
    return str(event.get("impression_id"))


def _bounded(
    events: list[dict[str, Any]], owners: dict[str, str], tenant: str | None
) -> tuple[list[tuple[int, dict[str, Any]]], list[BeaconRefusal]]:
    """The events the beacon may take (with their index), and why each other one is not."""
    kept, refused = [], []
    for index, event in enumerate(events):
        reason = _refusal(event, owners.get(_impression(event)), tenant)
        if reason:
            refused.append(BeaconRefusal(index=index, error=reason))
        else:
            kept.append((index, event))
    return kept, refused


def _refusal(event: dict[str, Any], owner: str | None, tenant: str | None) -> str | None:
    """Why the beacon refuses an event, or None: the widget's fields only, a type a browser
    reports, an item of a known impression, small metadata."""
    extra = sorted(set(event) - BEACON_FIELDS)
    if extra:
        return f"the beacon takes only {', '.join(sorted(BEACON_FIELDS))}; not {', '.join(extra)}"
    if event.get("type") not in BEACON_TYPES:
        return f"type must be one of {', '.join(sorted(BEACON_TYPES))}"
    if owner is None or (tenant is not None and owner != tenant):
        return f"unknown impression {event.get('impression_id')}"
    if not isinstance(event.get("item_id"), int) or isinstance(event.get("item_id"), bool):
        return "item_id: the id of an item the impression showed is required"
    metadata = event.get("metadata", {})
    if not isinstance(metadata, dict):
        return "metadata must be an object"
    if len(json.dumps(metadata, separators=(",", ":"))) > MAX_BEACON_METADATA_BYTES:
        return f"metadata is over {MAX_BEACON_METADATA_BYTES} bytes as JSON"
    page = event.get("page_context")
    if page is not None and not isinstance(page, dict):
        return "page_context must be an object"
    if page and len(json.dumps(page, separators=(",", ":"))) > MAX_BEACON_METADATA_BYTES:
        return f"page_context is over {MAX_BEACON_METADATA_BYTES} bytes as JSON"
    return None


def _record(
    ll: LearnLoop,
    owners: dict[str, str],
    kept: list[tuple[int, dict[str, Any]]],
    refused: list[BeaconRefusal],
) -> BeaconResult:
    """Store the kept events, tenant by tenant; the events service refuses an item the
    impression did not show."""
    by_tenant: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for index, event in kept:
        by_tenant.setdefault(owners[_impression(event)], []).append((index, event))
    stored = 0
    for tenant, batch in by_tenant.items():
        results = ll.events.record(tenant, [event for _, event in batch])
        for (index, _), result in zip(batch, results, strict=True):
            if result.status == "error":
                refused.append(BeaconRefusal(index=index, error=result.error or "refused"))
            else:
                stored += 1
    refused.sort(key=lambda r: r.index)
    return BeaconResult(stored=stored, refused=len(refused), errors=refused)


def _events(raw: bytes) -> list[dict[str, Any]]:
    try:
        body = json.loads(raw or b"null")
        body = storable(body)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the beacon body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidInput("the beacon body is JSON nested too deep") from exc
    except ValueError as exc:
        raise InvalidInput(f"the beacon body: {exc}") from exc
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise InvalidInput('send {"events": [{"type": "clicked", "impression_id": ..., ...}]}')
    if len(events) > MAX_BEACON_EVENTS:
        raise InvalidInput(f"at most {MAX_BEACON_EVENTS} events a beacon")
    return events

"""The chat-widget snippet and the beacon it reports to.

The beacon takes no API key: an impression id (UUIDv7 with 74 random bits, made by
learnloop) names its tenant, so knowing it is the right to report viewed and clicked for it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from learnloop.api.deps import LL
from learnloop.errors import InvalidInput
from learnloop.service import LearnLoop
from learnloop.validation import refuse_unstorable

router = APIRouter(prefix="/v1", tags=["widget"])
BEACON_TYPES = {"viewed", "clicked"}
MAX_BEACON_EVENTS = 50
CORS = {"Access-Control-Allow-Origin": "*"}


class BeaconResult(BaseModel):
    stored: int
    refused: int


@cache
def widget_source() -> str:
    return resources.files("learnloop.api").joinpath("static/widget.js").read_text("utf-8")


@router.get("/widget.js", response_class=Response)
def widget() -> Response:
    """The dependency-free snippet a chat widget includes (see its header for usage)."""
    headers = CORS | {"Cache-Control": "public, max-age=300"}
    return Response(widget_source(), media_type="text/javascript", headers=headers)


@router.post("/beacon", response_model=BeaconResult, status_code=202)
async def beacon(request: Request, ll: LL, response: Response) -> BeaconResult:
    """viewed / clicked events from the widget, as JSON sent as text/plain (no preflight)."""
    response.headers.update(CORS)
    events = _events(await request.body())
    return await run_in_threadpool(_record, ll, events)


def _record(ll: LearnLoop, events: list[dict[str, Any]]) -> BeaconResult:
    owners = ll.recommender.owners([str(e.get("impression_id")) for e in events])
    by_tenant: dict[str, list[dict[str, Any]]] = {}
    refused = 0
    for event in events:
        tenant = owners.get(str(event.get("impression_id")))
        if tenant is None or event.get("type") not in BEACON_TYPES:
            refused += 1
        else:
            by_tenant.setdefault(tenant, []).append(event)
    stored = 0
    for tenant, batch in by_tenant.items():
        results = ll.events.record(tenant, batch)
        stored += sum(r.status != "error" for r in results)
        refused += sum(r.status == "error" for r in results)
    return BeaconResult(stored=stored, refused=refused)


def _events(raw: bytes) -> list[dict[str, Any]]:
    try:
        body = json.loads(raw or b"null")
        refuse_unstorable(body)
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

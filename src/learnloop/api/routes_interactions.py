"""Recommendations and what happened next: events, feedback, corrections."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from learnloop.api.deps import LL, AdminTenant, ReadTenant, WriteTenant
from learnloop.api.group_commit import CALL_EVENTS, group_commit
from learnloop.api.responses import also, errors
from learnloop.errors import InvalidInput
from learnloop.events import Correction, CorrectionIn, EventResult, Feedback, FeedbackIn
from learnloop.events.models import MAX_BATCH, EventIn
from learnloop.recommend import Impression, RecommendRequest, RecommendResponse
from learnloop.service import LearnLoop
from learnloop.validation import Input

router = APIRouter(prefix="/v1", tags=["interactions"])
JSON = "application/json"


EVENT_EXAMPLE = {
    "type": "clicked",
    "impression_id": "0190c2a4-8e5b-7c1d-9f00-1a2b3c4d5e6f",
    "item_id": 42,
    "idempotency_key": "click-7f3a",
}


class EventResults(BaseModel):
    stored: int
    duplicates: int
    errors: int
    results: list[EventResult]


class ThresholdRequest(Input):
    model_config = ConfigDict(strict=True)
    confidence_threshold: float = Field(ge=0, le=1)


@router.post("/recommend", response_model=RecommendResponse)
def recommend(body: RecommendRequest, ll: LL, tenant: WriteTenant) -> RecommendResponse:
    """The best items for a query with their confidence; the impression is logged."""
    return ll.recommender.recommend(tenant, body)


@router.get("/impressions/{impression_id}", response_model=Impression)
def get_impression(impression_id: UUID, ll: LL, tenant: ReadTenant) -> Impression:
    """An impression as logged: every candidate with rank, score, confidence, propensity."""
    return ll.recommender.impression(tenant, impression_id)


def _events_body() -> dict[str, Any]:
    """One event (EventIn), or a batch: a batch refuses a bad event alone (in its results,
    a 200), so its events are EventIn's, and anything is taken for one."""
    batch = {
        "type": "object",
        "required": ["events"],
        "properties": {"events": {"type": "array", "maxItems": MAX_BATCH, "items": {}}},
    }
    single = EventIn.model_json_schema()
    schema = {"anyOf": [single, batch], "examples": [EVENT_EXAMPLE, {"events": [EVENT_EXAMPLE]}]}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.post("/events", response_model=EventResults, openapi_extra=_events_body())
async def record_events(
    body: Annotated[dict[str, Any], Body()],
    request: Request,
    ll: LL,
    tenant: WriteTenant,
) -> Response:
    """One event, or {"events": [...]} (up to 10,000): each gets its own result.

    A batch stores its good events and answers an error for each bad one; a single bad
    event is a 422. The answer comes once the events are committed: calls arriving
    together share one commit (api/group_commit.py).
    """
    return Response(await record(ll, request.app.state, tenant, body), media_type=JSON)


async def record(ll: LearnLoop, state: Any, tenant: str, body: dict[str, Any]) -> bytes:
    """The answer of ``POST /v1/events`` to ``body``, once its events are committed (also
    given by ``FastEvents``, without FastAPI's routing and dependencies)."""
    batch = body.get("events")
    if batch is not None and not isinstance(batch, list):
        raise InvalidInput('"events" must be a list of events')
    events = batch if batch is not None else [body]
    if len(events) <= CALL_EVENTS:
        recorded = await group_commit(state, ll.events).record(tenant, events)
    else:
        recorded = await run_in_threadpool(ll.events.record_all, tenant, events)
    if batch is None and recorded.errors:
        raise InvalidInput(recorded.errors[0])
    # The JSON of EventResults, written out by the service: no model per event to build,
    # validate again and serialise (~3 us an event; see docs/benchmarks.md).
    return recorded.json()


@router.post(
    "/feedback",
    response_model=Feedback,
    status_code=201,
    responses=also(200, "Stored before under this key", Feedback)
    | errors(404, e404="The impression or response it rates is not in this tenant"),
)
def add_feedback(body: FeedbackIn, ll: LL, tenant: WriteTenant, response: Response) -> Feedback:
    """A rating of an impression or a response: thumbs, stars, emoji or helpfulness."""
    feedback, new = ll.feedback.add(tenant, body)
    if not new:
        response.status_code = status.HTTP_200_OK
    return feedback


@router.post(
    "/corrections",
    response_model=Correction,
    status_code=201,
    responses=also(200, "Stored before under this key", Correction)
    | errors(404, e404="The impression or response it corrects is not in this tenant"),
)
def add_correction(
    body: CorrectionIn, ll: LL, tenant: WriteTenant, response: Response
) -> Correction:
    """An owner's corrected answer, with its priority."""
    correction, new = ll.feedback.correct(tenant, body)
    if not new:
        response.status_code = status.HTTP_200_OK
    return correction


@router.put("/tenant/settings", response_model=ThresholdRequest)
def set_settings(body: ThresholdRequest, ll: LL, tenant: AdminTenant) -> ThresholdRequest:
    """The confidence an item needs to be shown (default 0.5)."""
    ll.recommender.set_threshold(tenant, body.confidence_threshold)
    return body

"""The learning queue: review proposed knowledge changes, apply them, roll them back."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from learnloop.api.deps import LL, AdminTenant, ReadTenant, WriteTenant
from learnloop.api.responses import errors
from learnloop.proposals import (
    AuditEntry,
    DuplicateDecision,
    LearningMetric,
    Proposal,
    ProposalEdit,
    ProposalIn,
    ResponsePerformance,
    Review,
    ThresholdFit,
)
from learnloop.proposals.models import Order, ProposalStatus, Source
from learnloop.validation import MAX_ID, Input

router = APIRouter(prefix="/v1", tags=["learning queue"])

# A proposal past the step asked for (a rejected one approved, a pending one rolled back)
NOT_NOW = errors(409, e409="The proposal's status does not allow this now; the message says it")


class ApplyResult(BaseModel):
    applied: int = Field(description="approved proposals of this tenant handled in this call")


class QueueSettings(Input):
    duplicate_threshold: float = Field(
        gt=0, le=1, description="cosine similarity at or above which proposals are duplicates"
    )


@router.get("/proposals/settings", response_model=QueueSettings)
def get_queue_settings(ll: LL, tenant: ReadTenant) -> QueueSettings:
    return QueueSettings(duplicate_threshold=ll.proposals.duplicate_threshold(tenant))


@router.put("/proposals/settings", response_model=QueueSettings)
def put_queue_settings(body: QueueSettings, ll: LL, tenant: AdminTenant) -> QueueSettings:
    """Set the tenant's duplicate threshold (default 0.85); later checks use it."""
    value = ll.proposals.set_duplicate_threshold(tenant, body.duplicate_threshold)
    return QueueSettings(duplicate_threshold=value)


@router.get("/proposals/settings/learn", response_model=ThresholdFit)
def preview_threshold(ll: LL, tenant: ReadTenant) -> ThresholdFit:
    """What the reviewers' duplicate decisions would set the threshold to, and why; nothing
    is changed."""
    return ll.proposals.learn_duplicate_threshold(tenant, save=False)


@router.post("/proposals/settings/learn", response_model=ThresholdFit)
def learn_threshold(ll: LL, tenant: AdminTenant) -> ThresholdFit:
    """Learn the duplicate threshold from the reviewers' merge and distinct decisions: the
    F1-best threshold on them, set when there are at least 20 decisions (5 of each kind) and
    it does better than the current one; otherwise the reason it stays."""
    return ll.proposals.learn_duplicate_threshold(tenant)


@router.post(
    "/proposals",
    response_model=Proposal,
    status_code=status.HTTP_201_CREATED,
    responses=errors(404, e404="The item it revises is not in this tenant"),
)
def add_proposal(body: ProposalIn, ll: LL, tenant: WriteTenant) -> Proposal:
    """Propose a knowledge change by hand: a new item, or a new version of ``item_id``;
    without a body, a request for the item to be written."""
    return ll.proposals.add(tenant, body)


@router.get("/proposals", response_model=list[Proposal])
def list_proposals(
    ll: LL,
    tenant: ReadTenant,
    status_: Annotated[ProposalStatus, Query(alias="status")] = "pending",
    source: Annotated[list[Source] | None, Query()] = None,
    min_confidence: Annotated[int, Query(ge=0, le=100)] = 0,
    duplicates: bool = False,
    order: Order = "confidence",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[Proposal]:
    """Proposals of one status (default pending), most confident or oldest first; each with
    the item or proposal it duplicates, if any."""
    return ll.proposals.list(
        tenant,
        status=status_,
        sources=source,
        min_confidence=min_confidence,
        duplicates_only=duplicates,
        order=order,
        limit=limit,
        offset=offset,
    )


@router.get("/proposals/{proposal_id}", response_model=Proposal)
def get_proposal(proposal_id: int, ll: LL, tenant: ReadTenant) -> Proposal:
    return ll.proposals.get(tenant, proposal_id)


@router.get("/proposals/{proposal_id}/audit", response_model=list[AuditEntry])
def proposal_audit(proposal_id: int, ll: LL, tenant: ReadTenant) -> list[AuditEntry]:
    """Every decision on the proposal: who, when, what, why."""
    return ll.proposals.audit(tenant, proposal_id)


@router.patch("/proposals/{proposal_id}", response_model=Proposal, responses=NOT_NOW)
def edit_proposal(proposal_id: int, body: ProposalEdit, ll: LL, tenant: WriteTenant) -> Proposal:
    """Change the proposed content (pending or approved proposals), with reviewer and note."""
    return ll.proposals.edit(tenant, proposal_id, body)


@router.post("/proposals/{proposal_id}/approve", response_model=Proposal, responses=NOT_NOW)
def approve_proposal(proposal_id: int, body: Review, ll: LL, tenant: WriteTenant) -> Proposal:
    """Approve a pending proposal; the worker applies it within seconds."""
    return ll.proposals.approve(tenant, proposal_id, body)


@router.post("/proposals/{proposal_id}/reject", response_model=Proposal, responses=NOT_NOW)
def reject_proposal(proposal_id: int, body: Review, ll: LL, tenant: WriteTenant) -> Proposal:
    return ll.proposals.reject(tenant, proposal_id, body)


@router.post("/proposals/{proposal_id}/duplicate", response_model=Proposal, responses=NOT_NOW)
def decide_duplicate(
    proposal_id: int, body: DuplicateDecision, ll: LL, tenant: WriteTenant
) -> Proposal:
    """Merge a proposal with the item or proposal it repeats, or keep them apart; the
    decision is kept as evidence for the duplicate threshold."""
    return ll.proposals.decide_duplicate(tenant, proposal_id, body)


@router.post("/proposals/{proposal_id}/rollback", response_model=Proposal, responses=NOT_NOW)
def rollback_proposal(proposal_id: int, body: Review, ll: LL, tenant: WriteTenant) -> Proposal:
    """Undo an applied proposal: the item gets its previous version's content back."""
    return ll.proposals.rollback(tenant, proposal_id, body)


@router.post("/proposals/apply", response_model=ApplyResult)
def apply_proposals(
    ll: LL, tenant: WriteTenant, batch: Annotated[int, Query(ge=1, le=1000)] = 100
) -> ApplyResult:
    """Apply approved proposals now instead of waiting for the worker."""
    return ApplyResult(applied=ll.proposals.apply(batch=batch, tenant_id=tenant))


@router.get("/learning/metrics", response_model=list[LearningMetric])
def learning_metrics(
    ll: LL, tenant: ReadTenant, days: Annotated[int, Query(ge=1, le=3660)] = 30
) -> list[LearningMetric]:
    """Daily proposals by source and status (as of the last refresh of the views)."""
    return ll.proposals.learning_metrics(tenant, since=date.today() - timedelta(days=days))


@router.get("/learning/responses", response_model=list[ResponsePerformance])
def response_performance(
    ll: LL, tenant: ReadTenant, days: Annotated[int, Query(ge=1, le=3660)] = 30
) -> list[ResponsePerformance]:
    """Daily impressions, events, feedback and corrections (as of the last refresh)."""
    return ll.proposals.response_performance(tenant, since=date.today() - timedelta(days=days))

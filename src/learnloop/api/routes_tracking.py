"""Agent executions, tool creations and playbook reports."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel

from learnloop.api.deps import LL, ReadTenant, WriteTenant
from learnloop.api.responses import also, errors
from learnloop.events import (
    Conversation,
    ConversationIn,
    Execution,
    ExecutionIn,
    Report,
    ReportIn,
    ToolCreation,
    ToolCreationIn,
    Transcript,
    TranscriptIn,
)

router = APIRouter(prefix="/v1", tags=["tracking"])


class ExecutionAck(BaseModel):
    execution_id: UUID
    created: bool


@router.post(
    "/executions",
    response_model=ExecutionAck,
    status_code=201,
    responses=also(200, "Stored before under this idempotency key", ExecutionAck)
    | errors(404, e404="The impression or tool selection it names is not in this tenant"),
)
def record_execution(
    body: ExecutionIn, ll: LL, tenant: WriteTenant, response: Response
) -> ExecutionAck:
    """An agent run with its tool calls, stored together (once per idempotency key)."""
    execution_id, created = ll.tracking.execution(tenant, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return ExecutionAck(execution_id=execution_id, created=created)


@router.get("/executions/{execution_id}", response_model=Execution)
def get_execution(execution_id: UUID, ll: LL, tenant: ReadTenant) -> Execution:
    return ll.tracking.get_execution(tenant, execution_id)


@router.post("/tool-creations", response_model=ToolCreation, status_code=201)
def record_tool_creation(body: ToolCreationIn, ll: LL, tenant: WriteTenant) -> ToolCreation:
    """An agent generated a tool: its code and whether validation passed."""
    return ll.tracking.tool_created(tenant, body)


@router.post("/reports", response_model=Report)
def put_report(body: ReportIn, ll: LL, tenant: WriteTenant) -> Report:
    """A playbook report; the same external_id again updates it."""
    return ll.tracking.report(tenant, body)


@router.get("/reports", response_model=list[Report])
def list_reports(
    ll: LL,
    tenant: ReadTenant,
    account: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[Report]:
    """The newest playbook reports, of one account or all."""
    return ll.tracking.reports(tenant, account=account, limit=limit)


@router.post("/conversations/{conversation_id:path}/messages", response_model=Conversation)
def add_messages(
    conversation_id: str, body: ConversationIn, ll: LL, tenant: WriteTenant
) -> Conversation:
    """Append messages to a conversation (made on first use); each gets its sentiment."""
    return ll.conversations.add(tenant, conversation_id, body)


@router.get("/conversations/{conversation_id:path}", response_model=Conversation)
def get_conversation(conversation_id: str, ll: LL, tenant: ReadTenant) -> Conversation:
    return ll.conversations.get(tenant, conversation_id)


@router.post(
    "/transcripts",
    response_model=Transcript,
    status_code=201,
    responses=also(200, "Stored before under this key", Transcript),
)
def add_transcript(
    body: TranscriptIn, ll: LL, tenant: WriteTenant, response: Response
) -> Transcript:
    """A voice transcript, with its sentiment (VADER) overall and per sentence."""
    transcript, new = ll.conversations.transcript(tenant, body)
    if not new:
        response.status_code = status.HTTP_200_OK
    return transcript

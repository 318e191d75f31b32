"""Context for an assistant's LLM, answers, tool selection and playbook recommendations."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from learnloop.api.deps import LL, ReadTenant, WriteTenant
from learnloop.api.responses import errors
from learnloop.context import (
    AnswerRequest,
    AnswerResult,
    ContextBlock,
    ContextRequest,
    PlaybookAdvice,
    PlaybookRequest,
    Response,
)
from learnloop.tools import ToolSelection, ToolSelectRequest

router = APIRouter(prefix="/v1", tags=["context"])

NO_ACCOUNT = errors(404, e404="The account it names is not in this tenant")


@router.post("/context", response_model=ContextBlock, responses=NO_ACCOUNT)
def build_context(body: ContextRequest, ll: LL, tenant: WriteTenant) -> ContextBlock:
    """A prompt-ready block within a token budget: applied corrections, recommended items
    (logged as an impression) and the account's newest reports, each part cited."""
    return ll.context.build(tenant, body)


@router.post("/answer", response_model=AnswerResult, responses=NO_ACCOUNT)
def answer(body: AnswerRequest, ll: LL, tenant: WriteTenant) -> AnswerResult:
    """The context, and an answer stored as a response when an LLM is configured;
    without one, ``response`` is null."""
    return ll.context.answer(tenant, body)


@router.get("/responses/{response_id}", response_model=Response)
def get_response(response_id: UUID, ll: LL, tenant: ReadTenant) -> Response:
    """A generated answer, with the citations of the context it was made from."""
    return ll.context.response(tenant, response_id)


@router.post("/tools/select", response_model=ToolSelection)
def select_tool(body: ToolSelectRequest, ll: LL, tenant: WriteTenant) -> ToolSelection:
    """Choose a tool for a goal: search narrows, execution outcomes rank, an LLM may pick."""
    return ll.tools.select(tenant, body)


@router.get("/tools/selections/{selection_id}", response_model=ToolSelection)
def get_tool_selection(selection_id: UUID, ll: LL, tenant: ReadTenant) -> ToolSelection:
    """A tool selection as logged, with every stage's candidates."""
    return ll.tools.selection(tenant, selection_id)


@router.post("/playbooks/recommend", response_model=PlaybookAdvice, responses=NO_ACCOUNT)
def recommend_playbooks(body: PlaybookRequest, ll: LL, tenant: ReadTenant) -> PlaybookAdvice:
    """Playbooks that worked for accounts with similar KPIs, with the reports as evidence."""
    return ll.playbooks.recommend(tenant, body)

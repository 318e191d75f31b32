"""Each SDK method once, as a request to build and an answer to parse.

``Client`` sends a call and parses the answer; ``AsyncClient`` awaits the same call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from uuid import UUID

from learnloop.client import routes
from learnloop.client.routes import Route
from learnloop.context import AnswerResult, ContextBlock, PlaybookAdvice
from learnloop.errors import InvalidInput
from learnloop.events import Conversation, Correction, EventResult, Feedback, Report, Transcript
from learnloop.knowledge import Item, SearchHit
from learnloop.recommend import RecommendResponse
from learnloop.tools import ToolSelection

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    route: Route
    body: Any
    parse: Callable[[Any], T]
    params: dict[str, Any] | None = None
    path_args: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.route.format(**self.path_args)


def put_item(kind: str, title: str, **fields: Any) -> Call[tuple[Item, str]]:
    """Create an item, or a new version of the one with the same kind and external_id."""
    body = {"kind": kind, "title": title, **fields}
    return Call(routes.ITEMS, body, lambda d: (Item.model_validate(d["item"]), str(d["outcome"])))


def item(item_id: int) -> Call[Item]:
    """One item as stored, by id."""
    path_args = {"item_id": str(item_id)}
    return Call(routes.ITEM, None, Item.model_validate, path_args=path_args)


def items(
    *,
    kind: list[str] | None = None,
    status: list[str] | None = None,
    tag: list[str] | None = None,
    limit: int = 50,
    cursor: int | None = None,
) -> Call[tuple[list[Item], int | None]]:
    """Items newest first (filtered by kinds, statuses, tags); and the next page's cursor."""
    params = {"kind": kind, "status": status, "tag": tag, "limit": limit, "cursor": cursor}
    return Call(routes.LIST_ITEMS, None, _item_page, _compact(params))


def search(query: str, *, k: int = 10, **filters: Any) -> Call[list[SearchHit]]:
    body = {"query": query, "k": k, **filters}
    return Call(routes.SEARCH, body, lambda d: [SearchHit.model_validate(h) for h in d["hits"]])


def recommend(
    query: str,
    *,
    context: dict[str, Any] | None = None,
    k: int = 3,
    kinds: list[str] | None = None,
    idempotency_key: str | None = None,
) -> Call[RecommendResponse]:
    body = {
        "query": query,
        "context": context or {},
        "k": k,
        "kinds": kinds,
        "idempotency_key": idempotency_key,
    }
    return Call(routes.RECOMMEND, _compact(body), RecommendResponse.model_validate)


def event(type: str, impression_id: UUID | str | None = None, **fields: Any) -> Call[EventResult]:
    """One event; an error comes back as InvalidInput."""
    body = _compact({"type": type, "impression_id": _str(impression_id), **fields})
    return Call(routes.EVENTS, _events_body([body]), lambda d: _one_event(d["results"][0]))


def events(events: list[dict[str, Any]]) -> Call[list[EventResult]]:
    """Many events at once (up to 10,000); each gets its own result."""
    return Call(
        routes.EVENTS,
        _events_body(events),
        lambda d: [EventResult.model_validate(r) for r in d["results"]],
    )


def feedback(
    kind: str, value: str | int, *, impression_id: UUID | str | None = None, **fields: Any
) -> Call[Feedback]:
    body = {"kind": kind, "value": value, "impression_id": _str(impression_id), **fields}
    return Call(routes.FEEDBACK, _compact(body), Feedback.model_validate)


def correct(original_response: str, corrected_answer: str, **fields: Any) -> Call[Correction]:
    body = {"original_response": original_response, "corrected_answer": corrected_answer, **fields}
    body["impression_id"] = _str(body.get("impression_id"))
    return Call(routes.CORRECTIONS, _compact(body), Correction.model_validate)


def record_execution(run: dict[str, Any]) -> Call[UUID]:
    """Store a finished agent run (goal, success, duration_ms, tool_calls, ...)."""
    run = _compact(run | {"impression_id": _str(run.get("impression_id"))})
    return Call(routes.EXECUTIONS, run, lambda d: UUID(str(d["execution_id"])))


def tool_created(tool: str, code: str, validation_passed: bool, **fields: Any) -> Call[None]:
    body = {"tool": tool, "code": code, "validation_passed": validation_passed, **fields}
    return Call(routes.TOOL_CREATIONS, body, lambda _: None)


def report(**fields: Any) -> Call[Report]:
    """Store a playbook report; the same external_id again updates it."""
    return Call(routes.REPORT, _jsonable_dates(fields), Report.model_validate)


def reports(*, account: str | None = None, limit: int = 50) -> Call[list[Report]]:
    params = _compact({"account": account, "limit": limit})
    return Call(routes.REPORTS, None, lambda d: [Report.model_validate(r) for r in d], params)


def messages(
    conversation_id: str, messages: list[dict[str, Any]], **fields: Any
) -> Call[Conversation]:
    """Append messages ({"role", "content"}) to a conversation, made on first use."""
    sent = [_compact(m | {"impression_id": _str(m.get("impression_id"))}) for m in messages]
    body = _compact({"messages": sent, **fields})
    path_args = {"conversation_id": conversation_id}
    return Call(routes.MESSAGES, body, Conversation.model_validate, path_args=path_args)


def transcript(text: str, **fields: Any) -> Call[Transcript]:
    """Store a voice transcript; its sentiment comes back."""
    return Call(routes.TRANSCRIPTS, {"text": text, **fields}, Transcript.model_validate)


def context(query: str, **fields: Any) -> Call[ContextBlock]:
    """The prompt-ready context for a question (account, session, token_budget, ...)."""
    return Call(routes.CONTEXT, _compact({"query": query, **fields}), ContextBlock.model_validate)


def answer(query: str, **fields: Any) -> Call[AnswerResult]:
    """The context, and the configured LLM's answer as a response (or None)."""
    return Call(routes.ANSWER, _compact({"query": query, **fields}), AnswerResult.model_validate)


def select_tool(goal: str, **fields: Any) -> Call[ToolSelection]:
    """Choose a tool for a goal (candidates, shortlist, use_llm, context)."""
    body = _compact({"query": goal, **fields})
    return Call(routes.SELECT_TOOL, body, ToolSelection.model_validate)


def playbooks(account: str, **fields: Any) -> Call[PlaybookAdvice]:
    """Playbooks that worked for similar accounts (k, neighbours, include_tried)."""
    body = _compact({"account": account, **fields})
    return Call(routes.PLAYBOOKS, body, PlaybookAdvice.model_validate)


def _item_page(data: Any) -> tuple[list[Item], int | None]:
    return [Item.model_validate(i) for i in data["items"]], data["next_cursor"]


def _one_event(data: Any) -> EventResult:
    result = EventResult.model_validate(data)
    if result.error:
        raise InvalidInput(result.error)
    return result


def _events_body(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "events": [_compact(e | {"impression_id": _str(e.get("impression_id"))}) for e in events]
    }


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


def _str(value: UUID | str | None) -> str | None:
    return None if value is None else str(value)


def _jsonable_dates(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in _compact(fields).items()}

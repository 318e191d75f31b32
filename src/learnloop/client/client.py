"""learnloop.Client: the Python SDK, over HTTP or in-process, with one set of methods."""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import quote
from uuid import UUID

from learnloop.client.execution import ExecutionRecorder
from learnloop.client.transport import HttpTransport, LocalTransport, Transport
from learnloop.context import AnswerResult, ContextBlock, PlaybookAdvice
from learnloop.events import Conversation, Correction, EventResult, Feedback, Report, Transcript
from learnloop.knowledge import Item, SearchHit
from learnloop.recommend import RecommendResponse
from learnloop.service import LearnLoop
from learnloop.tools import ToolSelection


class Client:
    """Everything an assistant or agent tells learnloop, and asks of it.

    Over HTTP (``Client.local(ll, tenant)`` gives the same methods in this process)::

        client = Client("http://127.0.0.1:8000", api_key="ll_...")
        answer = client.recommend("reset my password", context={"user": "ana"})
        top = answer.recommendations[0]
        client.event("clicked", answer.impression_id, item_id=top.item.item_id)
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        transport: Transport | None = None,
        timeout: float = 30.0,
    ):
        if transport is None:
            if not base_url or not api_key:
                raise ValueError("give base_url and api_key, or use Client.local(ll, tenant)")
            transport = HttpTransport(base_url, api_key, timeout=timeout)
        self._transport = transport

    @classmethod
    def local(cls, ll: LearnLoop, tenant_id: str) -> Client:
        """A client that calls ``ll`` directly, acting for ``tenant_id``."""
        return cls(transport=LocalTransport(ll, tenant_id))

    def put_item(self, kind: str, title: str, **fields: Any) -> tuple[Item, str]:
        """Create an item, or a new version of the one with the same kind and external_id."""
        data = self._post("/v1/items", {"kind": kind, "title": title, **fields})
        return Item.model_validate(data["item"]), str(data["outcome"])

    def search(self, query: str, *, k: int = 10, **filters: Any) -> list[SearchHit]:
        data = self._post("/v1/search", {"query": query, "k": k, **filters})
        return [SearchHit.model_validate(hit) for hit in data["hits"]]

    def recommend(
        self,
        query: str,
        *,
        context: dict[str, Any] | None = None,
        k: int = 3,
        kinds: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> RecommendResponse:
        body = {
            "query": query,
            "context": context or {},
            "k": k,
            "kinds": kinds,
            "idempotency_key": idempotency_key,
        }
        return RecommendResponse.model_validate(self._post("/v1/recommend", _compact(body)))

    def event(
        self, type: str, impression_id: UUID | str | None = None, **fields: Any
    ) -> EventResult:
        """One event; an error comes back as InvalidInput."""
        body = _compact({"type": type, "impression_id": _str(impression_id), **fields})
        result = self.events([body])[0]
        if result.error:
            from learnloop.errors import InvalidInput

            raise InvalidInput(result.error)
        return result

    def events(self, events: list[dict[str, Any]]) -> list[EventResult]:
        """Many events at once (up to 10,000); each gets its own result."""
        payload = [_compact(e | {"impression_id": _str(e.get("impression_id"))}) for e in events]
        data = self._post("/v1/events", {"events": payload})
        return [EventResult.model_validate(r) for r in data["results"]]

    def feedback(
        self, kind: str, value: str | int, *, impression_id: UUID | str | None = None, **fields: Any
    ) -> Feedback:
        body = {"kind": kind, "value": value, "impression_id": _str(impression_id), **fields}
        return Feedback.model_validate(self._post("/v1/feedback", _compact(body)))

    def correct(self, original_response: str, corrected_answer: str, **fields: Any) -> Correction:
        body = {
            "original_response": original_response,
            "corrected_answer": corrected_answer,
            **fields,
        }
        body["impression_id"] = _str(body.get("impression_id"))
        return Correction.model_validate(self._post("/v1/corrections", _compact(body)))

    def record_execution(self, run: dict[str, Any]) -> UUID:
        """Store a finished agent run (goal, success, duration_ms, tool_calls, ...)."""
        run = _compact(run | {"impression_id": _str(run.get("impression_id"))})
        return UUID(str(self._post("/v1/executions", run)["execution_id"]))

    def execution(self, goal: str, **fields: Any) -> ExecutionRecorder:
        """A context manager that times its block and records it, with its tool calls."""
        return ExecutionRecorder(self.record_execution, goal, **fields)

    def tool_created(self, tool: str, code: str, validation_passed: bool, **fields: Any) -> None:
        self._post(
            "/v1/tool-creations",
            {"tool": tool, "code": code, "validation_passed": validation_passed, **fields},
        )

    def report(self, **fields: Any) -> Report:
        """Store a playbook report; the same external_id again updates it."""
        return Report.model_validate(self._post("/v1/reports", _jsonable_dates(fields)))

    def reports(self, *, account: str | None = None, limit: int = 50) -> list[Report]:
        params = _compact({"account": account, "limit": limit})
        data = self._transport.request("GET", "/v1/reports", params=params)
        return [Report.model_validate(r) for r in data]

    def messages(
        self, conversation_id: str, messages: list[dict[str, Any]], **fields: Any
    ) -> Conversation:
        """Append messages ({"role", "content"}) to a conversation, made on first use."""
        body = _compact(
            {
                "messages": [
                    _compact(m | {"impression_id": _str(m.get("impression_id"))}) for m in messages
                ],
                **fields,
            }
        )
        path = f"/v1/conversations/{quote(conversation_id, safe='')}/messages"
        return Conversation.model_validate(self._post(path, body))

    def transcript(self, text: str, **fields: Any) -> Transcript:
        """Store a voice transcript; its sentiment comes back."""
        return Transcript.model_validate(self._post("/v1/transcripts", {"text": text, **fields}))

    def context(self, query: str, **fields: Any) -> ContextBlock:
        """The prompt-ready context for a question (account, session, token_budget, ...)."""
        body = _compact({"query": query, **fields})
        return ContextBlock.model_validate(self._post("/v1/context", body))

    def answer(self, query: str, **fields: Any) -> AnswerResult:
        """The context, and the configured LLM's answer as a response (or None)."""
        body = _compact({"query": query, **fields})
        return AnswerResult.model_validate(self._post("/v1/answer", body))

    def select_tool(self, goal: str, **fields: Any) -> ToolSelection:
        """Choose a tool for a goal (candidates, shortlist, use_llm, context)."""
        body = _compact({"query": goal, **fields})
        return ToolSelection.model_validate(self._post("/v1/tools/select", body))

    def playbooks(self, account: str, **fields: Any) -> PlaybookAdvice:
        """Playbooks that worked for similar accounts (k, neighbours, include_tried)."""
        body = _compact({"account": account, **fields})
        return PlaybookAdvice.model_validate(self._post("/v1/playbooks/recommend", body))

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self._transport.request("POST", path, body)


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


def _str(value: UUID | str | None) -> str | None:
    return None if value is None else str(value)


def _jsonable_dates(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in _compact(fields).items()}

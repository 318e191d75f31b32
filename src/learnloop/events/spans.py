"""Reading OpenTelemetry spans as learnloop records: agent runs, tool calls and feedback.

Two span vocabularies are read: the OpenTelemetry GenAI semantic conventions
(``gen_ai.operation.name`` = ``invoke_agent``, ``execute_tool``, ``chat``, ...) and
OpenInference (``openinference.span.kind`` = ``AGENT``, ``TOOL``, ``LLM``, ``CHAIN``, ...).

- a tool span (``execute_tool`` / ``TOOL``) is a tool call: its name, arguments, result,
  error and duration;
- an agent span (``invoke_agent`` / ``AGENT``), or the root span of a trace in either
  vocabulary, is the run of that trace's execution: its goal (the user's input), success
  (the span's status), error and duration;
- feedback comes from ``learnloop.feedback.*`` attributes or events on any span, and from
  ``gen_ai.evaluation.result`` events whose label says good or bad.

A span in neither vocabulary is not understood (``read_span`` answers None). A span that is
understood but cannot be stored as it is raises InvalidInput naming what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from learnloop.errors import InvalidInput
from learnloop.events.feedback import score
from learnloop.events.models import FeedbackIn
from learnloop.events.tracking_models import ExecutionIn, ToolCallIn
from learnloop.validation import parse

MAX_GOAL, MAX_ERROR, MAX_OUTPUT = 2000, 10_000, 2000
Became = Literal["run", "tool_call", "feedback", "nothing"]
# Evaluation labels read as a thumbs rating (gen_ai.evaluation.score.label).
GOOD_LABELS = frozenset({"up", "pass", "passed", "correct", "relevant", "good", "positive"})
BAD_LABELS = frozenset(
    {"down", "fail", "failed", "incorrect", "not_relevant", "irrelevant", "bad", "negative"}
)
HELPFULNESS_LABELS = frozenset({"helpful", "partially", "not_helpful"})


@dataclass(frozen=True)
class SpanEvent:
    name: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Span:
    """One span, as the OTLP decoder hands it over (ids as lowercase hex)."""

    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    parent_span_id: str | None = None
    failed: bool = False
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @property
    def started_at(self) -> datetime:
        return datetime.fromtimestamp(self.start_ns / 1e9, UTC)

    @property
    def ended_at(self) -> datetime:
        return datetime.fromtimestamp(self.end_ns / 1e9, UTC)


@dataclass(frozen=True)
class Run:
    """A span that tells what its trace's run was."""

    root: bool
    execution: ExecutionIn


@dataclass(frozen=True)
class Reading:
    """What one span becomes."""

    span: Span
    became: Became
    run: Run | None = None
    tool_call: ToolCallIn | None = None
    feedback: tuple[FeedbackIn, ...] = ()

    @property
    def impression_ids(self) -> set[UUID]:
        found = {f.impression_id for f in self.feedback if f.impression_id}
        if self.run and self.run.execution.impression_id:
            found.add(self.run.execution.impression_id)
        return found


def read_span(span: Span) -> Reading | None:
    """What ``span`` becomes, or None when it is in neither vocabulary.

    >>> tool = Span("0" * 31 + "1", "0" * 15 + "2", "execute_tool lookup", 0, 2_500_000,
    ...             parent_span_id="0" * 15 + "1",
    ...             attributes={"gen_ai.operation.name": "execute_tool",
    ...                         "gen_ai.tool.name": "lookup",
    ...                         "gen_ai.tool.call.arguments": '{"city": "Oslo"}'})
    >>> reading = read_span(tool)
    >>> reading.became, reading.tool_call.tool, reading.tool_call.parameters
    ('tool_call', 'lookup', {'city': 'Oslo'})
    >>> read_span(Span("0" * 31 + "1", "0" * 15 + "3", "GET /", 0, 1)) is None
    True
    """
    kind = _kind(span.attributes)
    feedback = _feedback(span)
    if kind is None and not feedback:
        return None
    if span.end_ns < span.start_ns:
        raise InvalidInput("the span ends before it starts (endTimeUnixNano < startTimeUnixNano)")
    if kind == "tool":
        return Reading(span, "tool_call", tool_call=_tool_call(span), feedback=feedback)
    if kind == "agent" or (kind is not None and span.parent_span_id is None):
        run = Run(span.parent_span_id is None, _execution(span))
        return Reading(span, "run", run=run, feedback=feedback)
    return Reading(span, "feedback" if feedback else "nothing", feedback=feedback)


def _kind(attrs: dict[str, Any]) -> str | None:
    operation = attrs.get("gen_ai.operation.name")
    openinference = str(attrs.get("openinference.span.kind", "")).upper()
    if operation == "execute_tool" or openinference == "TOOL":
        return "tool"
    if operation == "invoke_agent" or openinference == "AGENT":
        return "agent"
    if operation or openinference or any(key.startswith("gen_ai.") for key in attrs):
        return "genai"
    return None


def _tool_call(span: Span) -> ToolCallIn:
    attrs = span.attributes
    name = attrs.get("gen_ai.tool.name") or attrs.get("tool.name")
    if not name:
        name = span.name.removeprefix("execute_tool").strip()
    arguments = _first(attrs, "gen_ai.tool.call.arguments", "input.value")
    result = _first(attrs, "gen_ai.tool.call.result", "output.value")
    call = {
        "tool": str(name)[:200],
        "item_id": attrs.get("learnloop.item_id"),
        "parameters": _parameters(arguments),
        "result": None if result is None else _json_or_text(result),
        "success": not span.failed,
        "error": _error(span),
        "duration_ms": span.duration_ms,
    }
    return parse(ToolCallIn, call, "the tool span: ")


def _execution(span: Span) -> ExecutionIn:
    attrs = span.attributes
    output = _first(attrs, "gen_ai.output.messages", "output.value")
    metadata = {
        "otel": {
            "trace_id": span.trace_id,
            "span_id": span.span_id,
            "name": span.name,
            "root": span.parent_span_id is None,
        },
        "agent": attrs.get("gen_ai.agent.name") or attrs.get("agent.name"),
        "model": attrs.get("gen_ai.request.model") or attrs.get("llm.model_name"),
        "session": attrs.get("gen_ai.conversation.id") or attrs.get("session.id"),
        "user": attrs.get("user.id"),
        "output": None if output is None else _text(output)[:MAX_OUTPUT],
    }
    run = {
        "goal": _goal(span)[:MAX_GOAL],
        "intent": attrs.get("learnloop.intent"),
        "success": not span.failed,
        "error": _error(span),
        "duration_ms": span.duration_ms,
        "started_at": span.started_at,
        "impression_id": attrs.get("learnloop.impression_id"),
        "metadata": {k: v for k, v in metadata.items() if v is not None},
        "idempotency_key": trace_key(span.trace_id),
    }
    return parse(ExecutionIn, run, "the run span: ")


def trace_key(trace_id: str) -> str:
    """The idempotency key of the execution of a trace."""
    return f"otel:{trace_id}"


def placeholder(trace_id: str, tools: list[tuple[Span, ToolCallIn]]) -> ExecutionIn:
    """The execution of a trace whose run span has not arrived (or never will): it spans
    its tool calls, and succeeded if they all did, until a run span tells more."""
    start = min(span.start_ns for span, _ in tools)
    end = max(span.end_ns for span, _ in tools)
    run = {
        "goal": f"trace {trace_id}",
        "success": all(call.success for _, call in tools),
        "duration_ms": (end - start) / 1e6,
        "started_at": datetime.fromtimestamp(start / 1e9, UTC),
        "metadata": {"otel": {"trace_id": trace_id}},
        "idempotency_key": trace_key(trace_id),
    }
    return parse(ExecutionIn, run)


def _goal(span: Span) -> str:
    attrs = span.attributes
    messages = attrs.get("gen_ai.input.messages")
    asked = _last_user_text(messages) if messages is not None else None
    if asked is None and attrs.get("input.value") is not None:
        asked = _input_text(attrs["input.value"])
    fallback = attrs.get("gen_ai.agent.name") or attrs.get("agent.name") or span.name
    return (asked or str(fallback) or "run").strip() or "run"


def _last_user_text(messages: Any) -> str | None:
    """The text of the last user message of ``gen_ai.input.messages`` (JSON or a list)."""
    parsed = _json_or_text(messages)
    if not isinstance(parsed, list):
        return None
    for message in reversed(parsed):
        if isinstance(message, dict) and message.get("role") == "user":
            parts = message.get("parts") or [{"content": message.get("content")}]
            texts = [str(p["content"]) for p in parts if _is_text(p)]
            if texts:
                return " ".join(texts)
    return None


def _is_text(part: Any) -> bool:
    return (
        isinstance(part, dict)
        and part.get("content") is not None
        and (part.get("type", "text") == "text")
    )


def _input_text(value: Any) -> str:
    """OpenInference's ``input.value``: a JSON object's question, or the text as it is."""
    parsed = _json_or_text(value)
    if isinstance(parsed, dict):
        for key in ("input", "query", "question", "query_str", "prompt"):
            if isinstance(parsed.get(key), str):
                return str(parsed[key])
        messages = _last_user_text(parsed.get("messages"))
        if messages:
            return messages
    return _text(parsed)


def _feedback(span: Span) -> tuple[FeedbackIn, ...]:
    found = []
    if "learnloop.feedback.kind" in span.attributes:
        found.append(_learnloop_feedback(span, span.attributes, "span"))
    for n, event in enumerate(span.events):
        if event.name == "learnloop.feedback":
            found.append(_learnloop_feedback(span, event.attributes, str(n)))
        elif event.name == "gen_ai.evaluation.result":
            rating = _evaluation(span, event.attributes, str(n))
            if rating is not None:
                found.append(rating)
    return tuple(found)


def _learnloop_feedback(span: Span, attrs: dict[str, Any], where: str) -> FeedbackIn:
    kind, value = attrs.get("learnloop.feedback.kind"), attrs.get("learnloop.feedback.value")
    rating = {"kind": kind, "value": value, "reason": attrs.get("learnloop.feedback.reason")}
    return _rating(span, attrs, where, rating)


def _evaluation(span: Span, attrs: dict[str, Any], where: str) -> FeedbackIn | None:
    label = str(attrs.get("gen_ai.evaluation.score.label", "")).strip().lower()
    if label in HELPFULNESS_LABELS:
        kind, value = "helpfulness", label
    elif label in GOOD_LABELS or label in BAD_LABELS:
        kind, value = "thumbs", "up" if label in GOOD_LABELS else "down"
    else:
        return None
    about = (attrs.get("gen_ai.evaluation.name"), attrs.get("gen_ai.evaluation.explanation"))
    reason = ": ".join(str(part) for part in about if part) or None
    return _rating(span, attrs, where, {"kind": kind, "value": value, "reason": reason})


def _rating(span: Span, attrs: dict[str, Any], where: str, rating: dict[str, Any]) -> FeedbackIn:
    def attr(name: str) -> Any:
        return attrs.get(name, span.attributes.get(name))

    impression = attr("learnloop.impression_id")
    response = attr("gen_ai.response.id") or (None if impression else trace_key(span.trace_id))
    rating |= {
        "impression_id": impression,
        "response_id": response,
        "item_id": attr("learnloop.item_id"),
        "idempotency_key": f"otel:{span.trace_id}:{span.span_id}:{where}",
    }
    feedback = parse(FeedbackIn, {k: v for k, v in rating.items() if v is not None}, "feedback: ")
    score(feedback.kind, feedback.value)  # InvalidInput names the values the kind takes
    return feedback


def _error(span: Span) -> str | None:
    if not span.failed:
        return None
    for event in span.events:
        if event.name == "exception":
            kind, message = (
                event.attributes.get("exception.type"),
                event.attributes.get("exception.message"),
            )
            text = ": ".join(str(part) for part in (kind, message) if part)
            if text:
                return text[:MAX_ERROR]
    text = span.status_message or str(span.attributes.get("error.type") or "") or "failed"
    return text[:MAX_ERROR]


def _first(attrs: dict[str, Any], *names: str) -> Any:
    for name in names:
        if attrs.get(name) is not None:
            return attrs[name]
    return None


def _parameters(arguments: Any) -> dict[str, Any]:
    if arguments is None:
        return {}
    parsed = _json_or_text(arguments)
    return parsed if isinstance(parsed, dict) else {"input": parsed}


def _json_or_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

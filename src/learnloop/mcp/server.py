"""learnloop's MCP server: its tools and resources, each a call of the learnloop HTTP API.

The tools go through ``learnloop.AsyncClient`` with an API key, so an agent's calls are
logged as any client's are (impressions, events, feedback) and bounded by the key's tenant,
scopes and rate limit.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.types import ToolAnnotations
from pydantic import Field

from learnloop.client import AsyncClient
from learnloop.events.models import EventType, FeedbackKind, Priority
from learnloop.knowledge.models import Kind
from learnloop.mcp import answers
from learnloop.mcp.gateway import Gateway, keep_headers
from learnloop.mcp.outcomes import Outcome, OutcomeKind, record

JSON = "application/json"

INSTRUCTIONS = """\
learnloop finds the knowledge items that help with a question and learns from what happened.
Call `recommend` (or `context` for a prompt-ready block) with the user's question; then report
what came of it with `record_outcome` and the impression_id the answer gave: an event
(clicked, executed, succeeded, failed, dismissed), a rating, or a corrected answer.
`select_tool` picks a tool for a goal. Read an item with the resource learnloop://items/{id}.
"""

Query = Annotated[str, Field(description="the user's question or the agent's goal")]
Kinds = Annotated[list[Kind] | None, Field(description="only items of these kinds")]


def build_server(url: str, api_key: str | None, *, timeout: float = 30.0) -> MCPServer[Any]:
    """The MCP server that calls the learnloop API at ``url`` with ``api_key`` (over streamable
    HTTP a request's own ``Authorization: Bearer`` key is used instead)."""
    gateway = Gateway(url, api_key, timeout=timeout)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gateway.close()

    server: MCPServer[Any] = MCPServer(
        "learnloop",
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level="WARNING",
        middleware=[keep_headers],
    )
    _add_tools(server, gateway)
    _add_resources(server, gateway)
    return server


def _add_tools(server: MCPServer[Any], gateway: Gateway) -> None:
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
    reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=writes)
    async def recommend(
        query: Query,
        context: Annotated[
            dict[str, Any] | None,
            Field(description="who asks and where: user, session, account, intent, segment"),
        ] = None,
        k: Annotated[int, Field(description="how many items at most (1-20)")] = 3,
        kinds: Kinds = None,
    ) -> dict[str, Any]:
        """The best knowledge items for a question, with the confidence that each helps.

        The recommendation is logged as an impression: pass its impression_id to
        record_outcome to say what came of it."""

        async def call(client: AsyncClient) -> dict[str, Any]:
            asked = None if kinds is None else [str(kind) for kind in kinds]
            answer = await client.recommend(query, context=context, k=k, kinds=asked)
            return answers.recommendation(answer)

        return await gateway.tool(call)

    @server.tool(annotations=reads)
    async def search(
        query: Query,
        k: Annotated[int, Field(description="how many hits at most (1-100)")] = 5,
        kinds: Kinds = None,
        tags: Annotated[list[str] | None, Field(description="items with all these tags")] = None,
    ) -> dict[str, Any]:
        """Search the knowledge items (semantic and keyword); nothing is logged."""
        filters = {name: value for name, value in {"kinds": kinds, "tags": tags}.items() if value}

        async def call(client: AsyncClient) -> dict[str, Any]:
            return answers.hits(await client.search(query, k=k, **filters))

        return await gateway.tool(call)

    @server.tool(annotations=writes)
    async def context(
        query: Query,
        account: Annotated[str | None, Field(description="the account asked about")] = None,
        session: Annotated[str | None, Field(description="the conversation's session")] = None,
        token_budget: Annotated[
            int | None, Field(description="tokens the block may take (50-200000)")
        ] = None,
        k: Annotated[int, Field(description="recommended items asked for (1-20)")] = 5,
    ) -> dict[str, Any]:
        """A prompt-ready block for a question: applied corrections, the recommended items and
        the account's recent reports, each cited by [ref]; its items are logged as an
        impression (impression_id) for record_outcome."""
        fields = {"account": account, "session": session, "token_budget": token_budget, "k": k}

        async def call(client: AsyncClient) -> dict[str, Any]:
            return answers.context(await client.context(query, **fields))

        return await gateway.tool(call)

    @server.tool(annotations=writes)
    async def record_outcome(
        impression_id: Annotated[str, Field(description="from recommend's or context's answer")],
        kind: Annotated[
            OutcomeKind,
            Field(
                description="event: what was done with an item; feedback: a rating; "
                "correction: the right answer"
            ),
        ],
        event: Annotated[EventType | None, Field(description="for kind event")] = None,
        item_id: Annotated[
            int | None, Field(description="the item it is about (needed for clicked)")
        ] = None,
        rating: Annotated[FeedbackKind | None, Field(description="for kind feedback")] = None,
        value: Annotated[
            str | int | None,
            Field(
                description="the rating: up/down, 1-5 stars, an emoji, "
                "helpful/partially/not_helpful"
            ),
        ] = None,
        reason: Annotated[str | None, Field(description="why, for feedback")] = None,
        original_response: Annotated[
            str | None, Field(description="for kind correction: the answer given")
        ] = None,
        corrected_answer: Annotated[
            str | None, Field(description="for kind correction: the right answer")
        ] = None,
        priority: Annotated[Priority | None, Field(description="of a correction")] = None,
        idempotency_key: Annotated[
            str | None, Field(description="the same key again stores nothing new")
        ] = None,
    ) -> dict[str, Any]:
        """Report what came of a recommendation: an event, a rating, or a corrected answer."""
        outcome = Outcome(
            impression_id, kind, event, item_id, rating, value, reason,
            original_response, corrected_answer, priority, idempotency_key,
        )  # fmt: skip

        async def call(client: AsyncClient) -> dict[str, Any]:
            return await record(client, outcome)

        return await gateway.tool(call)

    @server.tool(annotations=writes)
    async def select_tool(
        goal: Annotated[str, Field(description="what the agent wants done")],
        context: Annotated[dict[str, Any] | None, Field(description="the situation")] = None,
        use_llm: Annotated[
            bool | None, Field(description="let the configured chat model pick the last stage")
        ] = None,
    ) -> dict[str, Any]:
        """Choose a tool (an item of kind tool) for a goal: semantic search, then what worked
        before; the choice is logged (selection_id)."""
        fields = {"context": context, "use_llm": use_llm}

        async def call(client: AsyncClient) -> dict[str, Any]:
            return answers.tool_selection(await client.select_tool(goal, **fields))

        return await gateway.tool(call)


def _add_resources(server: MCPServer[Any], gateway: Gateway) -> None:
    @server.resource(answers.ITEMS_URI, name="items", mime_type=JSON)
    async def items() -> str:
        """The newest 100 knowledge items (id, kind, title, version, URI)."""

        async def call(client: AsyncClient) -> str:
            page, more = await client.items(limit=100)
            listed = [answers.item_entry(i) for i in page]
            return json.dumps({"items": listed, "more": more is not None})

        return await gateway.resource(call)

    @server.resource(answers.ITEM_URI, name="item", mime_type=JSON)
    async def item(item_id: str) -> str:
        """One knowledge item: title, body, tags, attrs, version."""
        if not item_id.isdigit():
            raise ResourceError(f"item_id must be a whole number, not {item_id!r}")

        async def call(client: AsyncClient) -> str:
            return json.dumps(answers.item(await client.item(int(item_id))))

        return await gateway.resource(call)

"""Context for an assistant's LLM, and answers generated from it.

A query and an account (or a session) in; out, within a token budget: the applied
corrections relevant to the query, the recommended items (logged as an impression) and the
account's newest playbook reports, each part cited by item id and version (or report id).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from learnloop._ids import uuid7
from learnloop._sql import load_queries
from learnloop.context import render
from learnloop.context.models import (
    AnswerRequest,
    AnswerResult,
    ContextBlock,
    ContextRequest,
    Response,
)
from learnloop.context.ports import ChatModel, Message, Tokenizer
from learnloop.errors import NotFound
from learnloop.events import Report, Tracking
from learnloop.knowledge import Search
from learnloop.knowledge.models import KINDS, Item
from learnloop.ports import Store
from learnloop.recommend import Recommender
from learnloop.telemetry import traced
from learnloop.validation import parse

Q = load_queries("learnloop.context")
CORRECTION_SIMILARITY = 0.35  # an applied correction closer than this to the query is relevant
SYSTEM_PROMPT = (
    "Answer the user's question from the context below. Applied corrections override "
    "anything else in it. Cite the parts you use by their reference, like [item 12 v3] or "
    "[report 7]. If the context does not answer the question, say so plainly."
)


class ContextService:
    def __init__(
        self,
        db: Store,
        search: Search,
        recommender: Recommender,
        tracking: Tracking,
        tokenizer: Tokenizer,
        *,
        chat: ChatModel | None = None,
        token_budget: int = 2000,
        trends: Callable[[str, str, int], list[str]] | None = None,
    ):
        self.db = db
        self.search = search
        self.recommender = recommender
        self.tracking = tracking
        self.tokenizer = tokenizer
        self.chat = chat
        self.token_budget = token_budget
        self.trends = trends  # (tenant, account, days) -> one line per KPI

    @traced("learnloop.context", lambda block: {"learnloop.tokens": block.tokens})
    def build(self, tenant_id: str, request: ContextRequest | dict[str, Any]) -> ContextBlock:
        """The prompt-ready block for a query; its items are logged as an impression."""
        req = parse(ContextRequest, request)
        account = req.account or self._session_account(tenant_id, req.session)
        budget = req.token_budget or self.token_budget
        corrections = self._corrections(tenant_id, req)
        skip = {c.item_id for c in corrections}
        impression_id, items = self._recommended(tenant_id, req, account, skip)
        parts = [render.item_part(c, "correction") for c in corrections]
        parts += [render.item_part(item) for item in items]
        parts += [render.report_part(r) for r in self._reports(tenant_id, account, req.reports)]
        if account and req.trend_days and self.trends is not None:
            lines = self.trends(tenant_id, account, req.trend_days)
            if lines:
                parts.append(render.trends_part(account, req.trend_days, lines))
        head = self.tokenizer.truncate(render.header(req.query, account), budget)
        kept, left = render.fit(self.tokenizer, head, parts, budget)
        text = render.assemble(head, kept)
        while kept and self.tokenizer.count(text) > budget:  # a tokenizer that is not additive
            left.append(kept.pop().citation)
            text = render.assemble(head, kept)
        return ContextBlock(
            query=req.query,
            account=account,
            session=req.session,
            impression_id=impression_id,
            text=text,
            tokens=self.tokenizer.count(text),
            token_budget=budget,
            tokenizer=self.tokenizer.name,
            parts=kept,
            left_out=left,
        )

    def answer(self, tenant_id: str, request: AnswerRequest | dict[str, Any]) -> AnswerResult:
        """The context, and an answer stored as a response when a chat model is configured."""
        req = parse(AnswerRequest, request)
        context = self.build(tenant_id, req.model_dump(exclude={"instructions", "max_tokens"}))
        if self.chat is None:
            return AnswerResult(context=context, response=None)
        system = "\n\n".join(filter(None, [SYSTEM_PROMPT, req.instructions, context.text]))
        started = time.perf_counter()
        completion = self.chat.complete(
            system, [Message("user", req.query)], max_tokens=req.max_tokens
        )
        params = {
            "tenant_id": tenant_id,
            "response_id": uuid7(),
            "query": req.query,
            "account_id": context.account,
            "session_id": req.session,
            "user_id": req.user,
            "impression_id": context.impression_id,
            "context_text": context.text,
            "context_tokens": context.tokens,
            "citations": Jsonb([p.citation.model_dump() for p in context.parts]),
            "answer": completion.text,
            "provider": completion.provider,
            "model": completion.model,
            "input_tokens": completion.input_tokens,
            "output_tokens": completion.output_tokens,
            "duration_ms": (time.perf_counter() - started) * 1000,
        }
        with self.db.connection() as conn:
            row = conn.execute(Q["insert_response"], params).fetchone()
        return AnswerResult(context=context, response=Response.model_validate(row))

    def response(self, tenant_id: str, response_id: UUID) -> Response:
        params = {"tenant_id": tenant_id, "response_id": response_id}
        with self.db.connection() as conn:
            row = conn.execute(Q["get_response"], params).fetchone()
        if row is None:
            raise NotFound(f"no response {response_id} in this tenant")
        return Response.model_validate(row)

    def _session_account(self, tenant_id: str, session: str | None) -> str | None:
        if session is None:
            return None
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "session_id": session}
            row = conn.execute(Q["session_account"], params).fetchone()
        return None if row is None else str(row["account_id"])

    def _corrections(self, tenant_id: str, req: ContextRequest) -> list[Item]:
        """Applied corrections (items of kind 'correction') close enough to the query."""
        if not req.corrections:
            return []
        with self.db.connection() as conn:
            row = conn.execute(Q["has_corrections"], {"tenant_id": tenant_id}).fetchone()
        if row is None or not row["found"]:
            return []  # no search, no second embedding of the query
        hits = self.search.search(tenant_id, req.query, k=4 * req.corrections, kinds=["correction"])
        relevant = [
            hit.item
            for hit in hits
            if hit.similarity is not None and hit.similarity >= CORRECTION_SIMILARITY
        ]
        return relevant[: req.corrections]

    def _recommended(
        self, tenant_id: str, req: ContextRequest, account: str | None, skip: set[int]
    ) -> tuple[UUID, list[Item]]:
        context = {"account": account, "session": req.session, "user": req.user}
        answer = self.recommender.recommend(
            tenant_id,
            {
                "query": req.query,
                "k": req.k,
                "kinds": req.kinds or [k for k in KINDS if k != "correction"],
                "context": {key: value for key, value in context.items() if value},
            },
        )
        items = [r.item for r in answer.recommendations if r.item.item_id not in skip]
        return answer.impression_id, items

    def _reports(self, tenant_id: str, account: str | None, limit: int) -> list[Report]:
        if account is None or limit == 0:
            return []
        return self.tracking.reports(tenant_id, account=account, limit=limit)

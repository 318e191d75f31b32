"""Tool selection in three stages, every stage's candidates logged.

1. search: semantic search narrows the tenant's tools (items of kind 'tool') to a few;
2. statistics: their recorded executions (success rate, median duration) rank them, so
   each new outcome recorded through ``Tracking.execution`` moves the next ranking;
3. llm: where a chat model is configured, it picks one of the shortlist.

With a tool catalogue (a Chroma collection, ``LEARNLOOP_CHROMA``), the first stage also
takes the catalogue's nearest tools: each becomes (or stays) a tool item keyed by its
catalogue id (an archived one is left out), and the two lists are merged by item, the
higher similarity kept.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from learnloop._ids import uuid7
from learnloop._sql import load_queries
from learnloop.context.ports import ChatModel, LLMError, Message
from learnloop.errors import NotFound
from learnloop.knowledge import Items, Search
from learnloop.knowledge.models import SearchHit
from learnloop.ports import Connection, Store
from learnloop.tools import ranking
from learnloop.tools.catalogue import ToolCatalogue, tool_items
from learnloop.tools.models import ToolCandidate, ToolSelection, ToolSelectRequest
from learnloop.validation import parse

Q = load_queries("learnloop.tools")
PICK_PROMPT = (
    "You choose the one tool an agent should use for its goal. Answer with the number of "
    "the best tool and nothing else, or 0 when none of them fits."
)


class ToolSelector:
    def __init__(
        self,
        db: Store,
        search: Search,
        chat: ChatModel | None = None,
        *,
        items: Items | None = None,
        catalogue: ToolCatalogue | None = None,
    ):
        self.db = db
        self.search = search
        self.chat = chat
        self.items = items
        self.catalogue = catalogue

    def select(self, tenant_id: str, request: ToolSelectRequest | dict[str, Any]) -> ToolSelection:
        """Choose a tool for a goal; the selection and every stage's candidates are logged."""
        req = parse(ToolSelectRequest, request)
        hits = self.search.search(tenant_id, req.query, k=req.candidates, kinds=["tool"])
        hits = self._with_catalogue(tenant_id, req, hits)
        found = self._with_stats(tenant_id, hits)
        best = sorted(found, key=_rank_score, reverse=True)[: req.shortlist]
        ranked = [
            c.model_copy(update={"rank": n, "score": _rank_score(c)}) for n, c in enumerate(best, 1)
        ]
        about = {hit.item.item_id: hit.item.body for hit in hits}
        chosen, decided_by = self._pick(req, ranked, about)
        by_llm = decided_by == "llm"
        if chosen and by_llm:
            chosen = chosen.model_copy(update={"rank": 1})  # as the llm stage logs it
        stages = {
            "search": found,
            "statistics": ranked,
            "llm": [chosen] if chosen and by_llm else [],
        }
        selection = {
            "selection_id": uuid7(),
            "query": req.query,
            "chosen": chosen,
            "decided_by": decided_by,
            "llm_model": self.chat.model if by_llm and self.chat else None,
        }
        created = self._log(tenant_id, selection, stages, req.context)
        return ToolSelection.model_validate(selection | stages | {"created_at": created})

    def selection(self, tenant_id: str, selection_id: UUID) -> ToolSelection:
        """A selection as it was logged, with every stage's candidates."""
        params = {"tenant_id": tenant_id, "selection_id": selection_id}
        with self.db.connection() as conn:
            row = conn.execute(Q["get_selection"], params).fetchone()
            if row is None:
                raise NotFound(f"no tool selection {selection_id} in this tenant")
            rows = conn.execute(Q["selection_candidates"], params).fetchall()
        stages: dict[str, list[ToolCandidate]] = {"search": [], "statistics": [], "llm": []}
        for r in rows:
            stages[r["stage"]].append(ToolCandidate.model_validate(r))
        final = stages["llm"] or stages["statistics"][:1]
        chosen = final[0] if final and row["chosen_item_id"] is not None else None
        return ToolSelection.model_validate(row | stages | {"chosen": chosen})

    def _with_catalogue(
        self, tenant_id: str, req: ToolSelectRequest, hits: list[SearchHit]
    ) -> list[SearchHit]:
        if self.catalogue is None or self.items is None:
            return hits
        vector = self.search.query_vector(req.query.strip())
        tools = self.catalogue.nearest(tenant_id, vector, req.candidates)
        if not tools:
            return hits
        collection = self.catalogue.collection_name(tenant_id)
        items = tool_items(self.items, tenant_id, [t.id for t in tools])
        new = [t.item(collection) for t in tools if t.id not in items]
        items |= {item.external_id or "": item for item, _ in self.items.put_many(tenant_id, new)}
        best = {hit.item.item_id: hit for hit in hits}
        for tool in tools:
            item = items[tool.id]
            if item.status != "active":
                continue  # archived in learnloop (by hand or a lifecycle rule)
            known = best.get(item.item_id)
            if known is None or (known.similarity or -1.0) < (tool.similarity or -1.0):
                best[item.item_id] = SearchHit(
                    item=item,
                    score=tool.similarity or 0.0,
                    similarity=tool.similarity,
                    keyword_score=None,
                    semantic_rank=None,
                    keyword_rank=None,
                )
        merged = sorted(best.values(), key=lambda h: h.similarity or -1.0, reverse=True)
        return merged[: req.candidates]

    def _with_stats(self, tenant_id: str, hits: list[SearchHit]) -> list[ToolCandidate]:
        names = [_name(hit) for hit in hits]
        params = {
            "tenant_id": tenant_id,
            "item_ids": [hit.item.item_id for hit in hits],
            "names": names,
        }
        with self.db.connection() as conn:
            stats = {r["item_id"]: r for r in conn.execute(Q["tool_stats"], params).fetchall()}
        return [
            ToolCandidate(
                rank=n,
                item_id=hit.item.item_id,
                item_version=hit.item.version,
                tool=name,
                score=hit.similarity or 0.0,
                similarity=hit.similarity,
                calls=int(stats[hit.item.item_id]["calls"]),
                successes=int(stats[hit.item.item_id]["successes"]),
                median_ms=stats[hit.item.item_id]["median_ms"],
            )
            for n, (hit, name) in enumerate(zip(hits, names, strict=True), 1)
        ]

    def _pick(
        self, req: ToolSelectRequest, ranked: list[ToolCandidate], about: dict[int, str]
    ) -> tuple[ToolCandidate | None, str]:
        if not ranked:
            return None, "none"
        if self.chat is None or not req.use_llm or len(ranked) == 1:
            return ranked[0], "statistics"
        try:
            question = Message("user", _pick_question(req.query, ranked, about))
            answer = self.chat.complete(PICK_PROMPT, [question], max_tokens=16)
        except LLMError:
            return ranked[0], "statistics"  # the ranking stands when the model cannot answer
        number = ranking.parse_pick(answer.text, len(ranked))
        if number is None:
            return ranked[0], "statistics"
        return (ranked[number - 1] if number else None), "llm"

    def _log(
        self,
        tenant_id: str,
        selection: dict[str, Any],
        stages: dict[str, list[ToolCandidate]],
        context: dict[str, Any],
    ) -> Any:
        chosen: ToolCandidate | None = selection["chosen"]
        params = {
            "tenant_id": tenant_id,
            "selection_id": selection["selection_id"],
            "query": selection["query"],
            "context": Jsonb(context),
            "chosen_item_id": chosen.item_id if chosen else None,
            "chosen_tool": chosen.tool if chosen else None,
            "decided_by": selection["decided_by"],
            "llm_model": selection["llm_model"],
        }
        with self.db.transaction() as conn:
            row = conn.execute(Q["insert_selection"], params).fetchone()
            for stage, rows in stages.items():
                _log_stage(conn, tenant_id, selection["selection_id"], stage, rows)
        assert row is not None
        return row["created_at"]


def _name(hit: SearchHit) -> str:
    name = hit.item.attrs.get("name")
    return name if isinstance(name, str) and name else hit.item.title


def _rank_score(c: ToolCandidate) -> float:
    return ranking.score(c.similarity, c.calls, c.successes, c.median_ms)


def _pick_question(query: str, ranked: list[ToolCandidate], about: dict[int, str]) -> str:
    lines = [f"Goal: {query}", "", "Tools:"]
    for c in ranked:
        record = (
            f"{c.successes}/{c.calls} calls succeeded, median {c.median_ms:.0f} ms"
            if c.calls and c.median_ms is not None
            else "never used"
        )
        description = " ".join(about.get(c.item_id, "").split())[:300]
        lines.append(f"{c.rank}. {c.tool} ({record}): {description}".rstrip(": "))
    return "\n".join(lines)


def _log_stage(
    conn: Connection, tenant_id: str, selection_id: UUID, stage: str, rows: list[ToolCandidate]
) -> None:
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                Q["insert_selection_candidate"],
                [
                    c.model_dump()
                    | {"tenant_id": tenant_id, "selection_id": selection_id}
                    | {"stage": stage}
                    for c in rows
                ],
            )

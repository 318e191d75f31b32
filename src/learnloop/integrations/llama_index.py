"""learnloop for LlamaIndex (llama-index-core): a retriever and a callback handler.

``pip install 'learnloop[llamaindex]'``. The retriever recommends (or searches) through a
``learnloop.Client``; each node's metadata names its ``impression_id`` and ``item_id``. The
handler, in a ``CallbackManager``, collects the learnloop nodes retrieved in a trace (a
query); when the trace synthesised an answer without error it reports them as used
(``executed`` events), and ``clicked``, ``succeeded``, ``failed`` and ``feedback`` report
what they led to afterwards.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Sequence
from typing import Any

from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.callbacks.base_handler import BaseCallbackHandler
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle, TextNode

from learnloop.events import EventResult, Feedback
from learnloop.integrations.outcomes import Mode, Outcomes, Shown, found, recommended

__all__ = ["LearnLoopCallbackHandler", "LearnLoopRetriever"]
ANSWERED = (CBEventType.SYNTHESIZE, CBEventType.QUERY)
# Metadata for learnloop's bookkeeping, kept out of the prompt and of embeddings.
BOOKKEEPING = ["source", "impression_id", "item_id", "version", "rank", "confidence", "score",
               "strategy", "external_id"]  # fmt: skip


class LearnLoopRetriever(BaseRetriever):
    """Nodes recommended (``mode="recommend"``, logged as an impression) or found
    (``mode="search"``, no impression) by learnloop for the query, each scored by its
    confidence (recommend) or search score.

    ``client`` is a ``learnloop.Client`` or ``learnloop.AsyncClient`` (awaited in
    ``aretrieve``); ``context`` goes with each recommendation (user, session, ...).
    """

    def __init__(
        self,
        client: Any,
        *,
        mode: Mode = "recommend",
        k: int = 3,
        context: dict[str, Any] | None = None,
        kinds: list[str] | None = None,
        callback_manager: CallbackManager | None = None,
    ) -> None:
        if mode not in ("recommend", "search"):
            raise ValueError(f"mode must be 'recommend' or 'search', not {mode!r}")
        self.client = client
        self.mode = mode
        self.k = k
        self.context = context or {}
        self.kinds = kinds
        super().__init__(callback_manager=callback_manager)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self._nodes(self._ask(query_bundle.query_str))

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        answer = self._ask(query_bundle.query_str)
        return self._nodes(await answer if inspect.isawaitable(answer) else answer)

    def _ask(self, query: str) -> Any:
        if self.mode == "search":
            return self.client.search(query, k=self.k, kinds=self.kinds)
        return self.client.recommend(query, context=self.context, k=self.k, kinds=self.kinds)

    def _nodes(self, answer: Any) -> list[NodeWithScore]:
        pairs = found(answer) if self.mode == "search" else recommended(answer)
        return [
            NodeWithScore(
                node=TextNode(
                    text=text,
                    id_=f"learnloop-{metadata['item_id']}-v{metadata['version']}",
                    metadata=metadata,
                    excluded_llm_metadata_keys=BOOKKEEPING,
                    excluded_embed_metadata_keys=BOOKKEEPING,
                ),
                score=metadata.get("confidence", metadata.get("score")),
            )
            for text, metadata in pairs
        ]


class LearnLoopCallbackHandler(BaseCallbackHandler):
    """Reports what the learnloop nodes of a query led to, through ``client`` (a
    ``learnloop.Client``).

    With ``report_used`` (the default), the nodes retrieved in a trace that synthesised an
    answer without an error are reported as used (``executed``); a retrieval alone, or a
    query that failed, reports nothing by itself. ``clicked``, ``succeeded``, ``failed`` and
    ``feedback`` report for the latest query's nodes, or for the nodes given.
    """

    def __init__(self, client: Any, *, report_used: bool = True) -> None:
        super().__init__(event_starts_to_ignore=[], event_ends_to_ignore=[])
        self.outcomes = Outcomes(client, "llama_index")
        self.report_used = report_used
        self._pending: list[Shown] = []
        self._answered = self._failed = False

    @property
    def documents(self) -> list[Shown]:
        """The learnloop items the latest finished query retrieved."""
        return list(self.outcomes.shown)

    def clicked(self, nodes: Sequence[NodeWithScore | BaseNode]) -> list[EventResult]:
        return self.outcomes.report("clicked", _shown(nodes))

    def used(self, nodes: Sequence[NodeWithScore | BaseNode] | None = None) -> list[EventResult]:
        return self.outcomes.report("used", _shown(nodes))

    def succeeded(
        self, nodes: Sequence[NodeWithScore | BaseNode] | None = None
    ) -> list[EventResult]:
        return self.outcomes.report("succeeded", _shown(nodes))

    def failed(self, nodes: Sequence[NodeWithScore | BaseNode] | None = None) -> list[EventResult]:
        return self.outcomes.report("failed", _shown(nodes))

    def feedback(self, kind: str, value: str | int, reason: str | None = None) -> list[Feedback]:
        """A rating (thumbs, stars, emoji, helpfulness) of the latest query's impressions."""
        return self.outcomes.feedback(kind, value, reason)

    def start_trace(self, trace_id: str | None = None) -> None:
        self._pending, self._answered, self._failed = [], False, False

    def end_trace(
        self, trace_id: str | None = None, trace_map: dict[str, list[str]] | None = None
    ) -> None:
        if not self._pending:
            return
        self.outcomes.remember(uuid.uuid4().hex, self._pending)
        self._pending = []
        if self._answered and not self._failed and self.report_used:
            self.outcomes.report("used")

    def on_event_start(
        self,
        event_type: CBEventType,
        payload: dict[str, Any] | None = None,
        event_id: str = "",
        parent_id: str = "",
        **kwargs: Any,
    ) -> str:
        if event_type == CBEventType.EXCEPTION:
            self._failed = True
        return event_id

    def on_event_end(
        self,
        event_type: CBEventType,
        payload: dict[str, Any] | None = None,
        event_id: str = "",
        **kwargs: Any,
    ) -> None:
        if event_type == CBEventType.RETRIEVE and payload:
            self._pending.extend(_shown(payload.get(EventPayload.NODES) or []) or [])
        elif event_type in ANSWERED:
            self._answered = True


def _shown(nodes: Sequence[NodeWithScore | BaseNode] | None) -> list[Shown] | None:
    if nodes is None:
        return None
    found = []
    for node in nodes:
        base = node.node if isinstance(node, NodeWithScore) else node
        shown = Shown.of(base.metadata)
        if shown is not None:
            found.append(shown)
    return found

"""learnloop for LangChain (langchain-core): a retriever and a callback handler.

``pip install 'learnloop[langchain]'``. The retriever recommends (or searches) through a
``learnloop.Client``; each document's metadata names its ``impression_id`` and ``item_id``.
The handler, passed in a run's callbacks, collects the learnloop documents the run's
retrievers returned; when the outermost run ends without error it reports them as used
(``executed`` events), and ``clicked``, ``succeeded``, ``failed`` and ``feedback`` report
what they led to afterwards.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.callbacks.manager import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from learnloop.events import EventResult, Feedback
from learnloop.integrations.outcomes import Mode, Outcomes, Shown, found, recommended

__all__ = ["LearnLoopCallbackHandler", "LearnLoopRetriever"]


class LearnLoopRetriever(BaseRetriever):
    """Documents recommended (``mode="recommend"``, logged as an impression) or found
    (``mode="search"``, no impression) by learnloop for the query.

    ``client`` is a ``learnloop.Client`` or ``learnloop.AsyncClient`` (awaited in
    ``ainvoke``); ``context`` goes with each recommendation (user, session, ...).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: Any
    mode: Mode = "recommend"
    k: int = Field(default=3, ge=1, le=100)
    context: dict[str, Any] = Field(default_factory=dict)
    kinds: list[str] | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return _documents(self, self._ask(query))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        answer = self._ask(query)
        return _documents(self, await answer if inspect.isawaitable(answer) else answer)

    def _ask(self, query: str) -> Any:
        if self.mode == "search":
            return self.client.search(query, k=self.k, kinds=self.kinds)
        return self.client.recommend(query, context=self.context, k=self.k, kinds=self.kinds)


def _documents(retriever: LearnLoopRetriever, answer: Any) -> list[Document]:
    pairs = found(answer) if retriever.mode == "search" else recommended(answer)
    return [Document(page_content=text, metadata=metadata) for text, metadata in pairs]


class LearnLoopCallbackHandler(BaseCallbackHandler):
    """Reports what the learnloop documents of a run led to, through ``client`` (a
    ``learnloop.Client``).

    With ``report_used`` (the default), the documents retrieved in a run that ends without
    error are reported as used (``executed``); a run that fails reports nothing by itself.
    ``clicked``, ``succeeded``, ``failed`` and ``feedback`` report for the latest run's
    documents, or for the documents given.
    """

    def __init__(self, client: Any, *, report_used: bool = True) -> None:
        self.outcomes = Outcomes(client, "langchain")
        self.report_used = report_used
        self._parents: dict[UUID, UUID | None] = {}
        self._pending: dict[UUID, list[Shown]] = {}

    @property
    def documents(self) -> list[Shown]:
        """The learnloop items the latest finished run retrieved."""
        return list(self.outcomes.shown)

    def clicked(self, documents: Sequence[Document]) -> list[EventResult]:
        return self.outcomes.report("clicked", _shown(documents))

    def used(self, documents: Sequence[Document] | None = None) -> list[EventResult]:
        return self.outcomes.report("used", _shown(documents))

    def succeeded(self, documents: Sequence[Document] | None = None) -> list[EventResult]:
        return self.outcomes.report("succeeded", _shown(documents))

    def failed(self, documents: Sequence[Document] | None = None) -> list[EventResult]:
        return self.outcomes.report("failed", _shown(documents))

    def feedback(self, kind: str, value: str | int, reason: str | None = None) -> list[Feedback]:
        """A rating (thumbs, stars, emoji, helpfulness) of the latest run's impressions."""
        return self.outcomes.feedback(kind, value, reason)

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        self._parents[run_id] = parent_run_id

    def on_retriever_start(
        self, serialized: Any, query: str, *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        self._parents[run_id] = parent_run_id

    def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        root = self._root(run_id)
        shown = _shown(documents) or []
        if root == run_id:  # the retriever alone: nothing used its documents yet
            self._parents.pop(run_id, None)
            self.outcomes.remember(str(run_id), shown)
        else:
            self._pending.setdefault(root, []).extend(shown)

    def on_chain_end(
        self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        if parent_run_id is None:
            self._finish(run_id, ok=True)

    def on_chain_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        if parent_run_id is None:
            self._finish(run_id, ok=False)

    def _root(self, run_id: UUID) -> UUID:
        seen = {run_id}
        while (parent := self._parents.get(run_id)) is not None and parent not in seen:
            seen.add(parent)
            run_id = parent
        return run_id

    def _finish(self, root: UUID, *, ok: bool) -> None:
        shown = self._pending.pop(root, [])
        self._parents = {r: p for r, p in self._parents.items() if self._root(r) != root}
        if not shown:
            return
        self.outcomes.remember(str(root), shown)
        if ok and self.report_used:
            self.outcomes.report("used")


def _shown(documents: Sequence[Document] | None) -> list[Shown] | None:
    if documents is None:
        return None
    return [s for d in documents if (s := Shown.of(d.metadata)) is not None]

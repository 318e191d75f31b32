"""LearnLoop: the database, the embedder and every domain service, wired together once."""

from __future__ import annotations

from types import TracebackType

from learnloop.analytics import Analytics
from learnloop.context import ContextService, Playbooks
from learnloop.db import Database
from learnloop.embedders import make_embedder
from learnloop.entities import Entities, load_ner
from learnloop.events import Conversations, Events, Feedbacks, Traces, Tracking
from learnloop.history import History
from learnloop.ingest import Accounts, Imports
from learnloop.knowledge import Items, Search
from learnloop.knowledge.indexing import Indexer
from learnloop.knowledge.space import ensure_space
from learnloop.learn import Learning
from learnloop.llm import make_chat_model, make_tokenizer
from learnloop.ports import Embedder
from learnloop.proposals import Proposals
from learnloop.recommend import Recommender
from learnloop.settings import Settings
from learnloop.tenants import ApiKeys, Tenants
from learnloop.tools import ToolSelector
from learnloop.vectors import make_tool_catalogue, make_vector_index


class LearnLoop:
    """Everything learnloop does, in-process.

    >>> with LearnLoop.open() as ll:                                      # doctest: +SKIP
    ...     item, _ = ll.items.put("default", {"kind": "faq", "title": "Reset a password"})
    ...     hits = ll.search.search("default", "forgot my password")
    """

    def __init__(
        self, settings: Settings, db: Database, embedder: Embedder, *, owns_embedder: bool = False
    ):
        self.settings = settings
        self.db = db
        self.embedder = embedder
        self._owns_embedder = owns_embedder
        self.tenants = Tenants(db)
        self.keys = ApiKeys(db, cache_seconds=settings.api_key_cache_seconds)
        self.items = Items(db, embedder, max_body_chars=settings.max_body_chars)
        self.vectors = make_vector_index(settings, db, embedder.dimension)
        self.search = Search(
            db, embedder, exact_below=settings.exact_search_below, index=self.vectors
        )
        self.indexer = Indexer(db, embedder, batch=settings.embed_batch, index=self.vectors)
        self.learning = Learning(db)
        self.recommender = Recommender(db, self.search, self.items)
        self.events = Events(db, retention_days=settings.event_retention_days)
        self.feedback = Feedbacks(db)
        self.tracking = Tracking(db)
        self.traces = Traces(db)
        self.entities = Entities(
            db,
            ner=load_ner(settings.ner),
            region=settings.phone_region.upper(),
            cutoff=settings.entity_fuzzy_cutoff,
        )
        self.conversations = Conversations(db, self.entities)
        self.proposals = Proposals(db, embedder, self.items)
        self.chat = make_chat_model(settings)
        self.tokenizer = make_tokenizer(settings)
        self.accounts = Accounts(db)
        self.context = ContextService(
            db,
            self.search,
            self.recommender,
            self.tracking,
            self.tokenizer,
            chat=self.chat,
            token_budget=settings.context_token_budget,
            trends=self.accounts.trend_lines,
        )
        self.tools = ToolSelector(
            db,
            self.search,
            chat=self.chat,
            items=self.items,
            catalogue=make_tool_catalogue(settings),
        )
        self.playbooks = Playbooks(db)
        self.analytics = Analytics(db, self.items)
        self.imports = Imports(db, self.items)
        self.history = History(db, self.items, retention_days=settings.event_retention_days)

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        *,
        check_space: bool = True,
    ) -> LearnLoop:
        """Start or join the database, migrate it, load the embedder, check they agree.

        ``check_space=False`` skips the check, for ``learnloop reembed`` alone.
        """
        settings = settings or Settings()
        db = Database.from_settings(settings)
        made: Embedder | None = None
        try:
            if embedder is None:
                embedder = made = make_embedder(settings)
            if check_space:
                ensure_space(db, embedder)
        except BaseException:
            try:
                if made is not None:
                    made.close()
            finally:
                db.close()
            raise
        return cls(settings, db, embedder, owns_embedder=made is not None)

    def close(self) -> None:
        """Close the pool, and the embedder too when ``open`` made it."""
        try:
            try:
                self.vectors.close()
            finally:
                self.db.close()
        finally:
            if self._owns_embedder:
                self.embedder.close()
            if self.chat is not None:
                self.chat.close()

    def __enter__(self) -> LearnLoop:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

"""Settings, read from the environment (LEARNLOOP_*, plus DATABASE_URL) or given directly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("learnloop"))


class Settings(BaseSettings):
    """Everything learnloop can be told. Every field has an environment variable.

    >>> Settings(data_dir=Path("/tmp/ll")).pgdata
    PosixPath('/tmp/ll/pgdata')
    """

    model_config = SettingsConfigDict(env_prefix="LEARNLOOP_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "LEARNLOOP_DATABASE_URL"),
        description="Any PostgreSQL 14+ with pgvector 0.7+; unset starts the embedded server.",
    )
    data_dir: Path = Field(default_factory=_default_data_dir)
    pool_min_size: int = 1
    pool_max_size: int = 10
    pool_timeout_seconds: float = Field(
        default=5.0, gt=0, description="How long a request waits for a database connection"
    )

    embedder: str = Field(
        default="local", description="'local' (sentence-transformers) or 'openai'"
    )
    local_model_path: str | None = Field(
        default=None,
        description="A sentence-transformers model folder; default: the packaged MiniLM",
    )
    embed_query_threads: int = Field(
        default=1,
        ge=1,
        le=256,
        description="torch threads for one question's embedding (search, recommend): one is "
        "fastest on a busy machine (bench/search_bench.py)",
    )
    embed_batch_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="torch threads for batch embedding (imports, the worker); default: every core",
    )
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "text-embedding-3-small"
    openai_api_key: str | None = None
    openai_dimensions: int | None = None

    api_key_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long another process may still accept a revoked key"
    )
    key_rate_per_second: float = Field(
        default=0.0,
        ge=0,
        le=1e6,
        description="Requests a second each API key may make on average (0: no limit); a key "
        "made with its own rate keeps it",
    )
    key_rate_burst: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description="Requests a key may make at once (0: one second's worth)",
    )
    beacon_events_per_second: float = Field(
        default=1.0, gt=0, le=1e6, description="Beacon events a second for one impression"
    )
    beacon_event_burst: int = Field(
        default=60, ge=1, le=1_000_000, description="Beacon events at once for one impression"
    )
    max_body_chars: int = 200_000
    max_request_bytes: int = 5 * 1024 * 1024
    request_body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A request body must arrive within this (else 408)"
    )
    request_header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A connection must send a request's head within this"
    )
    keep_alive_seconds: float = Field(
        default=5.0, gt=0, description="An idle keep-alive connection is closed after this"
    )
    hnsw_ef_search: int = 200  # with the index's m=24, ef_construction=400: recall@10 ~0.99
    hnsw_iterative_scan: Literal["relaxed_order", "strict_order", "off"] = "relaxed_order"
    exact_search_below: int = 20_000
    vector_store: Literal["pgvector", "qdrant"] = Field(
        default="pgvector",
        description="Where search reads its semantic candidates: 'pgvector' (the items' own "
        "column, one transaction with them) or 'qdrant' (synced by the worker; "
        "docs/vector-stores.md)",
    )
    qdrant_url: str | None = Field(
        default=None, description="A Qdrant server or cluster, e.g. http://qdrant:6333"
    )
    qdrant_path: str | None = Field(
        default=None,
        description="Qdrant's local mode in this folder (':memory:' for none), when no URL",
    )
    qdrant_api_key: str | None = None
    qdrant_collection: str = Field(
        default="learnloop_items", description="The Qdrant collection of this database's items"
    )
    chroma: str | None = Field(
        default=None,
        description="A Chroma tool catalogue for tool selection: a PersistentClient folder, "
        "or an http(s):// server URL",
    )
    chroma_collection: str = Field(
        default="{tenant}-tools",
        description="The Chroma collection of a tenant's tools; {tenant} is its id",
    )

    event_retention_days: int = Field(
        default=730, ge=1, description="Events older than this are refused and pruned"
    )

    tenant: str = Field(default="default", description="The tenant the CLI acts for")

    embed_batch: int = Field(
        default=64, ge=1, le=2048, description="Items the worker embeds per transaction"
    )
    worker_concurrency: int = Field(
        default=4, ge=1, le=64, description="Jobs a worker runs at once"
    )
    worker_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="How much `learnloop worker` lowers its own CPU priority (nice) at start, "
        "so the API's requests on the same cores go first; 0 leaves it",
    )
    worker_stalled_seconds: float = Field(
        default=30.0, gt=0, description="A worker silent this long is dead; its jobs run again"
    )

    llm_provider: Literal["none", "openai", "anthropic"] = Field(
        default="none", description="The chat model answers and tool picks use; 'none': no calls"
    )
    llm_model: str | None = Field(default=None, description="The model name the provider knows")
    llm_base_url: str | None = Field(default=None, description="default: the provider's own")
    llm_api_key: str | None = None
    llm_max_tokens: int = Field(default=1024, ge=1, le=100_000)
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    tokenizer_path: str | None = Field(
        default=None, description="A tokenizer.json counting context tokens; default: MiniLM's"
    )
    context_token_budget: int = Field(default=2000, ge=50, le=200_000)

    ner: str = Field(
        default="auto",
        description="The NER model for entities: auto (an installed spaCy "
        "pipeline, if any), off, spacy:NAME or gliner:PATH; nothing is downloaded",
    )
    phone_region: str = Field(
        default="US",
        min_length=2,
        max_length=2,
        description="The region phone numbers without a +country prefix are read in",
    )
    entity_fuzzy_cutoff: float = Field(
        default=90.0,
        ge=0,
        le=101,
        description="How close (0..100, rapidfuzz ratio) a "
        "misspelt name must be to a tenant's name to link to it; 101 turns fuzzy matching off",
    )

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

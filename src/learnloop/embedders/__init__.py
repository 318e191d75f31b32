"""Embedding adapters: the local sentence-transformers model, or an OpenAI-compatible service."""

from __future__ import annotations

from learnloop.embedders.local import LocalEmbedder
from learnloop.embedders.openai import OpenAIEmbedder
from learnloop.errors import ConfigurationError
from learnloop.ports import Embedder
from learnloop.settings import Settings

__all__ = ["LocalEmbedder", "OpenAIEmbedder", "make_embedder"]


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name."""
    if settings.embedder == "local":
        return LocalEmbedder(
            settings.local_model_path,
            query_threads=settings.embed_query_threads,
            batch_threads=settings.embed_batch_threads,
        )
    if settings.embedder == "openai":
        return OpenAIEmbedder(
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            api_key=settings.openai_api_key,
            dimensions=settings.openai_dimensions,
        )
    raise ConfigurationError(
        f"LEARNLOOP_EMBEDDER={settings.embedder!r} is not known; use 'local' or 'openai'"
    )

"""Adapters for language models (OpenAI, Anthropic SDKs) and for counting tokens.

The SDKs load only when a provider is configured: importing them costs seconds.
"""

from __future__ import annotations

from collections.abc import Callable

from learnloop.context.ports import ChatModel
from learnloop.errors import ConfigurationError
from learnloop.llm.tokenizer import FileTokenizer
from learnloop.settings import Settings

__all__ = ["FileTokenizer", "make_chat_model", "make_tokenizer"]


def make_chat_model(settings: Settings) -> ChatModel | None:
    """The chat model the settings name, or None when LEARNLOOP_LLM_PROVIDER is 'none'."""
    if settings.llm_provider == "none":
        return None
    if not settings.llm_model:
        raise ConfigurationError(
            f"LEARNLOOP_LLM_PROVIDER={settings.llm_provider} needs LEARNLOOP_LLM_MODEL, "
            "the model name to ask for"
        )
    return _chat_class(settings.llm_provider)(
        model=settings.llm_model,
        api_key=settings.llm_api_key,
        base_url=settings.llm_base_url,
        max_tokens=settings.llm_max_tokens,
        timeout=settings.llm_timeout_seconds,
    )


def _chat_class(provider: str) -> Callable[..., ChatModel]:
    if provider == "openai":
        from learnloop.llm.openai import OpenAIChat

        return OpenAIChat
    from learnloop.llm.anthropic import AnthropicChat

    return AnthropicChat


def make_tokenizer(settings: Settings) -> FileTokenizer:
    """The tokenizer that counts context budgets (LEARNLOOP_TOKENIZER_PATH, or MiniLM's)."""
    return FileTokenizer(settings.tokenizer_path)

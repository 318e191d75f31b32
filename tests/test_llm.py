"""The LLM adapters through the official SDKs, against local servers that speak each API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from learnloop.context import LLMError, Message
from learnloop.errors import ConfigurationError
from learnloop.llm import FileTokenizer, make_chat_model, make_tokenizer
from learnloop.llm.anthropic import AnthropicChat
from learnloop.llm.openai import OpenAIChat
from learnloop.settings import Settings

from .llm_servers import FakeLLM, RunningLLM

TURNS = [Message("user", "How do I reset my password?")]


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with RunningLLM("sk-local") as state:
        yield state


def test_openai_sends_the_system_prompt_as_the_first_message(llm: FakeLLM) -> None:
    llm.reply = "Use Settings > Security [item 1 v1]."
    chat = OpenAIChat(model="gpt-test", api_key="sk-local", base_url=llm.openai_base_url)
    try:
        answer = chat.complete("Answer from the context.", TURNS, max_tokens=50)
    finally:
        chat.close()
    body = llm.bodies("/v1/chat/completions")[-1]
    assert body["messages"][0] == {"role": "system", "content": "Answer from the context."}
    assert body["messages"][1] == {"role": "user", "content": TURNS[0].content}
    assert body["model"] == "gpt-test" and body["max_tokens"] == 50
    assert answer.text == "Use Settings > Security [item 1 v1]."
    assert (answer.provider, answer.model) == ("openai", "gpt-test")
    assert answer.output_tokens == 7 and answer.input_tokens


def test_anthropic_puts_the_system_prompt_in_the_system_parameter(llm: FakeLLM) -> None:
    llm.reply = "Reset it under Settings."
    chat = AnthropicChat(model="claude-test", api_key="sk-local", base_url=llm.anthropic_base_url)
    try:
        answer = chat.complete("Answer from the context.", TURNS)
    finally:
        chat.close()
    body = llm.bodies("/v1/messages")[-1]
    assert body["system"] == "Answer from the context."
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert body["max_tokens"] == 1024  # Anthropic requires it; the configured default
    assert (answer.text, answer.provider, answer.model) == (
        "Reset it under Settings.",
        "anthropic",
        "claude-test",
    )
    assert answer.output_tokens == 4


def test_the_local_anthropic_server_refuses_a_system_role_as_the_real_one_does(
    llm: FakeLLM,
) -> None:
    """The check above means something only if the server would refuse the mistake."""
    import anthropic

    client = anthropic.Anthropic(api_key="sk-local", base_url=llm.anthropic_base_url)
    try:
        with pytest.raises(anthropic.BadRequestError, match="system"):
            client.messages.create(
                model="claude-test",
                max_tokens=10,
                messages=[{"role": "system", "content": "x"}, {"role": "user", "content": "q"}],
            )
    finally:
        client.close()


@pytest.mark.parametrize(("kind", "name"), [(OpenAIChat, "OpenAI"), (AnthropicChat, "Anthropic")])
def test_a_wrong_key_is_an_llm_error_that_names_the_service(
    llm: FakeLLM, kind: type[OpenAIChat] | type[AnthropicChat], name: str
) -> None:
    base = llm.openai_base_url if kind is OpenAIChat else llm.anthropic_base_url
    chat = kind(model="m", api_key="sk-wrong", base_url=base, max_retries=0)
    try:
        with pytest.raises(LLMError, match=f"{name} service failed"):
            chat.complete("s", TURNS)
    finally:
        chat.close()


def test_an_unreachable_service_is_an_llm_error() -> None:
    chat = OpenAIChat(model="m", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    try:
        with pytest.raises(LLMError, match="OpenAI"):
            chat.complete("s", TURNS)
    finally:
        chat.close()


def test_settings_choose_the_adapter(llm: FakeLLM) -> None:
    assert make_chat_model(Settings(llm_provider="none")) is None
    with pytest.raises(ConfigurationError, match="LEARNLOOP_LLM_MODEL"):
        make_chat_model(Settings(llm_provider="openai"))
    for provider, kind in (("openai", OpenAIChat), ("anthropic", AnthropicChat)):
        chat = make_chat_model(Settings(llm_provider=provider, llm_model="m"))
        assert isinstance(chat, kind)
        chat.close()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_LLM_PROVIDER", "anthropic")
    monkeypatch.setenv("LEARNLOOP_LLM_MODEL", "claude-x")
    monkeypatch.setenv("LEARNLOOP_LLM_MAX_TOKENS", "77")
    settings = Settings()
    assert (settings.llm_provider, settings.llm_model, settings.llm_max_tokens) == (
        "anthropic",
        "claude-x",
        77,
    )


def test_the_tokenizer_counts_real_wordpiece_tokens() -> None:
    tokenizer = make_tokenizer(Settings())
    assert isinstance(tokenizer, FileTokenizer)
    # WordPiece splits unknown long words into pieces: more tokens than words.
    assert tokenizer.count("reset a password") == 3
    assert tokenizer.count("kubernetesapiserverlatency") > 1
    assert tokenizer.count("") == 0
    text = "The quick brown fox jumps over the lazy dog. " * 20
    cut = tokenizer.truncate(text, 17)
    assert tokenizer.count(cut) == 17 and text.startswith(cut)
    assert tokenizer.truncate("short", 10) == "short"


def test_a_missing_tokenizer_file_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="tokenizer"):
        FileTokenizer("/nonexistent/tokenizer.json")

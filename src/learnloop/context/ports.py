"""What the context, answers and tool selection need from outside: a tokenizer and a chat model.

The adapters in ``learnloop.llm`` implement both; the domain never imports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from learnloop.errors import LLMError

__all__ = ["LLMError"]  # defined with the other errors; imported from here by the adapters


class Tokenizer(Protocol):
    """Counts tokens the way one model's tokenizer does, and cuts text to a count."""

    name: str

    def count(self, text: str) -> int:
        """How many tokens ``text`` is, without special tokens."""
        ...

    def truncate(self, text: str, tokens: int) -> str:
        """The longest start of ``text`` that is at most ``tokens`` tokens."""
        ...


@dataclass(frozen=True)
class Message:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class Completion:
    """What a chat model answered, with its token usage where the service reports it."""

    text: str
    provider: str
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None


class ChatModel(Protocol):
    """A chat model behind an API: a system prompt and messages in, one answer out."""

    provider: str
    model: str

    def complete(
        self, system: str, messages: Sequence[Message], *, max_tokens: int | None = None
    ) -> Completion:
        """The model's answer; LLMError when the service fails or answers nothing."""
        ...

    def close(self) -> None: ...

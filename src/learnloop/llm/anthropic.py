"""Messages through the official Anthropic SDK.

Anthropic's API takes the system prompt as the top-level ``system`` parameter; a message
with role ``system`` is refused, so none is ever sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anthropic

from learnloop.context.ports import Completion, LLMError, Message


class AnthropicChat:
    """``POST {base_url}/v1/messages`` with ``system`` beside the user/assistant turns."""

    provider = "anthropic"

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        max_tokens: int = 1024,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self._client = anthropic.Anthropic(
            api_key=api_key or "unset",
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
        )

    def complete(
        self, system: str, messages: Sequence[Message], *, max_tokens: int | None = None
    ) -> Completion:
        turns: list[Any] = [{"role": m.role, "content": m.content} for m in messages]
        extra: dict[str, Any] = {"system": system} if system else {}
        try:
            answer = self._client.messages.create(
                model=self.model,
                max_tokens=max_tokens or self.max_tokens,
                messages=turns,
                **extra,
            )
        except anthropic.AnthropicError as exc:
            raise LLMError(f"the Anthropic service failed: {exc}") from exc
        text = "".join(
            block.text for block in answer.content if getattr(block, "type", "") == "text"
        )
        if not text:
            raise LLMError("the Anthropic service answered with no text")
        return Completion(
            text=text,
            provider=self.provider,
            model=answer.model or self.model,
            input_tokens=answer.usage.input_tokens,
            output_tokens=answer.usage.output_tokens,
        )

    def close(self) -> None:
        self._client.close()

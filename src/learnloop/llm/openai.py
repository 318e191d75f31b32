"""Chat completions through the official OpenAI SDK (any service that speaks that API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai

from learnloop.context.ports import Completion, LLMError, Message


class OpenAIChat:
    """``POST {base_url}/chat/completions``; the system prompt is the first message."""

    provider = "openai"

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
        self._client = openai.OpenAI(
            api_key=api_key or "unset",
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
        )

    def complete(
        self, system: str, messages: Sequence[Message], *, max_tokens: int | None = None
    ) -> Completion:
        chat: list[Any] = [{"role": "system", "content": system}] if system else []
        chat += [{"role": m.role, "content": m.content} for m in messages]
        try:
            answer = self._client.chat.completions.create(
                model=self.model, messages=chat, max_tokens=max_tokens or self.max_tokens
            )
        except openai.OpenAIError as exc:
            raise LLMError(f"the OpenAI service failed: {exc}") from exc
        if not answer.choices or not answer.choices[0].message.content:
            raise LLMError("the OpenAI service answered with no text")
        usage = answer.usage
        return Completion(
            text=answer.choices[0].message.content,
            provider=self.provider,
            model=answer.model or self.model,
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
        )

    def close(self) -> None:
        self._client.close()

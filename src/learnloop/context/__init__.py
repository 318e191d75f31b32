"""Context: a prompt-ready block of cited knowledge for an assistant's LLM, and answers."""

from learnloop.context.models import (
    AnswerRequest,
    AnswerResult,
    Citation,
    ContextBlock,
    ContextRequest,
    Part,
    PlaybookAdvice,
    PlaybookRequest,
    Response,
)
from learnloop.context.playbooks import Playbooks
from learnloop.context.ports import ChatModel, Completion, LLMError, Message, Tokenizer
from learnloop.context.service import ContextService

__all__ = [
    "AnswerRequest",
    "AnswerResult",
    "ChatModel",
    "Citation",
    "Completion",
    "ContextBlock",
    "ContextRequest",
    "ContextService",
    "LLMError",
    "Message",
    "Part",
    "PlaybookAdvice",
    "PlaybookRequest",
    "Playbooks",
    "Response",
    "Tokenizer",
]

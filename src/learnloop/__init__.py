"""learnloop: the continuous-learning layer for AI assistants and agents.

>>> import learnloop
>>> sorted(learnloop.__all__)[:3]
['ApiKey', 'AsyncClient', 'AuthError']
"""

from learnloop.client import AsyncClient, Client
from learnloop.context import LLMError
from learnloop.errors import (
    AuthError,
    ConfigurationError,
    Conflict,
    DatabaseError,
    EmbedderError,
    EmbeddingMismatchError,
    Forbidden,
    InvalidInput,
    LearnLoopError,
    NotFound,
    RateLimited,
    VectorStoreError,
)
from learnloop.knowledge import Item, ItemIn, ItemPatch, ItemVersion, SearchHit
from learnloop.service import LearnLoop
from learnloop.settings import Settings
from learnloop.tenants import ApiKey, NewApiKey, Tenant

__version__ = "0.1.0"

__all__ = [
    "ApiKey",
    "AsyncClient",
    "AuthError",
    "Client",
    "ConfigurationError",
    "Conflict",
    "DatabaseError",
    "EmbedderError",
    "EmbeddingMismatchError",
    "Forbidden",
    "InvalidInput",
    "Item",
    "ItemIn",
    "ItemPatch",
    "ItemVersion",
    "LLMError",
    "LearnLoop",
    "LearnLoopError",
    "NewApiKey",
    "NotFound",
    "RateLimited",
    "SearchHit",
    "Settings",
    "Tenant",
    "VectorStoreError",
]

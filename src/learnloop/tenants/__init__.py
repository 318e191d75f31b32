"""Tenants and their API keys."""

from learnloop.tenants.scopes import SCOPES, KeyGrant, RateLimit, Scope
from learnloop.tenants.service import ApiKey, ApiKeys, NewApiKey, Tenant, Tenants

__all__ = [
    "SCOPES",
    "ApiKey",
    "ApiKeys",
    "KeyGrant",
    "NewApiKey",
    "RateLimit",
    "Scope",
    "Tenant",
    "Tenants",
]

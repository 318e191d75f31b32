"""Tenants and their API keys."""

from learnloop.tenants.service import ApiKey, ApiKeys, NewApiKey, Tenant, Tenants

__all__ = ["ApiKey", "ApiKeys", "NewApiKey", "Tenant", "Tenants"]

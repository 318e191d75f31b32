"""API keys of the caller's tenant, and health."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from learnloop.api.deps import LL, TenantId
from learnloop.tenants import ApiKey, NewApiKey, Tenant
from learnloop.validation import Input

router = APIRouter(tags=["admin"])


class KeyRequest(Input):
    model_config = ConfigDict(strict=True)
    name: str = Field(default="", max_length=200)


class Health(BaseModel):
    status: str
    embedder: str
    dimension: int


@router.get("/health", response_model=Health)
def health(ll: LL) -> Health:
    """Is the service up and its database reachable (no key needed)."""
    with ll.db.connection() as conn:
        conn.execute("SELECT 1")
    return Health(status="ok", embedder=ll.embedder.name, dimension=ll.embedder.dimension)


@router.get("/v1/tenant", response_model=Tenant)
def whoami(ll: LL, tenant: TenantId) -> Tenant:
    """The tenant the key belongs to."""
    return ll.tenants.get(tenant)


@router.get("/v1/keys", response_model=list[ApiKey])
def list_keys(ll: LL, tenant: TenantId) -> list[ApiKey]:
    return ll.keys.list(tenant)


@router.post("/v1/keys", response_model=NewApiKey, status_code=201)
def create_key(body: KeyRequest, ll: LL, tenant: TenantId) -> NewApiKey:
    """A new key for this tenant; the key is shown in this answer only."""
    return ll.keys.create(tenant, body.name)


@router.delete("/v1/keys/{key_id}", response_model=ApiKey)
def revoke_key(key_id: str, ll: LL, tenant: TenantId) -> ApiKey:
    """Revoke a key at once; requests with it fail from now on."""
    return ll.keys.revoke(tenant, key_id)

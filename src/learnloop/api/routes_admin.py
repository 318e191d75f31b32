"""API keys of the caller's tenant, and health."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from learnloop.api.deps import LL, TenantId
from learnloop.errors import DatabaseError
from learnloop.tenants import ApiKey, NewApiKey, Tenant
from learnloop.validation import Input

router = APIRouter(tags=["admin"])


class KeyRequest(Input):
    model_config = ConfigDict(strict=True)
    name: str = Field(default="", max_length=200)


class Health(BaseModel):
    status: Literal["ok", "down"] = Field(description="'down' while the database is")
    database: Literal["ok", "down"] = Field(description="whether a query just answered")
    embedder: str
    dimension: int


class HealthDown(Health):
    """503: the database cannot be reached; ``error`` says why (as every error does)."""

    error: dict[str, str]


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": HealthDown, "description": "the database is down"}},
)
def health(ll: LL) -> Any:
    """Is the service up and its database reachable (no key needed): 200 with status 'ok',
    or 503 with status 'down' while the database is (it recovers by itself)."""
    try:
        with ll.db.connection() as conn:
            conn.execute("SELECT 1")
    except DatabaseError as exc:
        down = HealthDown(
            status="down",
            database="down",
            embedder=ll.embedder.name,
            dimension=ll.embedder.dimension,
            error={"code": exc.code, "message": exc.message},
        )
        return JSONResponse(down.model_dump(), status_code=503)
    return Health(
        status="ok", database="ok", embedder=ll.embedder.name, dimension=ll.embedder.dimension
    )


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

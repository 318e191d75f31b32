"""API keys of the caller's tenant, and health."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from learnloop.api.deps import LL, AdminTenant, Grant, ReadTenant
from learnloop.errors import DatabaseError
from learnloop.tenants import ApiKey, NewApiKey, RateLimit, Scope, Tenant
from learnloop.tenants.scopes import check_rate
from learnloop.validation import Input

router = APIRouter(tags=["admin"])


def _given(field: str, kind: str) -> dict[str, Any]:
    return {"required": [field], "properties": {field: {"type": kind}}}


class KeyRequest(Input):
    model_config = ConfigDict(strict=True)
    json_schema_rules: ClassVar[dict[str, Any]] = {  # both rates, or neither
        "anyOf": [
            {"allOf": [_given("rate_per_second", "number"), _given("rate_burst", "integer")]},
            {
                "not": {
                    "anyOf": [_given("rate_per_second", "number"), _given("rate_burst", "integer")]
                }
            },
        ]
    }
    name: str = Field(default="", max_length=200)
    scopes: list[Scope] = Field(
        default=["admin"],
        min_length=1,
        max_length=4,
        description="What the key may do: read, write, admin, beacon (default: admin)",
    )
    rate_per_second: float | None = Field(
        default=None,
        gt=0,
        le=1e6,
        description="The key's own rate limit, with rate_burst (default: the server's)",
    )
    rate_burst: int | None = Field(default=None, ge=1, le=1_000_000)

    def rate(self) -> RateLimit | None:
        return check_rate(self.rate_per_second, self.rate_burst)


class CurrentKey(BaseModel):
    """The key a request was sent with: its tenant, and every scope it has (those it was
    made with, and those they imply)."""

    tenant_id: str
    key_id: str
    scopes: list[str]


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
def whoami(ll: LL, tenant: ReadTenant) -> Tenant:
    """The tenant the key belongs to."""
    return ll.tenants.get(tenant)


@router.get("/v1/keys/current", response_model=CurrentKey)
def current_key(grant: Grant) -> CurrentKey:
    """What the key sent with this request may do (any key may ask)."""
    scopes = sorted(grant.scopes)
    return CurrentKey(tenant_id=grant.tenant_id, key_id=grant.key_id, scopes=scopes)


@router.get("/v1/keys", response_model=list[ApiKey])
def list_keys(ll: LL, tenant: AdminTenant) -> list[ApiKey]:
    return ll.keys.list(tenant)


@router.post("/v1/keys", response_model=NewApiKey, status_code=201)
def create_key(body: KeyRequest, ll: LL, tenant: AdminTenant) -> NewApiKey:
    """A new key for this tenant, with the scopes given; the key is shown in this answer
    only."""
    return ll.keys.create(tenant, body.name, body.scopes, body.rate())


@router.delete("/v1/keys/{key_id}", response_model=ApiKey)
def revoke_key(key_id: str, ll: LL, tenant: AdminTenant) -> ApiKey:
    """Revoke a key at once; requests with it fail from now on."""
    return ll.keys.revoke(tenant, key_id)

"""What every route needs: the LearnLoop instance and the caller's tenant, for the scope
the route needs of its key.

Both are ``async``, so FastAPI runs them on the event loop instead of handing each to the
thread pool (a thread switch apiece, a fifth of a small request's time). A key that
authenticated recently is answered from ``ApiKeys``' cache without a database round trip.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from learnloop.api.ratelimit import Limits
from learnloop.errors import AuthError, Forbidden, InvalidInput
from learnloop.service import LearnLoop
from learnloop.tenants import KeyGrant, Scope
from learnloop.validation import refuse_nul


async def get_ll(request: Request) -> LearnLoop:
    ll: LearnLoop = request.app.state.ll
    return ll


async def refuse_nul_parameters(request: Request) -> None:
    """Path and query parameters reach SQL as text, which cannot hold U+0000: a 422 that
    names the parameter (request bodies are checked by their models)."""
    given = [*request.path_params.items(), *request.query_params.multi_items()]
    for name, value in given:
        try:
            refuse_nul(value, str(name))
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc


async def get_grant(
    request: Request,
    ll: Annotated[LearnLoop, Depends(get_ll)],
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> KeyGrant:
    """What the API key in 'Authorization: Bearer ...' or 'X-API-Key' may do, once its
    rate limit let the request through (429 otherwise)."""
    key = api_key(authorization, x_api_key)
    grant = ll.keys.cached(key)
    if grant is None:
        grant = await run_in_threadpool(ll.keys.grant, key)
    limits: Limits = request.app.state.limits
    limits.throttle_key(grant)
    return grant


def api_key(authorization: str | None, x_api_key: str | None) -> str:
    """The API key a request sent; AuthError when it sent none, or a malformed one."""
    key = x_api_key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError("use 'Authorization: Bearer <API key>'")
        key = value.strip()
    if not key:
        raise AuthError()
    return key


class RequireScope:
    """A dependency: the caller's tenant, if its key has ``scope`` (403 otherwise)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, grant: Annotated[KeyGrant, Depends(get_grant)]) -> str:
        return self.tenant_of(grant)

    def tenant_of(self, grant: KeyGrant) -> str:
        """The grant's tenant, if it has the scope; Forbidden otherwise."""
        if not grant.allows(self.scope):
            raise Forbidden(
                f"this API key may not do this: it needs the {self.scope!r} scope and has "
                f"{', '.join(sorted(grant.scopes))}; use a key made with that scope"
            )
        return grant.tenant_id


LL = Annotated[LearnLoop, Depends(get_ll)]
Grant = Annotated[KeyGrant, Depends(get_grant)]
# The caller's tenant, for a route that needs that scope of its key: every route with a key
# names one of these, so what each key may do is read off the route's signature.
ReadTenant = Annotated[str, Depends(RequireScope("read"))]
WRITE = RequireScope("write")
WriteTenant = Annotated[str, Depends(WRITE)]
AdminTenant = Annotated[str, Depends(RequireScope("admin"))]
BeaconTenant = Annotated[str, Depends(RequireScope("beacon"))]

"""What every route needs: the LearnLoop instance and the caller's tenant.

Both are ``async``, so FastAPI runs them on the event loop instead of handing each to the
thread pool (a thread switch apiece, a fifth of a small request's time). A key that
authenticated recently is answered from ``ApiKeys``' cache without a database round trip.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from learnloop.errors import AuthError, InvalidInput
from learnloop.service import LearnLoop
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


async def get_tenant(
    ll: Annotated[LearnLoop, Depends(get_ll)],
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> str:
    """The tenant of the API key in 'Authorization: Bearer ...' or 'X-API-Key'."""
    key = x_api_key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError("use 'Authorization: Bearer <API key>'")
        key = value.strip()
    if not key:
        raise AuthError()
    tenant = ll.keys.cached_tenant(key)
    if tenant is None:
        tenant = str(await run_in_threadpool(ll.keys.authenticate, key))
    return tenant


LL = Annotated[LearnLoop, Depends(get_ll)]
TenantId = Annotated[str, Depends(get_tenant)]

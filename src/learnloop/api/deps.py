"""What every route needs: the LearnLoop instance and the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from learnloop.errors import AuthError
from learnloop.service import LearnLoop


def get_ll(request: Request) -> LearnLoop:
    ll: LearnLoop = request.app.state.ll
    return ll


def get_tenant(
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
    return ll.keys.authenticate(key)


LL = Annotated[LearnLoop, Depends(get_ll)]
TenantId = Annotated[str, Depends(get_tenant)]

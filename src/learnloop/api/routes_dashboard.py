"""The dashboard at /dashboard: static files from the package; its data comes from the API."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse

from learnloop.dashboard import ASSETS, asset
from learnloop.errors import NotFound

router = APIRouter(tags=["dashboard"], include_in_schema=False)
# The security headers (CSP, X-Frame-Options, nosniff, ...) come from api.security.
HEADERS = {"Cache-Control": "no-cache"}


@router.get("/dashboard")
def dashboard_root() -> RedirectResponse:
    return RedirectResponse("/dashboard/")


@router.get("/dashboard/")
def dashboard() -> Response:
    """The dashboard page (sign in with an API key)."""
    return _asset("index.html")


@router.get("/dashboard/{name}")
def dashboard_asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound(f"no dashboard file {name!r}")
    return _asset(name)


def _asset(name: str) -> Response:
    text, media_type = asset(name)
    return Response(text, media_type=media_type, headers=HEADERS)

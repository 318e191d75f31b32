"""The interactive API docs at /docs, served offline: Swagger UI's script and stylesheet come
from this server, not from a CDN.

The files are those the fastapi-offline package ships (Swagger UI 5, Apache-2.0, from the
swagger-ui-dist release that package names); nothing of that package runs but the reading
of its files. The page has its own Content-Security-Policy: the dashboard's, plus the hash of
the one inline script FastAPI's page starts Swagger UI with.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html

from learnloop.api.security import PAGE_POLICY
from learnloop.errors import NotFound

router = APIRouter(tags=["docs"], include_in_schema=False)
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@cache
def docs_asset(name: str) -> bytes:
    """The bytes of a Swagger UI file; KeyError for a name not in ``DOCS_ASSETS``."""
    if name not in DOCS_ASSETS:
        raise KeyError(name)
    return resources.files("fastapi_offline").joinpath(f"static/{name}").read_bytes()


def docs_policy(html: str) -> str:
    """The page policy, with script-src also allowing the inline scripts in ``html`` by hash."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in INLINE_SCRIPT.findall(html)
    ]
    return PAGE_POLICY.replace("script-src 'self'", " ".join(["script-src 'self'", *hashes]))


@router.get("/docs")
def docs(request: Request) -> Response:
    """Swagger UI for /openapi.json."""
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - API docs",
        swagger_js_url=f"{root}/docs/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/docs/swagger-ui.css",
        swagger_favicon_url=f"{root}/docs/favicon.png",
        # No badge from the online validator: it would send the schema to another host.
        swagger_ui_parameters={"validatorUrl": None},
    )
    html = bytes(page.body).decode()
    headers = {"Content-Security-Policy": docs_policy(html), "Cache-Control": "no-cache"}
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)


@router.get("/docs/{name}")
def docs_file(name: str) -> Response:
    if name not in DOCS_ASSETS:
        raise NotFound(f"no docs file {name!r}")
    headers = {"Cache-Control": "public, max-age=3600"}
    return Response(docs_asset(name), media_type=DOCS_ASSETS[name], headers=headers)

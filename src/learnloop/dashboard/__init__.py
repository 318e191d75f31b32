"""The dashboard: a static page, script and stylesheet shipped in the package (no CDN).

The page asks for an API key, keeps it in the tab's sessionStorage, and reads the
analytics and proposals APIs with it; its charts are SVG drawn by its own script.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}


@cache
def asset(name: str) -> tuple[str, str]:
    """The text of a dashboard asset and its media type; KeyError for any other name."""
    media_type = ASSETS[name]
    text = resources.files("learnloop.dashboard").joinpath(f"static/{name}").read_text("utf-8")
    return text, media_type


__all__ = ["ASSETS", "asset"]

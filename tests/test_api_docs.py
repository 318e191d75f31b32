"""The API docs at /docs work offline: Swagger UI's files come from this server, the page
names no other host, and in a real browser (headless Debian Chromium) it renders the schema
and runs a request under its Content-Security-Policy without a refusal."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from .conftest import CHROMEDRIVER, CHROMIUM

needs_browser = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)) and not os.environ.get("CI"),
    reason="needs Debian's chromium and chromium-driver; CI installs them",
)
KINDS = {"script": "text/javascript", "stylesheet": "text/css", "icon": "image/png"}


def _references(html: str) -> dict[str, str]:
    """What the page loads: {url: kind} for its scripts, stylesheets and icons."""
    found = {src: "script" for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)}
    for tag in re.findall(r"<link\b[^>]*>", html):
        href = re.search(r'\bhref="([^"]+)"', tag)
        assert href, tag
        found[href.group(1)] = "stylesheet" if "stylesheet" in tag else "icon"
    return found


def test_docs_page_loads_only_from_this_server(app_client: TestClient) -> None:
    page = app_client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle(" in page.text
    hosts = {urlsplit(url).netloc for url in re.findall(r"https?://[^\s\"'<>)]+", page.text)}
    assert hosts <= {"testserver"}, hosts
    references = _references(page.text)
    assert sorted(references.values()) == ["icon", "script", "stylesheet"]
    for url, kind in references.items():
        served = app_client.get(url)
        assert served.status_code == 200, url
        assert served.headers["content-type"].startswith(KINDS[kind]), (url, served.headers)
        assert len(served.content) > (1000 if kind == "icon" else 100_000), url
    assert "url: '/openapi.json'" in page.text
    assert app_client.get("/openapi.json").json()["info"]["title"] == "learnloop"


def test_docs_page_policy_allows_its_one_inline_script_and_nothing_else(
    app_client: TestClient,
) -> None:
    page = app_client.get("/docs")
    policy = page.headers["content-security-policy"]
    assert "unsafe" not in policy and "frame-ancestors 'none'" in policy
    (inline,) = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in policy
    assert page.headers["x-frame-options"] == "DENY"


def test_only_the_docs_files_are_served_and_redoc_is_off(app_client: TestClient) -> None:
    assert app_client.get("/docs/redoc.standalone.js").status_code == 404
    assert app_client.get("/docs/..%2Fcore.py").status_code == 404
    assert app_client.get("/redoc").status_code == 404
    assert app_client.get("/docs/oauth2-redirect").status_code == 404


def _wait(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if found := check():
                return found
        except Exception:  # the page is still changing under the query
            pass
        time.sleep(0.1)
    raise AssertionError("timed out")


@needs_browser
def test_docs_render_and_run_a_request_in_a_browser(server_url: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{server_url}/docs")
    title = _wait(lambda: browser.find_element(By.CSS_SELECTOR, ".info .title"))
    assert title.text.startswith("learnloop")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) > 20

    health = '.opblock-get[id$="_health_get"]'
    browser.find_element(By.CSS_SELECTOR, f"{health} .opblock-summary").click()
    _wait(lambda: browser.find_element(By.CSS_SELECTOR, f"{health} .try-out__btn")).click()
    _wait(lambda: browser.find_element(By.CSS_SELECTOR, f"{health} .execute")).click()
    status = f"{health} .live-responses-table tbody .response-col_status"
    _wait(lambda: browser.find_element(By.CSS_SELECTOR, status).text.strip() == "200")

    console = browser.get_log("browser")
    refused = [e["message"] for e in console if "Security Policy" in e["message"]]
    assert not refused, refused
    errors = [e["message"] for e in console if e["level"] == "SEVERE"]
    assert not errors, errors

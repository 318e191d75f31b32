"""The chat-widget snippet in a real browser: headless Debian Chromium driven by Selenium.

A page on another origin includes /v1/widget.js and shows a recommended link carrying its
impression id; the test checks that 'viewed' and, after a real click that leaves the page,
'clicked' arrive in the event log.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from learnloop import LearnLoop

from .conftest import CHROMEDRIVER, CHROMIUM

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)) and not os.environ.get("CI"):
    pytest.skip(
        "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver);"
        " CI installs them",
        allow_module_level=True,
    )


@pytest.fixture
def page_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static site on its own loopback port: another origin than the API."""
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def events_of(ll: LearnLoop, tenant: str, impression_id: Any, type: str) -> list[dict[str, Any]]:
    with ll.db.connection() as conn:
        return conn.execute(
            "SELECT type, item_id, rank, impression_seen, metadata, page_context, referrer"
            " FROM events"
            " WHERE tenant_id = %s AND impression_id = %s AND type = %s",
            (tenant, impression_id, type),
        ).fetchall()


def wait_for(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_widget_reports_view_and_click_from_another_origin(
    ll: LearnLoop,
    tenant: str,
    server_url: str,
    page_server: tuple[str, Path],
    browser: webdriver.Chrome,
) -> None:
    item, _ = ll.items.put(
        tenant,
        {
            "kind": "faq",
            "title": "Reset your password",
            "body": "Settings > Security > Reset password.",
        },
    )
    answer = ll.recommender.recommend(tenant, {"query": "how do I reset my password"})
    shown = answer.recommendations[0]
    assert shown.item.item_id == item.item_id
    site, root = page_server
    (root / "next.html").write_text("<p>the article</p>")
    (root / "chat.html").write_text(
        "<title>Help chat</title>"
        f'<script src="{server_url}/v1/widget.js" data-referrer="ai_chat" defer></script>'
        f'<a id="answer" href="/next.html" data-learnloop-impression="{answer.impression_id}"'
        f' data-learnloop-item="{item.item_id}" data-learnloop-rank="{shown.rank}">'
        "Reset your password</a>"
    )
    browser.get(f"{site}/chat.html")
    viewed = wait_for(lambda: events_of(ll, tenant, answer.impression_id, "viewed"))
    assert [(e["item_id"], e["rank"], e["impression_seen"]) for e in viewed] == [
        (item.item_id, 1, True)
    ]
    browser.find_element(By.ID, "answer").click()
    clicked = wait_for(lambda: events_of(ll, tenant, answer.impression_id, "clicked"))
    assert [(e["item_id"], e["rank"], e["metadata"]["page"]) for e in clicked] == [
        (item.item_id, 1, "/chat.html")
    ]
    # the page and where the person came from, as the widget read them from the page
    assert [(e["page_context"], e["referrer"]) for e in viewed + clicked] == [
        ({"path": "/chat.html", "title": "Help chat"}, "ai_chat")
    ] * 2
    assert browser.current_url.endswith("/next.html")


def test_beacon_refuses_what_is_not_a_known_impression(
    server_url: str, ll: LearnLoop, tenant: str
) -> None:
    ll.items.put(tenant, {"kind": "faq", "title": "Invoices", "body": "Billing > Invoices."})
    answer = ll.recommender.recommend(tenant, {"query": "where are my invoices"})
    item_id = answer.recommendations[0].item.item_id
    events = [
        {"type": "clicked", "impression_id": str(answer.impression_id), "item_id": item_id},
        {"type": "succeeded", "impression_id": str(answer.impression_id), "item_id": item_id},
        {"type": "clicked", "impression_id": "not-a-uuid", "item_id": item_id},
        {"type": "clicked", "impression_id": "018f2b6e-0000-7000-8000-000000000000"},
    ]
    response = httpx.post(
        f"{server_url}/v1/beacon",
        content=json.dumps({"events": events}),
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 202
    result = response.json()
    assert (result["stored"], result["refused"]) == (1, 3)
    assert [e["index"] for e in result["errors"]] == [1, 2, 3]
    assert "type must be one of clicked, viewed" in result["errors"][0]["error"]
    assert result["errors"][1]["error"] == "unknown impression not-a-uuid"
    assert response.headers["access-control-allow-origin"] == "*"
    bad = httpx.post(f"{server_url}/v1/beacon", content=b"{nope")
    assert bad.status_code == 422 and "not valid JSON" in bad.json()["error"]["message"]
    script = httpx.get(f"{server_url}/v1/widget.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "sendBeacon" in script.text

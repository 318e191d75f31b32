"""The dashboard in a real browser (headless Debian Chromium, Selenium) against the real API:
sign in with an API key, see charts drawn from real data, and review the learning queue."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient

from learnloop import LearnLoop
from learnloop.dashboard import ASSETS, asset

from .conftest import CHROMEDRIVER, CHROMIUM

HAVE_BROWSER = os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)
needs_browser = pytest.mark.skipif(
    not HAVE_BROWSER and not os.environ.get("CI"),
    reason="needs Debian's chromium and chromium-driver; CI installs them",
)
T = TypeVar("T")


def test_page_and_assets_are_served_from_the_package(app_client: TestClient) -> None:
    page = app_client.get("/dashboard/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/dashboard/app.js">' in page.text
    for name, media_type in ASSETS.items():
        served = app_client.get(f"/dashboard/{name}")
        assert served.status_code == 200 and served.text == asset(name)[0]
        assert served.headers["content-type"] == media_type
        # offline: nothing is fetched from another origin
        assert not re.search(r"(src|href)=\"https?://|url\(https?:|import .+https?://", served.text)
    assert app_client.get("/dashboard/secrets.txt").status_code == 404
    assert app_client.get("/dashboard", follow_redirects=False).status_code == 307


def test_pages_carry_security_headers(app_client: TestClient) -> None:
    """A policy with no inline script and no framing on the page; the widget keeps CORS."""
    for path in ("/dashboard/", "/dashboard/app.js", "/v1/analytics/metrics"):
        headers = app_client.get(path).headers
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        directives = (d.partition(" ") for d in headers["content-security-policy"].split("; "))
        policy = {name: value for name, _, value in directives}
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'"
        assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
        assert "unsafe" not in headers["content-security-policy"]
    widget = app_client.get("/v1/widget.js")
    assert widget.headers["access-control-allow-origin"] == "*"
    assert widget.headers["x-content-type-options"] == "nosniff"


def test_an_unexpected_error_carries_them_too(ll: LearnLoop) -> None:
    """Starlette answers an unhandled error outside the middleware; its 500 has them too."""
    from learnloop.api import create_app

    app = create_app(ll)

    def broken() -> None:
        raise RuntimeError("a route that fails")

    app.add_api_route("/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/broken")
    assert answer.status_code == 500 and answer.json()["error"]["code"] == "internal_error"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def _click(browser: Any, selector: str) -> bool:
    """Find and click in one try: the queue re-renders after each decision, so an element
    found before may be gone (stale) by the time it is clicked; ``_wait`` tries again."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, selector).click()
    return True


def _wait(
    check: Callable[[], T | None], timeout: float = 20.0, explain: Callable[[], str] = str
) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except Exception:  # the page is still changing under the query
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out: {explain()}")


def _fill(ll: LearnLoop, tenant: str) -> int:
    """Real activity: recommendations with events, tool runs, a report; the impressions."""
    ll.items.put_many(tenant, [
        {"kind": "faq", "external_id": "pw", "title": "Reset a password",
         "body": "Settings > Security > Reset password"},
        {"kind": "faq", "external_id": "inv", "title": "Download an invoice",
         "body": "Billing > Invoices"},
    ])  # fmt: skip
    ll.recommender.set_threshold(tenant, 0.0)
    for n in range(6):
        answer = ll.recommender.recommend(tenant, {"query": "I forgot my password"})
        top = answer.recommendations[0]
        events: list[dict[str, Any]] = [
            {
                "type": "viewed",
                "impression_id": answer.impression_id,
                "referrer": "ai_chat" if n < 4 else "search",
            }
        ]
        if n % 2 == 0:
            events.append({"type": "clicked", "impression_id": answer.impression_id,
                           "item_id": top.item.item_id})  # fmt: skip
        ll.events.record(tenant, events)
    for n in range(4):
        ll.tracking.execution(tenant, {
            "goal": "restart", "success": n > 0, "duration_ms": 200.0,
            "tool_calls": [{"tool": "restart_service", "success": n > 0, "duration_ms": 150.0}],
        })  # fmt: skip
    ll.tracking.report(tenant, {"account": "acme", "playbook": "onboarding",
                                "status": "completed", "steps_total": 2})  # fmt: skip
    ll.conversations.transcript(tenant, {"text": "Please mail the invoice to ana@acme.example."})
    return 6


def _switched(ll: LearnLoop, tenant: str) -> None:
    """An automatic switch in the tenant's audit log, written as a check writes one."""
    from learnloop.learn import autoswitch

    estimate = {"value": 0.5, "low": 0.4, "high": 0.6, "clamped": False}
    evidence = {
        "offline": {
            "impressions": 150,
            "estimates": {"dr": estimate},
            "difference": {"value": 0.2, "low": 0.1, "high": 0.3, "clamped": False},
            "support": 0.99,
            "effective_sample_size": 120.0,
        },
        "live_before": {"value": 0.3, "low": 0.25, "high": 0.35, "impressions": 150},
    }
    decision = autoswitch.Decision("similarity", "switch", "memory", "test", evidence)
    with ll.db.transaction() as conn:
        assert autoswitch.apply(conn, tenant, decision) is not None
    ll.learning.configure(tenant, {"policy": "similarity"})  # back to the baseline


@needs_browser
def test_sign_in_see_real_charts_and_review_the_queue(
    ll: LearnLoop, tenant: str, server_url: str, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    impressions = _fill(ll, tenant)
    keep = ll.proposals.add(tenant, {"title": "Invoice address", "body": "Billing > Details",
                                     "rationale": "asked twice"})  # fmt: skip
    drop = ll.proposals.add(tenant, {"title": "Old answer", "body": "Call us"})
    key = ll.keys.create(tenant, "dashboard").key
    _switched(ll, tenant)

    browser.get(f"{server_url}/dashboard/")
    browser.find_element(By.ID, "key").send_keys("ll_wrong_key_000000000000000000000")
    browser.find_element(By.ID, "signin-button").click()
    _wait(lambda: "refused" in browser.find_element(By.ID, "signin-error").text)
    browser.find_element(By.ID, "key").clear()
    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.ID, "signin-button").click()

    tile = '[data-kpi="impressions"] .v'
    _wait(
        lambda: browser.find_element(By.CSS_SELECTOR, tile).text == str(impressions),
        explain=lambda: browser.find_element(By.TAG_NAME, "body").text[:2000],
    )
    dots = browser.find_elements(By.CSS_SELECTOR, '#chart-volume circle[data-series="impressions"]')
    assert sum(float(d.get_attribute("data-value") or 0) for d in dots) == impressions
    assert int(browser.find_element(By.ID, "chart-rates").get_attribute("data-points") or 0) > 0
    clicked = browser.find_element(By.CSS_SELECTOR, '#funnel [data-step="clicked"]')
    assert clicked.get_attribute("data-value") == "3"
    # 3 of 6 shown: the bar is half as wide as the shown one (its width is a style the
    # script sets, which the page's CSP refuses where it is set as an inline style).
    shown = browser.find_element(By.CSS_SELECTOR, '#funnel [data-step="shown"] .bar')
    half = clicked.find_element(By.CSS_SELECTOR, ".bar").size["width"] / shown.size["width"]
    assert 0.45 < half < 0.55, half
    referrers = browser.find_element(By.ID, "referrers").text.splitlines()[1:]
    assert [row.split()[:4] for row in referrers] == [
        ["ai_chat", "4", "4", "(100.0%)"],
        ["search", "2", "2", "(100.0%)"],
    ], referrers
    assert "restart_service" in browser.find_element(By.ID, "tools").text
    assert "75.0%" in browser.find_element(By.ID, "tools").text
    assert "onboarding" in browser.find_element(By.ID, "playbooks").text
    rows = browser.find_element(By.ID, "policies").text.splitlines()[1:]
    assert [row.split()[1] for row in rows] == [str(impressions)]  # one policy, every impression
    assert "Reset a password" in browser.find_element(By.ID, "items-top").text
    entities = browser.find_element(By.ID, "entities").text
    assert "ana@acme.example email" in entities, entities
    switches = browser.find_element(By.ID, "switches").text
    assert "switch" in switches and "similarity → memory" in switches, switches
    assert "difference 0.200 [0.100, 0.300]" in switches and "ESS 120" in switches

    card = f'[data-proposal="{keep.proposal_id}"]'
    _wait(lambda: browser.find_element(By.CSS_SELECTOR, card))
    body = browser.find_element(By.CSS_SELECTOR, f"{card} textarea")
    body.clear()
    body.send_keys("Billing > Details > Address")
    browser.find_element(By.CSS_SELECTOR, f'{card} [data-action="save"]').click()
    _wait(lambda: ll.proposals.get(tenant, keep.proposal_id).body == "Billing > Details > Address")
    _wait(lambda: _click(browser, f'{card} [data-action="approve"]'))
    _wait(lambda: ll.proposals.get(tenant, keep.proposal_id).status in ("approved", "applied"))
    drop_card = f'[data-proposal="{drop.proposal_id}"]'
    _wait(lambda: _click(browser, f'{drop_card} [data-action="reject"]'))
    _wait(lambda: ll.proposals.get(tenant, drop.proposal_id).status == "rejected")
    _wait(lambda: not browser.find_elements(By.CSS_SELECTOR, f"{card}, {drop_card}"))
    console = [entry["message"] for entry in browser.get_log("browser")]
    refused = [message for message in console if "Security Policy" in message]
    assert not refused, refused


def test_dashboard_reads_only_its_own_tenant(server_url: str, ll: LearnLoop, tenant: str) -> None:
    key = ll.keys.create(tenant, "dashboard").key
    answer = httpx.get(
        f"{server_url}/v1/analytics/metrics", headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 200 and answer.json()["totals"]["counts"]["impressions"] == 0


@needs_browser
def test_a_read_only_key_sees_the_queue_but_cannot_review_it(
    ll: LearnLoop, tenant: str, server_url: str, browser: Any
) -> None:
    """The demo's link signs in with a read key: the board loads, the review buttons are
    disabled and say why."""
    from selenium.webdriver.common.by import By

    waiting = ll.proposals.add(tenant, {"title": "Invoice address", "body": "Billing"})
    key = ll.keys.create(tenant, "dashboard", ["read"]).key
    browser.get(f"{server_url}/dashboard/#key={key}")
    card = f'[data-proposal="{waiting.proposal_id}"]'
    _wait(lambda: browser.find_element(By.CSS_SELECTOR, card))
    buttons = browser.find_elements(By.CSS_SELECTOR, f"{card} [data-action]")
    assert len(buttons) == 3 and not any(b.is_enabled() for b in buttons)
    note = browser.find_element(By.CSS_SELECTOR, "#review [data-read-only]").text
    assert "read-only" in note and "write scope" in note
    assert ll.proposals.get(tenant, waiting.proposal_id).status == "pending"

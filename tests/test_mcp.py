"""`learnloop mcp` driven by the mcp client library: the server runs as a real subprocess (over
stdio, and over streamable HTTP) and calls the real API (uvicorn in a thread, embedded
PostgreSQL); what it logs is read back from the store.

A start of the server costs seconds (it imports the client and the mcp library), so the
module starts few: one stdio server for the agent's test and one for the docs' example, and
one streamable-HTTP server shared by the tests that act with keys of their own (over HTTP
each request carries its own key). The unreachable API is served in-process.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent, TextResourceContents

from learnloop import LearnLoop
from learnloop.mcp import build_server

T = TypeVar("T")
TOOLS = {"recommend", "search", "context", "record_outcome", "select_tool"}
DOCS = Path(__file__).resolve().parents[1] / "docs" / "mcp.md"


def _env(url: str, key: str | None) -> dict[str, str]:
    """This process's environment (its PYTHONPATH too) with the server's address and key."""
    env = {k: v for k, v in os.environ.items() if k != "LEARNLOOP_API_KEY"}
    return env | {"LEARNLOOP_URL": url} | ({"LEARNLOOP_API_KEY": key} if key else {})


def over_stdio(
    url: str, key: str, session_does: Callable[[ClientSession], Awaitable[T]], errlog: Path
) -> T:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "learnloop", "mcp"], env=_env(url, key)
    )

    async def main() -> T:
        with errlog.open("w") as err:
            async with stdio_client(params, errlog=err) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await session_does(session)

    return asyncio.run(main())


def over_http_does(
    mcp_url: str, key: str, session_does: Callable[[ClientSession], Awaitable[T]]
) -> T:
    """``session_does`` in a session of the shared streamable-HTTP server, with ``key``."""

    async def main() -> T:
        async with over_http(mcp_url, key) as session:
            return await session_does(session)

    return asyncio.run(main())


def text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


async def ok(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    assert json.loads(text(result)) == result.structured_content  # the same, as text
    return result.structured_content


async def refused(session: ClientSession | Client, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error, result
    return text(result)


async def read_json(session: ClientSession, uri: str) -> Any:
    contents = (await session.read_resource(uri)).contents
    assert isinstance(contents[0], TextResourceContents)
    return json.loads(contents[0].text)


def rows(ll: LearnLoop, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with ll.db.connection() as conn:
        return list(conn.execute(sql, params).fetchall())


def knowledge(ll: LearnLoop, tenant: str) -> dict[str, int]:
    """A runbook, an FAQ and two tools; their ids by name."""
    items = {
        "disk": {"kind": "runbook", "title": "Disk almost full", "body": "Delete old logs."},
        "password": {"kind": "faq", "title": "Reset a password", "body": "Settings > Security."},
        "restart": {"kind": "tool", "title": "restart_service", "body": "Restart a service.",
                    "attrs": {"name": "restart_service"}},
        "invoice": {"kind": "tool", "title": "send_invoice", "body": "Email an invoice.",
                    "attrs": {"name": "send_invoice"}},
    }  # fmt: skip
    return {name: ll.items.put(tenant, body)[0].item_id for name, body in items.items()}


def test_an_agent_over_stdio_is_logged_like_any_client(
    server_url: str, ll: LearnLoop, tenant: str, tmp_path: Path
) -> None:
    ids = knowledge(ll, tenant)
    key = ll.keys.create(tenant, "agent", scopes=("write",)).key

    async def agent(session: ClientSession) -> dict[str, Any]:
        listed = await session.list_tools()
        assert {t.name for t in listed.tools} == TOOLS
        answer = await ok(
            session, "recommend", query="my disk is almost full", context={"user": "ana"}
        )
        top = answer["recommendations"][0]
        assert top["item_id"] == ids["disk"] and top["uri"] == f"learnloop://items/{ids['disk']}"
        impression = answer["impression_id"]
        clicked = await ok(
            session, "record_outcome", impression_id=impression, kind="event",
            event="clicked", item_id=ids["disk"],
        )  # fmt: skip
        rated = await ok(
            session, "record_outcome", impression_id=impression, kind="feedback",
            rating="thumbs", value="up",
        )  # fmt: skip
        fixed = await ok(
            session, "record_outcome", impression_id=impression, kind="correction",
            original_response="Delete old logs", corrected_answer="Rotate the logs first",
            priority="high",
        )  # fmt: skip
        hits = await ok(session, "search", query="reset my password", k=2)
        block = await ok(session, "context", query="the disk is full", k=1)
        chosen = await ok(session, "select_tool", goal="restart the nginx service")
        item = await read_json(session, f"learnloop://items/{ids['password']}")
        listing = await read_json(session, "learnloop://items")
        return {
            "impression": impression, "clicked": clicked, "rated": rated, "fixed": fixed,
            "hits": hits, "block": block, "chosen": chosen, "item": item, "listing": listing,
        }  # fmt: skip

    got = over_stdio(server_url, key, agent, tmp_path / "mcp.log")
    impression = UUID(got["impression"])
    logged = ll.recommender.impression(tenant, impression)
    assert logged.query == "my disk is almost full" and logged.context["user"] == "ana"
    events = rows(
        ll,
        "SELECT tenant_id, type, item_id FROM events WHERE impression_id = %(i)s",
        {"i": impression},
    )
    assert events == [{"tenant_id": tenant, "type": "clicked", "item_id": ids["disk"]}]
    assert got["clicked"]["status"] == "stored" and got["clicked"]["recorded"] == "event"
    feedback = rows(
        ll, "SELECT kind, value FROM feedback WHERE tenant_id = %(t)s AND impression_id = %(i)s",
        {"t": tenant, "i": impression},
    )  # fmt: skip
    assert feedback == [{"kind": "thumbs", "value": "up"}]
    assert not got["rated"]["negative"]
    corrections = rows(
        ll, "SELECT corrected_answer, priority FROM corrections WHERE correction_id = %(c)s",
        {"c": got["fixed"]["correction_id"]},
    )  # fmt: skip
    assert corrections == [{"corrected_answer": "Rotate the logs first", "priority": "high"}]
    assert got["hits"]["hits"][0]["item_id"] == ids["password"]
    assert "Disk almost full" in got["block"]["text"]
    assert ll.recommender.impression(tenant, UUID(got["block"]["impression_id"])).query
    assert got["chosen"]["chosen"]["tool"] == "restart_service"
    assert (got["item"]["title"], got["item"]["body"]) == (
        "Reset a password",
        "Settings > Security.",
    )
    assert {i["item_id"] for i in got["listing"]["items"]} == set(ids.values())


def test_bad_input_comes_back_as_tool_errors_naming_the_field(
    mcp_url: str, ll: LearnLoop, tenant: str
) -> None:
    ids = knowledge(ll, tenant)
    key = ll.keys.create(tenant, "agent", scopes=("write",)).key
    shown = ll.recommender.recommend(tenant, {"query": "a password reset", "k": 1})

    async def agent(session: ClientSession) -> dict[str, Any]:
        impression = str(shown.impression_id)
        said = {
            "no event": await refused(
                session, "record_outcome", impression_id=impression, kind="event"
            ),
            "no value": await refused(
                session, "record_outcome", impression_id=impression, kind="feedback", rating="stars"
            ),
            "bad kind": await refused(
                session, "record_outcome", impression_id=impression, kind="vote"
            ),
            "bad k": await refused(session, "recommend", query="disk", k=0),
            "empty query": await refused(session, "search", query=""),
            "not shown": await refused(
                session, "record_outcome", impression_id=impression, kind="event",
                event="clicked", item_id=ids["invoice"],
            ),
            "bad impression": await refused(
                session, "record_outcome", impression_id="nope", kind="event", event="viewed"
            ),
        }  # fmt: skip
        with pytest.raises(MCPError, match="no item"):
            await session.read_resource("learnloop://items/999999999")
        with pytest.raises(MCPError, match="whole number"):
            await session.read_resource("learnloop://items/abc")
        # the server is still there, and still answers
        said["after"] = (await ok(session, "search", query="password"))["hits"][0]["title"]
        return said

    said = over_http_does(mcp_url, key, agent)
    assert "InvalidInput: event: kind 'event' needs event (viewed, clicked," in said["no event"]
    assert "InvalidInput: value: kind 'feedback' needs value (up or down" in said["no value"]
    assert "kind" in said["bad kind"] and "'event', 'feedback' or 'correction'" in said["bad kind"]
    assert re.search(r"InvalidInput: .*\bk\b", said["bad k"]), said["bad k"]
    assert re.search(r"InvalidInput: .*\bquery\b", said["empty query"]), said["empty query"]
    assert "was not shown" in said["not shown"]
    assert "impression_id" in said["bad impression"]
    assert said["after"] == "Reset a password"
    stored = rows(ll, "SELECT count(*) AS n FROM events WHERE tenant_id = %(t)s", {"t": tenant})
    assert stored == [{"n": 0}]


def test_a_read_key_searches_but_cannot_record_outcomes(
    mcp_url: str, ll: LearnLoop, tenant: str
) -> None:
    ids = knowledge(ll, tenant)
    shown = ll.recommender.recommend(tenant, {"query": "my disk is almost full", "k": 1})
    key = ll.keys.create(tenant, "reader", scopes=("read",)).key

    async def reader(session: ClientSession) -> dict[str, Any]:
        return {
            "hits": await ok(session, "search", query="disk full"),
            "event": await refused(
                session, "record_outcome", impression_id=str(shown.impression_id),
                kind="event", event="clicked", item_id=ids["disk"],
            ),
            "recommend": await refused(session, "recommend", query="disk full"),
        }  # fmt: skip

    got = over_http_does(mcp_url, key, reader)
    assert got["hits"]["hits"][0]["item_id"] == ids["disk"]
    for refusal in (got["event"], got["recommend"]):
        assert "Forbidden: " in refusal and "needs the 'write' scope" in refusal
    sql = "SELECT count(*) AS n FROM events WHERE impression_id = %(i)s"
    assert rows(ll, sql, {"i": shown.impression_id}) == [{"n": 0}]
    impressions = rows(
        ll, "SELECT count(*) AS n FROM impressions WHERE tenant_id = %(t)s", {"t": tenant}
    )
    assert impressions == [{"n": 1}]  # the one made above; the read key's recommend logged none


def test_an_api_that_cannot_be_reached_is_a_tool_error() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def agent() -> tuple[str, str]:  # the server in-process: its transport is not at issue
        async with Client(build_server(closed, "ll_some_key")) as client:
            first = await refused(client, "recommend", query="disk full")
            return first, await refused(client, "search", query="disk full")

    first, second = asyncio.run(agent())
    assert f"cannot reach learnloop at {closed}" in first and "cannot reach" in second


@asynccontextmanager
async def over_http(url: str, key: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


@pytest.fixture(scope="module")
def mcp_url(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One `learnloop mcp --transport http` for the module, calling the suite's API with no
    key of its own: each request acts with the key it carries."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log_path = tmp_path_factory.mktemp("mcp") / "mcp.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "learnloop", "mcp", "--transport", "http", "--port", str(port)],
            env=_env(server_url, None), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_for_port(port, proc, log_path)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:  # it holds nothing to save: a graceful stop only waits for idle connections
            proc.kill()
            proc.wait(timeout=10)


def test_over_streamable_http_each_request_acts_with_its_own_key(
    mcp_url: str, ll: LearnLoop, tenant: str
) -> None:
    other = ll.tenants.create(f"{tenant}-b").tenant_id
    ours, theirs = knowledge(ll, tenant), knowledge(ll, other)
    key, other_key = (ll.keys.create(t, "agent", scopes=("write",)).key for t in (tenant, other))

    async def agents() -> dict[str, Any]:
        async with over_http(mcp_url, key) as session:
            answer = await ok(session, "recommend", query="my disk is almost full")
            recorded = await ok(
                session, "record_outcome", impression_id=answer["impression_id"],
                kind="event", event="clicked", item_id=answer["recommendations"][0]["item_id"],
            )  # fmt: skip
        async with over_http(mcp_url, other_key) as session:
            theirs_listed = await read_json(session, "learnloop://items")
            with pytest.raises(MCPError, match="no item"):  # our item, from their key
                await session.read_resource(f"learnloop://items/{ours['disk']}")
        async with over_http(mcp_url, None) as session:
            keyless = await refused(session, "search", query="disk")
        return {"answer": answer, "recorded": recorded, "theirs": theirs_listed, "keyless": keyless}

    got = asyncio.run(agents())
    impression = UUID(got["answer"]["impression_id"])
    assert ll.recommender.impression(tenant, impression).query == "my disk is almost full"
    sql = "SELECT tenant_id, type FROM events WHERE impression_id = %(i)s"
    assert rows(ll, sql, {"i": impression}) == [{"tenant_id": tenant, "type": "clicked"}]
    assert got["recorded"]["status"] == "stored"
    assert {i["item_id"] for i in got["theirs"]["items"]} == set(theirs.values())
    assert "no API key" in got["keyless"]


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"learnloop mcp did not listen on {port}: {log.read_text()}")


def test_the_example_in_docs_mcp_md_runs(
    server_url: str,
    ll: LearnLoop,
    tenant: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)[-1]
    monkeypatch.setenv("LEARNLOOP_URL", server_url)
    monkeypatch.setenv("LEARNLOOP_API_KEY", ll.keys.create(tenant, "agent", scopes=("write",)).key)
    exec(example, {"__name__": "__main__"})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == sorted(TOOLS)
    assert printed[1].startswith("Opening hours ")
    assert printed[-1] == "stored"
    assert rows(ll, "SELECT type FROM events WHERE tenant_id = %(t)s", {"t": tenant}) == [
        {"type": "clicked"}
    ]

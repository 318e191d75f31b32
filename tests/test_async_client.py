"""AsyncClient against the real server (uvicorn in a thread, embedded PostgreSQL): the same
answers and errors as Client, and the same methods with the same signatures."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from learnloop import AsyncClient, AuthError, Client, InvalidInput, LearnLoop, NotFound

T = TypeVar("T")


def run(with_client: Callable[[AsyncClient], Awaitable[T]], url: str, key: str) -> T:
    async def main() -> T:
        async with AsyncClient(url, api_key=key) as client:
            return await with_client(client)

    return asyncio.run(main())


def test_every_client_method_has_an_async_counterpart_with_the_same_signature() -> None:
    public = [n for n in dir(Client) if not n.startswith("_") and n not in {"local", "execution"}]
    for name in public:
        assert (
            inspect.signature(getattr(AsyncClient, name)).parameters
            == inspect.signature(getattr(Client, name)).parameters
        ), name
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name


def test_recommend_event_feedback_search_over_http(
    server_url: str, ll: LearnLoop, tenant: str
) -> None:
    async def flow(client: AsyncClient) -> None:
        item, outcome = await client.put_item(
            "runbook", "TLS certificate close to expiry", body="Rotate it.", external_id="rb"
        )
        assert outcome == "created"
        hits = await client.search("certificate expiry")
        assert [h.item.item_id for h in hits] == [item.item_id]
        answer = await client.recommend("the certificate expires next week")
        assert [r.item.item_id for r in answer.recommendations] == [item.item_id]
        stored = await client.event("clicked", answer.impression_id, item_id=item.item_id)
        assert stored.status == "stored"
        with pytest.raises(InvalidInput, match="was not shown"):
            await client.event("clicked", answer.impression_id, item_id=item.item_id + 1000)
        rating = await client.feedback("thumbs", "down", impression_id=answer.impression_id)
        assert rating.negative
        done = await client.messages("c/1", [{"role": "user", "content": "hello"}])
        assert done.conversation_id == "c/1"

    run(flow, server_url, ll.keys.create(tenant).key)


def test_errors_map_to_the_library_errors(server_url: str, ll: LearnLoop, tenant: str) -> None:
    async def search(client: AsyncClient) -> Any:
        return await client.search("anything")

    with pytest.raises(AuthError):
        run(search, server_url, "ll_nope_nope")

    async def rate(client: AsyncClient) -> Any:
        return await client.feedback(
            "stars", 5, impression_id="00000000-0000-0000-0000-000000000000"
        )

    with pytest.raises(NotFound, match="no impression"):
        run(rate, server_url, ll.keys.create(tenant).key)


def test_the_in_process_async_client_gives_the_same_answers(ll: LearnLoop, tenant: str) -> None:
    async def main() -> None:
        async with AsyncClient.local(ll, tenant) as client:
            await client.put_item("faq", "Opening hours", body="9 to 5", external_id="f1")
            reports = await client.reports(account="nobody")
            assert reports == []
            hits = await client.search("opening hours")
            assert hits[0].item.title == "Opening hours"

    asyncio.run(main())


def test_the_example_in_docs_clients_md_runs(
    server_url: str, ll: LearnLoop, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (Path(__file__).parent.parent / "docs" / "clients.md").read_text()
    example = re.findall(r"```python\n(.*?)```", text, re.DOTALL)[-1]
    exec(example, {"URL": server_url, "API_KEY": ll.keys.create(tenant).key})
    printed = capsys.readouterr().out
    assert "refused:" in printed and "was not shown" in printed
    assert printed.splitlines()[-1].startswith("Opening hours 1 ")

"""The LangChain and LlamaIndex integrations, with the real langchain-core and
llama-index-core objects (their own offline fake and mock models, no remote model) and the
real server (uvicorn in a thread, embedded PostgreSQL)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine

from learnloop import AsyncClient, Client, LearnLoop
from learnloop.integrations import langchain as lc
from learnloop.integrations import llama_index as li

DOCS = Path(__file__).parent.parent / "docs" / "integrations.md"


@pytest.fixture
def client(server_url: str, ll: LearnLoop, tenant: str) -> Iterator[Client]:
    """A client of the tenant, which holds two FAQ items and shows any confidence."""
    ll.recommender.set_threshold(tenant, 0.0)
    key = ll.keys.create(tenant, "app", ["write"]).key
    with Client(server_url, api_key=key, timeout=120) as c:  # a busy machine embeds slowly
        c.put_item("faq", "Reset a password", body="Settings > Security > Reset password")
        c.put_item("faq", "Change the invoice address", body="Billing > Details")
        yield c


def events(ll: LearnLoop, tenant: str) -> list[tuple[str, str, int]]:
    with ll.db.connection() as conn:
        rows = conn.execute(
            "SELECT type, impression_id::text AS imp, item_id FROM events WHERE tenant_id = %s"
            " ORDER BY event_id",
            (tenant,),
        ).fetchall()
    return [(r["type"], r["imp"], r["item_id"]) for r in rows]


def feedback(ll: LearnLoop, tenant: str) -> list[tuple[str, str, str]]:
    with ll.db.connection() as conn:
        rows = conn.execute(
            "SELECT kind, value, impression_id::text AS imp FROM feedback WHERE tenant_id = %s",
            (tenant,),
        ).fetchall()
    return [(r["kind"], r["value"], r["imp"]) for r in rows]


def rag_chain(retriever: Any, answer: str) -> Any:
    prompt = PromptTemplate.from_template("Answer from:\n{context}\n\nQuestion: {question}")
    join = RunnableLambda(lambda docs: "\n\n".join(d.page_content for d in docs))
    return (
        {"context": retriever | join, "question": RunnablePassthrough()}
        | prompt
        | FakeListLLM(responses=[answer])
        | StrOutputParser()
    )


def test_langchain_retriever_and_handler_report_what_the_documents_led_to(
    client: Client, ll: LearnLoop, tenant: str
) -> None:
    retriever = lc.LearnLoopRetriever(client=client, k=2, context={"user": "ana"})
    handler = lc.LearnLoopCallbackHandler(client)
    chain = rag_chain(retriever, "Open Settings > Security.")
    assert chain.invoke("I forgot my password", config={"callbacks": [handler]}) == (
        "Open Settings > Security."
    )
    shown = handler.documents
    assert shown and len({s.impression_id for s in shown}) == 1
    impression = ll.recommender.impression(tenant, shown[0].impression_id)
    assert impression.query == "I forgot my password"
    assert [(s.item_id, s.rank) for s in shown] == [
        (c.item_id, c.rank) for c in impression.candidates if c.shown
    ]
    used = [("executed", s.impression_id, s.item_id) for s in shown]
    assert events(ll, tenant) == used  # the run ended well: its documents were used

    top = retriever.invoke("I forgot my password")[0]  # a retrieval alone reports nothing
    assert top.metadata["source"] == "learnloop" and top.metadata["title"] == "Reset a password"
    assert events(ll, tenant) == used
    handler.clicked([top])
    assert events(ll, tenant)[-1] == ("clicked", top.metadata["impression_id"],
                                      top.metadata["item_id"])  # fmt: skip
    handler.succeeded()
    handler.succeeded()  # the same report again is stored once
    handler.feedback("thumbs", "up", reason="solved")
    stored = events(ll, tenant)
    assert stored[len(shown) + 1 :] == [("succeeded", s.impression_id, s.item_id) for s in shown]
    assert len(stored) == 2 * len(shown) + 1
    assert feedback(ll, tenant) == [("thumbs", "up", shown[0].impression_id)]


def test_langchain_a_failed_run_reports_nothing_and_search_names_no_impression(
    client: Client, ll: LearnLoop, tenant: str
) -> None:
    def broken(_: Any) -> str:
        raise RuntimeError("the model is down")

    handler = lc.LearnLoopCallbackHandler(client)
    chain = lc.LearnLoopRetriever(client=client) | RunnableLambda(broken)
    with pytest.raises(RuntimeError, match="the model is down"):
        chain.invoke("I forgot my password", config={"callbacks": [handler]})
    assert events(ll, tenant) == [] and len(handler.documents) >= 1
    handler.failed()
    assert {e[0] for e in events(ll, tenant)} == {"failed"}

    hits = lc.LearnLoopRetriever(client=client, mode="search", k=1).invoke("invoice address")
    assert hits[0].metadata["title"] == "Change the invoice address"
    assert "impression_id" not in hits[0].metadata


def test_langchain_retriever_awaits_the_async_client(
    client: Client, server_url: str, ll: LearnLoop, tenant: str
) -> None:
    async def main() -> Any:
        key = ll.keys.create(tenant, "async", ["write"]).key
        async with AsyncClient(server_url, api_key=key) as async_client:
            retriever = lc.LearnLoopRetriever(client=async_client, k=1)
            return await retriever.ainvoke("I forgot my password")

    (doc,) = asyncio.run(main())
    assert doc.metadata["title"] == "Reset a password" and doc.metadata["impression_id"]


def test_llama_index_retriever_and_handler_in_a_query_engine(
    client: Client, ll: LearnLoop, tenant: str
) -> None:
    handler = li.LearnLoopCallbackHandler(client)
    callbacks = CallbackManager([handler])
    retriever = li.LearnLoopRetriever(client, k=2, callback_manager=callbacks)
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM(), callback_manager=callbacks)
    response = engine.query("I forgot my password")
    sources = response.source_nodes
    assert sources[0].node.metadata["title"] == "Reset a password"
    impression = sources[0].node.metadata["impression_id"]
    logged = [c for c in ll.recommender.impression(tenant, impression).candidates if c.shown]
    assert [(n.node.metadata["item_id"], n.score) for n in sources] == [
        (c.item_id, c.confidence) for c in logged
    ]
    assert "impression_id" not in sources[0].node.get_content(metadata_mode="llm")  # type: ignore[arg-type]
    shown = [(s.impression_id, s.item_id) for s in handler.documents]
    assert shown == [(impression, n.node.metadata["item_id"]) for n in sources]
    assert events(ll, tenant) == [("executed", i, item) for i, item in shown]

    retriever.retrieve("where do I change the invoice address")  # alone: reports nothing
    assert len(events(ll, tenant)) == len(shown)
    latest = retriever.retrieve("invoice address")
    handler.clicked(latest[:1])
    handler.failed()
    handler.feedback("stars", 2)
    kinds = [e[0] for e in events(ll, tenant)]
    assert kinds == ["executed"] * len(shown) + ["clicked"] + ["failed"] * len(latest)
    assert [f[:2] for f in feedback(ll, tenant)] == [("stars", "2")]


def test_llama_index_search_mode_and_async_retrieval(
    client: Client, server_url: str, ll: LearnLoop, tenant: str
) -> None:
    (hit,) = li.LearnLoopRetriever(client, mode="search", k=1).retrieve("invoice address")
    assert hit.node.metadata["title"] == "Change the invoice address"
    assert "impression_id" not in hit.node.metadata

    async def main() -> Any:
        key = ll.keys.create(tenant, "async", ["write"]).key
        async with AsyncClient(server_url, api_key=key) as async_client:
            return await li.LearnLoopRetriever(async_client, k=1).aretrieve("forgot my password")

    (node,) = asyncio.run(main())
    assert node.node.metadata["title"] == "Reset a password"
    with pytest.raises(ValueError, match="mode must be"):
        li.LearnLoopRetriever(client, mode="browse")  # type: ignore[arg-type]


@pytest.mark.parametrize("section", ["LangChain", "LlamaIndex"])
def test_the_examples_in_docs_integrations_md_run(
    section: str, server_url: str, ll: LearnLoop, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    part = DOCS.read_text().split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    example = re.findall(r"```python\n(.*?)```", part, re.DOTALL)[0]
    ll.recommender.set_threshold(tenant, 0.0)
    exec(example, {"URL": server_url, "API_KEY": ll.keys.create(tenant, "docs", ["write"]).key})
    assert capsys.readouterr().out.splitlines()[-1] == "Opening hours"
    kinds = sorted({e[0] for e in events(ll, tenant)})
    assert kinds == ["executed", "succeeded"]
    assert [f[:2] for f in feedback(ll, tenant)] == [("thumbs", "up")]

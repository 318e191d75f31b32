"""Tool catalogues in Chroma (a real embedded PersistentClient, and a real Chroma server
started with chromadb's own `chroma run`): tool selection reads them beside the tenant's
tool items, and `learnloop tools import-chroma` imports them as items. Chroma is given
MiniLM's vectors explicitly; its own embedding function never runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chromadb
import httpx
import numpy as np
import pytest
from chromadb.config import Settings as ChromaSettings
from typer.testing import CliRunner

from learnloop import EmbeddingMismatchError, LearnLoop
from learnloop.cli.main import app
from learnloop.settings import Settings
from learnloop.tools import ToolSelector
from learnloop.vectors import make_tool_catalogue
from learnloop.vectors.chroma import ChromaCatalogue, chroma_client

from .conftest import free_port

TOOLS = {
    "send_email": "Send an email message to a customer or a colleague",
    "weather": "Look up the weather forecast for a city",
    "create_ticket": "Open a support ticket in the helpdesk",
    "refund": "Refund a customer's payment",
}


@pytest.fixture(scope="module")
def chroma_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chroma")


@pytest.fixture(scope="module")
def client(chroma_path: Path) -> Any:
    return chromadb.PersistentClient(
        path=str(chroma_path), settings=ChromaSettings(anonymized_telemetry=False)
    )


def add_tools(ll: LearnLoop, client: Any, name: str, tools: dict[str, str]) -> Any:
    collection = client.create_collection(
        name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )
    collection.add(
        ids=[f"tool-{n}" for n in tools],
        documents=list(tools.values()),
        metadatas=[{"name": n, "owner": "platform"} for n in tools],
        embeddings=ll.embedder.embed(list(tools.values())),
    )
    return collection


def test_selection_reads_the_tenants_chroma_collection(
    ll: LearnLoop, tenant: str, client: Any
) -> None:
    ll.items.put(tenant, {"kind": "tool", "title": "restart_service",
                          "body": "Restart a service on a server"})  # fmt: skip
    add_tools(ll, client, f"{tenant}-tools", TOOLS)
    selector = ToolSelector(ll.db, ll.search, items=ll.items, catalogue=ChromaCatalogue(client))
    goal = "email the customer about their invoice"
    chosen = selector.select(tenant, {"query": goal, "use_llm": False})
    assert chosen.chosen is not None and chosen.chosen.tool == "send_email"
    assert {c.tool for c in chosen.search} == {*TOOLS, "restart_service"}
    # Chroma's cosine distance read back as the similarity learnloop computes itself
    query = ll.embedder.embed_query(goal)
    own = float(ll.embedder.embed([TOOLS["send_email"]])[0] @ query)
    assert chosen.chosen.similarity == pytest.approx(own, abs=1e-4)
    items = {i.external_id: i for i in ll.items.list(tenant, kinds=["tool"], limit=50)[0]}
    assert items["tool-send_email"].attrs["chroma"]["collection"] == f"{tenant}-tools"
    again = selector.select(tenant, {"query": goal, "use_llm": False})
    assert again.chosen is not None and again.chosen.item_id == chosen.chosen.item_id
    ll.items.archive(tenant, chosen.chosen.item_id)  # learnloop's status wins over Chroma's
    later = selector.select(tenant, {"query": goal, "use_llm": False})
    assert "send_email" not in {c.tool for c in later.search}
    assert ll.items.get(tenant, chosen.chosen.item_id).status == "archived"

    other = ll.tenants.create(f"{tenant}-b").tenant_id  # no collection: its items alone
    ll.items.put(other, {"kind": "tool", "title": "own_tool", "body": "Send a fax"})
    theirs = selector.select(other, {"query": goal, "use_llm": False})
    assert [c.tool for c in theirs.search] == ["own_tool"]


def test_a_collection_of_another_dimension_is_refused(
    ll: LearnLoop, tenant: str, client: Any
) -> None:
    collection = client.create_collection(f"{tenant}-tools", embedding_function=None)
    collection.add(ids=["x"], documents=["a tool"], embeddings=[np.ones(8, dtype=np.float32)])
    selector = ToolSelector(ll.db, ll.search, items=ll.items, catalogue=ChromaCatalogue(client))
    with pytest.raises(EmbeddingMismatchError, match="import-chroma"):
        selector.select(tenant, {"query": "anything", "use_llm": False})


def test_import_chroma_makes_tool_items(
    ll: LearnLoop, tenant: str, client: Any, chroma_path: Path, database_url: str
) -> None:
    collection = add_tools(ll, client, f"catalogue-{tenant}", TOOLS)
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant, "COLUMNS": "200"}
    args = ["tools", "import-chroma", str(chroma_path), "--collection", collection.name]
    runner = CliRunner()
    first = runner.invoke(app, [*args, "--json"], env=env)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {"created": 4, "updated": 0, "unchanged": 0}
    items = ll.items.list(tenant, kinds=["tool"], limit=50)[0]
    assert {i.title: i.body for i in items} == TOOLS
    assert {i.attrs["metadata"]["owner"] for i in items} == {"platform"}

    refund = next(i for i in items if i.external_id == "tool-refund")
    ll.items.archive(tenant, refund.item_id)
    collection.update(
        ids=["tool-weather"],
        documents=["Weather and air quality for a city"],
        embeddings=ll.embedder.embed(["Weather and air quality for a city"]),
    )
    again = runner.invoke(app, args, env=env)
    assert again.exit_code == 0 and "0 created, 1 updated, 3 unchanged" in again.stdout
    assert ll.items.get(tenant, refund.item_id).status == "archived"  # not made active again

    missing = runner.invoke(app, [*args[:-1], "nope"], env=env)
    assert missing.exit_code == 1 and "no collection 'nope'" in missing.stderr


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Chroma server (chromadb's `chroma run`, its Rust server) on a loopback port."""
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data.parent / "chroma-server.log").open("w")
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "chroma run failed"
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_selection_and_import_read_a_chroma_server_over_http(
    ll: LearnLoop, tenant: str, chroma_server: str, database_url: str
) -> None:
    client = chroma_client(chroma_server)  # LEARNLOOP_CHROMA=http://...: an HttpClient
    add_tools(ll, client, f"{tenant}-tools", TOOLS)
    catalogue = make_tool_catalogue(Settings(chroma=chroma_server))
    assert catalogue is not None
    selector = ToolSelector(ll.db, ll.search, items=ll.items, catalogue=catalogue)
    chosen = selector.select(tenant, {"query": "open a helpdesk ticket", "use_llm": False})
    assert chosen.chosen is not None and chosen.chosen.tool == "create_ticket"
    assert {c.tool for c in chosen.search} == set(TOOLS)

    other = ll.tenants.create(f"{tenant}-b").tenant_id  # its collection is not there
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": other, "COLUMNS": "200"}
    args = ["tools", "import-chroma", chroma_server, "--collection", f"{tenant}-tools"]
    done = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"created": 4, "updated": 0, "unchanged": 0}
    items = ll.items.list(other, kinds=["tool"], limit=50)[0]
    assert {i.title: i.body for i in items} == TOOLS
    own = selector.select(other, {"query": "refund the payment", "use_llm": False}).chosen
    assert own is not None and own.tool == "refund" and own.item_id is not None

    down = f"http://127.0.0.1:{free_port()}"
    failed = CliRunner().invoke(app, [*args[:2], down, *args[3:]], env=env)
    assert failed.exit_code != 0 and "Chroma" in failed.stderr, failed.output

"""MCP benchmark: what `learnloop mcp` costs an agent over calling the API directly.

    .venv/bin/python bench/mcp_bench.py [--calls 40] [--starts 3] [--data-dir DIR]

A real API (uvicorn in a thread, embedded PostgreSQL, the local model) with 60 FAQ items
in a tenant of its own. Measured:

* start: from spawning `python -m learnloop mcp` (stdio) to the answer of tools/list, the
  wait an MCP host has before the first tool call (``--starts`` times);
* per call, interleaved so that load on the shared machine hits both alike, each with a
  query of its own: `recommend` through the MCP server (stdio, JSON-RPC, then the API)
  against ``AsyncClient.recommend`` to the same API; the difference is what MCP adds.

Prints medians on one line, and the same as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import uvicorn
from mcp import ClientSession, StdioServerParameters, stdio_client

from learnloop import AsyncClient, LearnLoop
from learnloop.api import create_app
from learnloop.settings import Settings

TOPICS = ["password", "invoice", "refund", "shipping", "login", "export", "backup", "billing"]


def serve(ll: LearnLoop) -> tuple[uvicorn.Server, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(ll), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def params(url: str, key: str) -> StdioServerParameters:
    env = dict(os.environ) | {"LEARNLOOP_URL": url, "LEARNLOOP_API_KEY": key}
    return StdioServerParameters(command=sys.executable, args=["-m", "learnloop", "mcp"], env=env)


async def start_once(server: StdioServerParameters) -> float:
    started = time.perf_counter()
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await session.list_tools()
        return (time.perf_counter() - started) * 1000


async def calls(server: StdioServerParameters, url: str, key: str, n: int) -> dict[str, float]:
    mcp_ms, direct_ms = [], []
    async with (
        stdio_client(server) as (read, write),
        ClientSession(read, write) as session,
        AsyncClient(url, api_key=key) as client,
    ):
        await session.initialize()
        for i in range(n):
            # Queries of their own: the API caches a query's embedding, which a repeated query
            # would find.
            query = f"how do I change my {TOPICS[i % len(TOPICS)]} settings? ({i})"
            started = time.perf_counter()
            result = await session.call_tool("recommend", {"query": f"{query} over MCP"})
            mcp_ms.append((time.perf_counter() - started) * 1000)
            assert not result.is_error, result
            started = time.perf_counter()
            await client.recommend(f"{query} directly")
            direct_ms.append((time.perf_counter() - started) * 1000)
    mcp, direct = statistics.median(mcp_ms), statistics.median(direct_ms)
    return {"recommend_mcp_ms": mcp, "recommend_direct_ms": direct, "mcp_adds_ms": mcp - direct}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--data-dir", default="/tmp/learnloop-mcp-bench")
    args = parser.parse_args()
    with LearnLoop.open(Settings(data_dir=Path(args.data_dir), database_url=None)) as ll:
        tenant = ll.tenants.create(f"mcp-{uuid.uuid4().hex[:8]}").tenant_id
        topics = [TOPICS[n % len(TOPICS)] for n in range(60)]
        items = [
            {"kind": "faq", "title": f"Change your {t} settings ({n})", "body": f"{t} > {n}"}
            for n, t in enumerate(topics)
        ]
        ll.items.put_many(tenant, items)
        key = ll.keys.create(tenant, "bench", scopes=("write",)).key
        api, url = serve(ll)
        server = params(url, key)
        starts = [asyncio.run(start_once(server)) for _ in range(args.starts)]
        figures = {"start_ms": statistics.median(starts)} | asyncio.run(
            calls(server, url, key, args.calls)
        )
        api.should_exit = True
    line = " ".join(f"{k}={v:.1f}" for k, v in figures.items())
    print(f"{line} calls={args.calls} starts={args.starts} items={len(items)}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""Context benchmark: building a context block, selecting a tool, recommending playbooks.

    .venv/bin/python bench/context_bench.py [--queries 60] [--data-dir DIR]

Data, read in place from ../shared/data: the 117 Prometheus-operator runbooks as runbook
items, a correction item for every third runbook (its first paragraph), 30 playbook
reports for one account; 77 banking77 intents and the runbooks' alert names as 194 tools,
with 3,000 recorded tool calls; 300 accounts with 8 KPIs each and 1,500 reports.

Measured per query, interleaved so that load on the shared machine hits all alike:

* ``ContextService.build`` (budget 2,000 tokens) against its in-run baseline, the
  ``Recommender.recommend`` call it makes (query embedding, hybrid search, impression);
  the difference is the corrections search, the reports read, rendering and token counting;
* ``FileTokenizer.count`` of the block built;
* ``ToolSelector.select`` (no LLM) against a plain ``Search.search`` over kind 'tool';
* ``Playbooks.recommend`` against the same baseline recommend.

Prints medians (ms) and ratios on one line, and the same as JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from learnloop import LearnLoop
from learnloop.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def runbooks() -> list[dict[str, Any]]:
    rows = []
    for path in sorted((DATA / "runbooks" / "prometheus_operator").rglob("*.md")):
        if path.name.startswith("_"):
            continue
        text = path.read_text("utf-8")
        title = path.stem
        rows.append({"kind": "runbook", "title": title, "body": text[:20_000]})
    return rows


def corrections(books: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for book in books[::3]:
        first = next((p for p in book["body"].split("\n\n") if len(p) > 80), book["body"][:300])
        rows.append({"kind": "correction", "title": f"Corrected: {book['title']}",
                     "body": first, "attrs": {"source": "proposal"}})  # fmt: skip
    return rows


def tools(books: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with (DATA / "banking77" / "train.csv").open() as f:
        intents = sorted({row["category"] for row in csv.DictReader(f)})
    names = intents + [b["title"] for b in books]
    return [
        {"kind": "tool", "title": name.replace("_", " "), "body": f"Handles {name}.",
         "attrs": {"name": name}}
        for name in names
    ]  # fmt: skip


def fill(ll: LearnLoop, tenant: str, rng: random.Random) -> None:
    books = runbooks()
    ll.items.put_many(tenant, books + corrections(books))
    stored = ll.items.put_many(tenant, tools(books))
    for n in range(30):
        ll.tracking.report(tenant, {
            "account": "acme", "playbook": f"Playbook {n % 6}", "status": "completed",
            "steps_total": 4, "steps_completed": 4, "executive_summary": f"Run {n} went well.",
            "outcomes": [{"metric": "uptime", "before": 99.0, "after": 99.5}],
            "next_steps": ["review alerts"]})  # fmt: skip
    for n in range(300):
        item = stored[rng.randrange(len(stored))][0]
        calls = [{"tool": item.attrs["name"], "item_id": item.item_id,
                  "success": rng.random() < 0.7, "duration_ms": rng.uniform(50, 3000)}
                 for _ in range(10)]  # fmt: skip
        ll.tracking.execution(tenant, {"goal": f"goal {n}", "success": True,
                                       "duration_ms": 1.0, "tool_calls": calls})  # fmt: skip
    accounts(ll, tenant, rng)


def accounts(ll: LearnLoop, tenant: str, rng: random.Random) -> None:
    with ll.db.transaction() as conn:
        for a in range(300):
            conn.execute("INSERT INTO accounts (tenant_id, account_id, name) VALUES (%s, %s, %s)",
                         (tenant, f"a{a}", f"Account {a}"))  # fmt: skip
            for k in range(8):
                conn.execute(
                    "INSERT INTO kpi_values (tenant_id, account_id, kpi, value, recorded_at, "
                    "fingerprint) VALUES (%s, %s, %s, %s, now(), %s)",
                    (tenant, f"a{a}", f"kpi{k}", rng.gauss(50, 15), uuid.uuid4().hex),
                )
    for _ in range(1500):
        outcome = {"metric": "nps", "before": 30.0, "after": rng.uniform(20, 45)}
        ll.tracking.report(tenant, {
            "account": f"a{rng.randrange(300)}", "playbook": f"Playbook {rng.randrange(12)}",
            "status": rng.choice(["completed", "completed", "failed"]), "steps_total": 3,
            "outcomes": [outcome]})  # fmt: skip


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args)
    return (time.perf_counter() - start) * 1000, out


def one_query(ll: LearnLoop, tenant: str, query: str, account: str) -> dict[str, float]:
    """Every measure for one query, in the same order each time."""
    recommend = {"query": query, "k": 5, "context": {"account": "acme"}}
    request = {"query": query, "account": "acme", "token_budget": 2000}
    ms: dict[str, float] = {}
    ms["recommend"], _ = timed(ll.recommender.recommend, tenant, recommend)
    ms["context"], block = timed(ll.context.build, tenant, request)
    ms["tokens"] = block.tokens
    ms["count"], _ = timed(ll.tokenizer.count, block.text)
    ms["search"], _ = timed(lambda: ll.search.search(tenant, query, k=20, kinds=["tool"]))
    ms["select"], _ = timed(ll.tools.select, tenant, {"query": query, "use_llm": False})
    ms["playbooks"], _ = timed(ll.playbooks.recommend, tenant, {"account": account})
    return ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--data-dir", default="/tmp/learnloop-context-bench")
    args = parser.parse_args()
    rng = random.Random(7)
    with LearnLoop.open(Settings(data_dir=Path(args.data_dir), database_url=None)) as ll:
        tenant = ll.tenants.create(f"ctx-{uuid.uuid4().hex[:8]}").tenant_id
        fill(ll, tenant, rng)
        titles = [b["title"] for b in runbooks()]
        runs = [
            one_query(ll, tenant, f"how do I fix {rng.choice(titles)}", f"a{n % 300}")
            for n in range(args.queries)
        ]
    tokens = [run.pop("tokens") for run in runs]
    times = {key: [run[key] for run in runs] for key in runs[0]}
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = {
        "context/recommend": med["context"] / med["recommend"],
        "select/search": med["select"] / med["search"],
        "playbooks/recommend": med["playbooks"] / med["recommend"],
    }
    line = " ".join(f"{k}={v:.1f}ms" for k, v in med.items())
    line += " " + " ".join(f"{k}={v:.2f}" for k, v in ratios.items())
    line += f" tokens_median={statistics.median(tokens):.0f} queries={args.queries}"
    print(line)
    print(json.dumps({"median_ms": med, "ratios": ratios}))


if __name__ == "__main__":
    main()

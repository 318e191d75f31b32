"""learnloop demo: the end-to-end run of README's first command."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from typing import Annotated, Any

import typer
from rich.table import Table

from learnloop.cli.context import console, opened

QUESTIONS = [
    "the disk on a server is almost full",
    "how do I reset my password",
    "a customer is about to churn at renewal",
    "certificate expires soon",
]


def sample_items() -> list[dict[str, Any]]:
    """The sample knowledge base shipped with learnloop."""
    text = resources.files("learnloop.samples").joinpath("knowledge.json").read_text("utf-8")
    items: list[dict[str, Any]] = json.loads(text)
    return items


def demo(
    tenant: Annotated[str, typer.Option(help="The tenant the demo fills.")] = "demo",
) -> None:
    """Start the embedded database, load the sample knowledge base, and search it."""
    with opened() as ll:
        ll.tenants.ensure(tenant, "learnloop demo")
        outcomes: Counter[str] = Counter()
        samples = sample_items()
        with console.status(f"embedding and storing {len(samples)} sample items"):
            outcomes.update(outcome for _, outcome in ll.items.put_many(tenant, samples))
        console.print("items: " + ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())))
        for question in QUESTIONS:
            table = Table("rank", "kind", "title", "similarity", title=f"search: {question!r}")
            for rank, hit in enumerate(ll.search.search(tenant, question, k=3), 1):
                similarity = f"{hit.similarity:.3f}" if hit.similarity is not None else ""
                table.add_row(str(rank), hit.item.kind, hit.item.title, similarity)
            console.print(table)
        key = ll.keys.create(tenant, "demo")
    console.print(f"tenant {tenant!r} is ready. API key (shown once): {key.key}", highlight=False)
    console.print("serve the API with: learnloop serve   (docs at http://127.0.0.1:8000/docs)")

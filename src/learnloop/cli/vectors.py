"""learnloop vectors resync, learnloop vectors check: an external vector store and the items."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from learnloop.cli.context import JsonOut, console, opened, print_json, tenant_of
from learnloop.service import LearnLoop
from learnloop.vectors import VectorCheck, check, resync, tenants

vectors_app = typer.Typer(
    help="The vector store search reads (LEARNLOOP_VECTOR_STORE): re-sync it, check it.",
    no_args_is_help=True,
)
AllTenants = Annotated[
    bool, typer.Option("--all", help="Every tenant, not only the one the command acts for.")
]


def _tenants(ll: LearnLoop, ctx: typer.Context, every: bool) -> list[str]:
    return tenants(ll.db) if every else [ll.tenants.get(tenant_of(ctx)).tenant_id]


@vectors_app.command("resync")
def resync_command(ctx: typer.Context, every: AllTenants = False) -> None:
    """Write every item's current vector to the vector store, and drop what it holds of no item.

    With --all, a Qdrant collection of another dimension (after an embedder change) is made
    again first.
    """
    with opened() as ll:
        rebuild = getattr(ll.vectors, "rebuild_if_other_dimension", None)
        if every and rebuild is not None and rebuild():
            console.print(f"made the collection again for {ll.embedder.dimension} dimensions")
        for tenant_id in _tenants(ll, ctx, every):
            written = resync(ll.db, ll.vectors, tenant_id)
            console.print(f"{tenant_id}: {written} vectors written or dropped ({ll.vectors.name})")


@vectors_app.command("check")
def check_command(
    ctx: typer.Context,
    every: AllTenants = False,
    sample: Annotated[int, typer.Option(min=0, help="Vectors compared one by one.")] = 50,
    json_out: JsonOut = False,
) -> None:
    """Compare the vector store with the items: counts, ids, statuses, sampled vectors.

    Exits with 2 when they disagree (then run `learnloop vectors resync`).
    """
    with opened() as ll:
        found = [check(ll.db, ll.vectors, t, sample=sample) for t in _tenants(ll, ctx, every)]
    if json_out:
        print_json([c.model_dump(mode="json") | {"agree": c.agree} for c in found])
    else:
        _print(found)
    if not all(c.agree for c in found):
        raise typer.Exit(2)


def _print(found: list[VectorCheck]) -> None:
    table = Table("tenant", "store", "items", "stored", "missing", "extra", "status", "vectors")
    for c in found:
        table.add_row(c.tenant_id, c.store, str(c.items), str(c.stored), _ids(c.missing),
                      _ids(c.extra), _ids(c.status_differs),
                      f"{c.sampled - len(c.vectors_differ)}/{c.sampled} same")  # fmt: skip
    console.print(table)
    console.print(
        "agree" if all(c.agree for c in found) else "disagree: run learnloop vectors resync"
    )


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids)) or "-"

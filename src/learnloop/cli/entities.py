"""learnloop entities extract | search | top | reindex."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from learnloop.cli.context import JsonOut, console, opened, print_json, tenant_of
from learnloop.entities import Entity

app = typer.Typer(help="Entities in conversations and transcripts.", no_args_is_help=True)


@app.command("extract")
def extract(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The text; - reads standard input.")],
    json_out: JsonOut = False,
) -> None:
    """Show the entities of a text (nothing is stored)."""
    if text == "-":
        text = typer.get_text_stream("stdin").read()
    with opened() as ll:
        found = ll.entities.extract(tenant_of(ctx), text)
    if json_out:
        print_json(found)
        return
    _table(found)


@app.command("search")
def search(
    ctx: typer.Context,
    value: Annotated[
        str | None, typer.Argument(help="The value, e.g. an e-mail or a name.")
    ] = None,
    label: Annotated[str | None, typer.Option(help="account, kpi, tool, email, phone, ...")] = None,
    item: Annotated[int | None, typer.Option(help="The item the entity links to.")] = None,
    account: Annotated[str | None, typer.Option(help="The account it links to.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (1-500).")] = 50,
    json_out: JsonOut = False,
) -> None:
    """Find the messages and transcripts that name an entity."""
    with opened() as ll:
        hits = ll.entities.search(
            tenant_of(ctx), label=label, value=value, item_id=item, account_id=account, limit=limit
        )
    if json_out:
        print_json(hits)
        return
    table = Table("where", "when", "account", "matches", "text")
    for h in hits:
        where = (
            f"{h.conversation_id}#{h.seq}"
            if h.source == "message"
            else f"transcript {h.transcript_id}"
        )
        matches = ", ".join(f"{e.label}:{e.value}@{e.start}" for e in h.entities)
        table.add_row(
            where,
            h.created_at.isoformat(timespec="seconds"),
            h.account_id or "",
            matches,
            h.snippet,
        )
    console.print(table)


@app.command("top")
def top(
    ctx: typer.Context,
    label: Annotated[str | None, typer.Option(help="Only this label.")] = None,
    days: Annotated[int, typer.Option(help="Over the last days (1-3650).")] = 30,
    limit: Annotated[int, typer.Option(help="At most this many (1-500).")] = 20,
    json_out: JsonOut = False,
) -> None:
    """The entities mentioned most in conversations and transcripts."""
    with opened() as ll:
        counts = ll.entities.top(tenant_of(ctx), label=label, days=days, limit=limit)
    if json_out:
        print_json(counts)
        return
    table = Table("label", "value", "linked", "mentions", "conversations", "last seen")
    for c in counts:
        linked = f"item {c.item_id}" if c.item_id else (c.account_id or "")
        table.add_row(
            c.label,
            c.value,
            linked,
            str(c.mentions),
            str(c.conversations),
            c.last_seen.isoformat(timespec="seconds"),
        )
    console.print(table)


@app.command("reindex")
def reindex(ctx: typer.Context) -> None:
    """Extract again the entities of every stored message and transcript."""
    with opened() as ll:
        counts = ll.entities.reindex(tenant_of(ctx))
    console.print(f"{counts['messages']} messages and {counts['transcripts']} transcripts done")


def _table(found: list[Entity]) -> None:
    table = Table("start", "end", "label", "text", "value", "method", "score", "linked")
    for e in found:
        linked = f"item {e.item_id}" if e.item_id else (e.account_id or "")
        table.add_row(
            str(e.start), str(e.end), e.label, e.text, e.value, e.method, f"{e.score:.2f}", linked
        )
    console.print(table)

"""learnloop recommend, and learnloop events ...: what is shown, and what happened next."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from learnloop.cli.context import JsonOut, console, opened, print_json, tenant_of
from learnloop.errors import InvalidInput

events_app = typer.Typer(help="Look after the event log.", no_args_is_help=True)


def recommend(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="The question, in words.")],
    k: Annotated[int, typer.Option(help="Show at most this many items (1-20).")] = 3,
    kind: Annotated[
        list[str] | None, typer.Option(help="Only this kind; repeat for several.")
    ] = None,
    context: Annotated[
        list[str] | None,
        typer.Option(help="A context attribute as key=value (user, session, account, ...)."),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """Recommend items for a question; the impression is logged like any other."""
    with opened() as ll:
        request = {"query": query, "k": k, "kinds": kind, "context": _context(context or [])}
        answer = ll.recommender.recommend(tenant_of(ctx), request)
    if json_out:
        print_json(answer)
        return
    table = Table("rank", "id", "kind", "title", "confidence", "similarity")
    for rec in answer.recommendations:
        similarity = "" if rec.similarity is None else f"{rec.similarity:.3f}"
        table.add_row(
            str(rec.rank),
            str(rec.item.item_id),
            rec.item.kind,
            rec.item.title,
            f"{rec.confidence:.2f}",
            similarity,
        )
    console.print(table)
    console.print(f"{answer.strategy}; impression {answer.impression_id}")


@events_app.command("prune")
def prune() -> None:
    """Drop the months of events older than LEARNLOOP_EVENT_RETENTION_DAYS."""
    with opened() as ll:
        dropped = ll.events.prune()
    console.print(
        f"dropped {len(dropped)} month partitions" + (f": {', '.join(dropped)}" if dropped else "")
    )


def _context(pairs: list[str]) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--context {pair!r}: write key=value, like --context user=ana")
        context[key.strip()] = value.strip()
    return context

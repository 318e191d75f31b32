"""learnloop context, answer, tools select and import-chroma, playbooks: what an LLM is given."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from learnloop.cli.context import JsonOut, console, opened, print_json, tenant_of

tools_app = typer.Typer(
    help="Choose tools for an agent's goals; import a Chroma tool catalogue.", no_args_is_help=True
)

Account = Annotated[str | None, typer.Option(help="The account the question is about.")]
Session = Annotated[
    str | None, typer.Option(help="The session; its account is used when --account is not given.")
]
Budget = Annotated[
    int | None,
    typer.Option(help="Most tokens in the block (default LEARNLOOP_CONTEXT_TOKEN_BUDGET)."),
]


def context(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="The question, in words.")],
    account: Account = None,
    session: Session = None,
    budget: Budget = None,
    json_out: JsonOut = False,
) -> None:
    """Print the prompt-ready context for a question (its items are logged as an impression)."""
    request = {"query": query, "account": account, "session": session, "token_budget": budget}
    with opened() as ll:
        block = ll.context.build(tenant_of(ctx), request)
    if json_out:
        print_json(block)
        return
    console.print(block.text)
    console.print(
        f"\n{block.tokens}/{block.token_budget} tokens ({block.tokenizer}); "
        f"{len(block.parts)} parts, {len(block.left_out)} left out; "
        f"impression {block.impression_id}"
    )


def answer(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="The question, in words.")],
    account: Account = None,
    session: Session = None,
    budget: Budget = None,
    json_out: JsonOut = False,
) -> None:
    """Answer a question with the configured LLM (LEARNLOOP_LLM_*), or print the context."""
    request = {"query": query, "account": account, "session": session, "token_budget": budget}
    with opened() as ll:
        result = ll.context.answer(tenant_of(ctx), request)
    if json_out:
        print_json(result)
        return
    if result.response is None:
        console.print(result.context.text)
        console.print("\nno LLM is configured (LEARNLOOP_LLM_PROVIDER): the context alone")
        return
    console.print(result.response.answer)
    console.print(f"\nresponse {result.response.response_id} ({result.response.model})")


@tools_app.command("select")
def select(
    ctx: typer.Context,
    goal: Annotated[str, typer.Argument(help="What the agent wants to do, in words.")],
    candidates: Annotated[int, typer.Option(help="Tools semantic search keeps (1-100).")] = 20,
    shortlist: Annotated[int, typer.Option(help="Tools ranked for the last stage (1-20).")] = 5,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Let the ranking decide.")] = False,
    json_out: JsonOut = False,
) -> None:
    """Choose a tool: search narrows, execution outcomes rank, the LLM (if set up) picks."""
    request = {
        "query": goal,
        "candidates": candidates,
        "shortlist": shortlist,
        "use_llm": not no_llm,
    }
    with opened() as ll:
        selection = ll.tools.select(tenant_of(ctx), request)
    if json_out:
        print_json(selection)
        return
    table = Table("rank", "id", "tool", "score", "similarity", "calls", "success", "median ms")
    for c in selection.statistics:
        median = "" if c.median_ms is None else f"{c.median_ms:.0f}"
        similarity = "" if c.similarity is None else f"{c.similarity:.3f}"
        table.add_row(str(c.rank), str(c.item_id), c.tool, f"{c.score:.3f}", similarity,
                      str(c.calls), str(c.successes), median)  # fmt: skip
    console.print(table)
    chosen = selection.chosen.tool if selection.chosen else "none"
    console.print(f"chosen: {chosen} (by {selection.decided_by})")
    console.print(f"selection {selection.selection_id}")


def playbooks(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="The account to recommend playbooks for.")],
    k: Annotated[int, typer.Option(help="How many playbooks (1-20).")] = 3,
    neighbours: Annotated[int, typer.Option(help="Similar accounts to learn from.")] = 10,
    json_out: JsonOut = False,
) -> None:
    """Recommend playbooks that worked for accounts with similar KPIs, with the evidence."""
    with opened() as ll:
        advice = ll.playbooks.recommend(
            tenant_of(ctx), {"account": account, "k": k, "neighbours": neighbours}
        )
    if json_out:
        print_json(advice)
        return
    table = Table("rank", "playbook", "score", "reports", "worked", "evidence (report: change)")
    for rec in advice.recommendations:
        evidence = "; ".join(
            f"{e.report_id} at {e.account_id}: {e.status}, effect {e.effect:+.2f}"
            for e in rec.evidence
        )
        table.add_row(str(rec.rank), rec.playbook, f"{rec.score:+.3f}", str(rec.reports),
                      str(rec.worked), evidence)  # fmt: skip
    console.print(table)
    near = ", ".join(f"{a.account_id} ({a.similarity:.2f})" for a in advice.similar_accounts)
    console.print(f"similar accounts: {near or 'none'}")


@tools_app.command("import-chroma")
def import_chroma(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="A Chroma folder (PersistentClient) or an http(s):// server URL.")
    ],
    collection: Annotated[str, typer.Option(help="The Chroma collection of tools.")],
    json_out: JsonOut = False,
) -> None:
    """Import a Chroma collection as tool items: one per record, keyed by its Chroma id."""
    from learnloop.tools.catalogue import import_tools
    from learnloop.vectors.chroma import ChromaCatalogue, chroma_client

    with opened() as ll:
        tenant_id = ll.tenants.get(tenant_of(ctx)).tenant_id
        tools = ChromaCatalogue(chroma_client(source)).tools(collection)
        counts = import_tools(ll.items, tenant_id, tools, collection)
    if json_out:
        print_json(counts)
        return
    console.print(", ".join(f"{n} {what}" for what, n in counts.items()) + " tool items")

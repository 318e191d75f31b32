"""learnloop proposals list | show | add | edit | approve | reject | duplicate | apply |
rollback | duplicates-threshold."""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer
from rich.table import Table

from learnloop.cli.context import JsonOut, console, opened, print_json, tenant_of
from learnloop.errors import InvalidInput
from learnloop.proposals import Proposal

app = typer.Typer(
    help="Review the learning queue: proposed knowledge changes.", no_args_is_help=True
)

Reviewer = Annotated[str | None, typer.Option(help="Who decides (default: the login name).")]
Note = Annotated[str | None, typer.Option(help="Why, in a few words.")]


@app.command("list")
def list_proposals(
    ctx: typer.Context,
    status: Annotated[
        str, typer.Option(help="pending, approved, rejected, applied, rolled_back or failed.")
    ] = "pending",
    source: Annotated[
        list[str] | None,
        typer.Option(help="feedback, correction, transcript, report or manual; repeatable."),
    ] = None,
    min_confidence: Annotated[int, typer.Option(help="Only at least this confident.")] = 0,
    duplicates: Annotated[bool, typer.Option(help="Only proposals with a duplicate.")] = False,
    order: Annotated[str, typer.Option(help="confidence (highest first) or age.")] = "confidence",
    limit: Annotated[int, typer.Option(help="At most this many (1-500).")] = 50,
    json_out: JsonOut = False,
) -> None:
    """List proposals of one status, most confident (or oldest) first."""
    with opened() as ll:
        found = ll.proposals.list(
            tenant_of(ctx),
            status=status,
            sources=source,
            min_confidence=min_confidence,
            duplicates_only=duplicates,
            order="age" if order == "age" else "confidence",
            limit=limit,
        )
    if json_out:
        print_json(found)
        return
    table = Table("id", "source", "conf", "item", "title", "duplicate of", "age")
    for p in found:
        table.add_row(
            str(p.proposal_id),
            p.source,
            str(p.confidence),
            "new " + p.kind if p.item_id is None else str(p.item_id),
            p.title,
            _duplicate(p),
            p.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    proposal_id: Annotated[int, typer.Argument(help="The proposal's id.")],
    json_out: JsonOut = False,
) -> None:
    """Show a proposal, what it duplicates, and its audit trail."""
    with opened() as ll:
        proposal = ll.proposals.get(tenant_of(ctx), proposal_id)
        audit = ll.proposals.audit(tenant_of(ctx), proposal_id)
    if json_out:
        trail = [entry.model_dump(mode="json") for entry in audit]
        print_json(proposal.model_dump(mode="json") | {"audit": trail})
        return
    target = "a new " + proposal.kind if proposal.item_id is None else f"item {proposal.item_id}"
    console.print(f"proposal {proposal.proposal_id}: {proposal.status}, from {proposal.source}")
    console.print(f"changes {target}; confidence {proposal.confidence}")
    console.print(f"title: {proposal.title}")
    console.print(f"body:\n{proposal.body or '(empty: edit it before approving)'}")
    if proposal.rationale:
        console.print(f"why: {proposal.rationale}")
    if proposal.duplicate:
        d = proposal.duplicate
        console.print(f"duplicates {d.kind} {d.id} ({d.similarity:.3f}): {d.title}")
    for entry in audit:
        when = entry.created_at.strftime("%Y-%m-%d %H:%M:%S")
        why = f": {entry.note}" if entry.note else ""
        console.print(f"  {when} {entry.action} by {entry.actor}{why}")


@app.command("add")
def add(
    ctx: typer.Context,
    title: Annotated[str | None, typer.Option(help="Title (required for a new item).")] = None,
    body: Annotated[
        str, typer.Option(help="The proposed content; leave out to ask for it to be written.")
    ] = "",
    item: Annotated[int | None, typer.Option(help="The item to revise; omit for new.")] = None,
    kind: Annotated[str | None, typer.Option(help="Kind of a new item (default faq).")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="A tag; repeat for several.")] = None,
    rationale: Annotated[str, typer.Option(help="Why this change.")] = "",
    confidence: Annotated[int, typer.Option(help="0-100.")] = 50,
    author: Reviewer = None,
    json_out: JsonOut = False,
) -> None:
    """Propose a knowledge change by hand."""
    data: dict[str, Any] = {
        "item_id": item,
        "kind": kind,
        "title": title,
        "body": body,
        "tags": tag or [],
        "rationale": rationale,
        "confidence": confidence,
        "author": author or getpass.getuser(),
    }
    with opened() as ll:
        proposal = ll.proposals.add(tenant_of(ctx), data)
    _done(proposal, "added", json_out)


@app.command("edit")
def edit(
    ctx: typer.Context,
    proposal_id: Annotated[int, typer.Argument(help="The proposal's id.")],
    body: Annotated[str | None, typer.Option(help="New proposed content.")] = None,
    title: Annotated[str | None, typer.Option(help="New title.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="New tags; repeat for several.")] = None,
    confidence: Annotated[int | None, typer.Option(help="New confidence 0-100.")] = None,
    reviewer: Reviewer = None,
    note: Note = None,
    json_out: JsonOut = False,
) -> None:
    """Change a pending or approved proposal's content."""
    data = {
        "body": body,
        "title": title,
        "tags": tag,
        "confidence": confidence,
        "reviewer": reviewer or getpass.getuser(),
        "note": note,
    }
    with opened() as ll:
        proposal = ll.proposals.edit(tenant_of(ctx), proposal_id, data)
    _done(proposal, "edited", json_out)


@app.command("approve")
def approve(
    ctx: typer.Context,
    proposal_id: Annotated[int, typer.Argument(help="The proposal's id.")],
    reviewer: Reviewer = None,
    note: Note = None,
    json_out: JsonOut = False,
) -> None:
    """Approve a pending proposal (the worker, or 'proposals apply', applies it)."""
    with opened() as ll:
        review = {"reviewer": reviewer or getpass.getuser(), "note": note}
        proposal = ll.proposals.approve(tenant_of(ctx), proposal_id, review)
    _done(proposal, "approved", json_out)


@app.command("reject")
def reject(
    ctx: typer.Context,
    proposal_id: Annotated[int, typer.Argument(help="The proposal's id.")],
    reviewer: Reviewer = None,
    note: Note = None,
    json_out: JsonOut = False,
) -> None:
    """Reject a pending or approved proposal."""
    with opened() as ll:
        review = {"reviewer": reviewer or getpass.getuser(), "note": note}
        proposal = ll.proposals.reject(tenant_of(ctx), proposal_id, review)
    _done(proposal, "rejected", json_out)


@app.command("duplicate")
def duplicate(
    ctx: typer.Context,
    proposal_id: Annotated[int, typer.Argument(help="The proposal's id.")],
    decision: Annotated[str, typer.Argument(help="merge or distinct.")],
    item: Annotated[
        int | None, typer.Option(help="The item of the pair (default: the linked duplicate).")
    ] = None,
    proposal: Annotated[int | None, typer.Option(help="The other proposal of the pair.")] = None,
    reviewer: Reviewer = None,
    note: Note = None,
    json_out: JsonOut = False,
) -> None:
    """Decide on a duplicate pair: merge it (a new item's proposal becomes a revision of the
    item) or keep it apart; the decision teaches the duplicate threshold."""
    with opened() as ll:
        data = {
            "decision": decision,
            "item_id": item,
            "proposal_id": proposal,
            "reviewer": reviewer or getpass.getuser(),
            "note": note,
        }
        found = ll.proposals.decide_duplicate(tenant_of(ctx), proposal_id, data)
    _done(found, "merged" if decision == "merge" else "kept apart", json_out)


@app.command("duplicates-threshold")
def duplicates_threshold(
    ctx: typer.Context,
    value: Annotated[
        float | None, typer.Argument(help="Set the threshold to this (above 0, at most 1).")
    ] = None,
    learn: Annotated[
        bool, typer.Option("--learn", help="Learn it from the reviewers' decisions.")
    ] = False,
    json_out: JsonOut = False,
) -> None:
    """Show the duplicate threshold and what the decisions say; set it, or learn it."""
    with opened() as ll:
        tenant = tenant_of(ctx)
        if value is not None and learn:
            raise InvalidInput("give a VALUE or --learn, not both")
        if value is not None:
            ll.proposals.set_duplicate_threshold(tenant, value)
        fit = ll.proposals.learn_duplicate_threshold(tenant, save=learn)
    if json_out:
        print_json(fit)
        return
    current = fit.threshold if fit.saved else fit.previous
    console.print(
        f"duplicate threshold {current:g}"
        + (f" (learned, was {fit.previous:g})" if fit.saved else "")
    )
    console.print(f"decisions: {fit.decisions} ({fit.merges} merge, {fit.distinct} distinct)")
    if fit.learned and not fit.saved:
        console.print(f"--learn would set {fit.threshold:g}: {fit.reason}")
    elif value is None:
        console.print(fit.reason)


@app.command("apply")
def apply(
    ctx: typer.Context,
    batch: Annotated[int, typer.Option(help="At most this many per batch.")] = 100,
) -> None:
    """Apply the tenant's approved proposals now, batch after batch."""
    total = 0
    with opened() as ll:
        while done := ll.proposals.apply(batch=batch, tenant_id=tenant_of(ctx)):
            total += done
    console.print(f"applied {total} proposals")


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    proposal_id: Annotated[int, typer.Argument(help="The proposal's id.")],
    reviewer: Reviewer = None,
    note: Note = None,
    json_out: JsonOut = False,
) -> None:
    """Undo an applied proposal: its item gets the previous version's content back."""
    with opened() as ll:
        review = {"reviewer": reviewer or getpass.getuser(), "note": note}
        proposal = ll.proposals.rollback(tenant_of(ctx), proposal_id, review)
    _done(proposal, "rolled back", json_out)


def _done(proposal: Proposal, what: str, json_out: bool) -> None:
    if json_out:
        print_json(proposal)
        return
    line = f"{what}: proposal {proposal.proposal_id} ({proposal.status})"
    if proposal.duplicate:
        d = proposal.duplicate
        line += f"; duplicates {d.kind} {d.id} ({d.similarity:.3f})"
    console.print(line)


def _duplicate(proposal: Proposal) -> str:
    d = proposal.duplicate
    return "" if d is None else f"{d.kind} {d.id} ({d.similarity:.2f})"

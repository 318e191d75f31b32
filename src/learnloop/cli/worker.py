"""learnloop worker, learnloop reembed, learnloop index status: keeping vectors up to date."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from learnloop.cli.context import JsonOut, console, opened, print_json, tenant_of
from learnloop.knowledge.space import current_space, switch_space
from learnloop.settings import Settings
from learnloop.worker import lower_priority, run

index_app = typer.Typer(help="The search index of a tenant.", no_args_is_help=True)


def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Stop when the queue is empty instead of waiting.")
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option(help="Jobs run at once (env LEARNLOOP_WORKER_CONCURRENCY; default 4)."),
    ] = None,
    nice: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=19,
            help="Lower the worker's CPU priority by this much, so API servers on the same "
            "cores go first (env LEARNLOOP_WORKER_NICE; default 10; 0 leaves it).",
        ),
    ] = None,
) -> None:
    """Run the background worker: embeds changed items, runs the periodic learning work."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    settings = Settings()
    if nice is not None:
        settings = settings.model_copy(update={"worker_nice": nice})
    # First, before the model and the pools start their threads: they inherit it.
    niceness = lower_priority(settings.worker_nice)
    with opened(settings) as ll:
        console.print(
            f"worker started; embedder {ll.embedder.name}; niceness {niceness}; batch threads "
            f"{settings.embed_batch_threads or os.cpu_count()}; Ctrl-C stops it"
        )
        run(ll, once=once, concurrency=concurrency)


def reembed(
    yes: Annotated[
        bool, typer.Option("--yes", help="Switch embedders without asking first.")
    ] = False,
) -> None:
    """Re-embed every item with the configured embedder (after changing LEARNLOOP_EMBEDDER).

    Interrupt it at any time (Ctrl-C); run it again to go on where it stopped.
    """
    with opened(check_space=False) as ll:
        pending = ll.indexer.unembedded()
        space = current_space(ll.db)
        if space and space != (ll.embedder.name, ll.embedder.dimension):
            if not yes:
                typer.confirm(
                    f"the stored vectors are from {space[0]}; drop them all and "
                    f"re-embed with {ll.embedder.name}?",
                    abort=True,
                )
            dropped = switch_space(ll.db, ll.embedder)
            console.print(f"dropped {dropped} vectors of {space[0]}")
            pending = ll.indexer.unembedded()
        elif space is None:
            switch_space(ll.db, ll.embedder)
        columns = (
            *Progress.get_default_columns()[:1],
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(f"embedding with {ll.embedder.name}", total=pending)
            try:
                done = ll.indexer.reembed(on_batch=lambda n: progress.advance(task, n))
            except KeyboardInterrupt:
                progress.stop()
                console.print("interrupted; run learnloop reembed again to go on")
                raise typer.Exit(130) from None
    console.print(
        f"re-embedded {done} items; {pending - done} were changed or gone meanwhile"
        if done < pending
        else f"re-embedded {done} items"
    )


@index_app.command("status")
def status(ctx: typer.Context, json_out: JsonOut = False) -> None:
    """Whether the tenant's index is ready, building (items waiting for vectors) or failing."""
    with opened() as ll:
        found = ll.indexer.status(tenant_of(ctx))
    if json_out:
        print_json(found)
        return
    console.print(
        f"{found.tenant_id}: {found.state}; {found.items} items, {found.pending} waiting for a "
        f"vector, {found.queued_changes} changes queued, {found.embedded_total} embedded so far"
    )
    if found.error:
        console.print(f"last error ({found.error_at}): {found.error}")

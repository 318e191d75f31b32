"""What every command shares: opening LearnLoop once, and turning errors into messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console

from learnloop.errors import LearnLoopError
from learnloop.service import LearnLoop
from learnloop.settings import Settings

console = Console()
err_console = Console(stderr=True)


@contextmanager
def opened(settings: Settings | None = None) -> Iterator[LearnLoop]:
    """A LearnLoop for one command; a LearnLoopError ends the command with its message."""
    try:
        with LearnLoop.open(settings or Settings()) as ll:
            yield ll
    except LearnLoopError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc


def print_json(data: Any) -> None:
    """Machine-readable output: models and lists of models as JSON."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    elif isinstance(data, list):
        data = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in data]
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def tenant_of(ctx: typer.Context) -> str:
    tenant: str = ctx.obj["tenant"]
    return tenant

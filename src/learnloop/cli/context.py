"""What every command shares: opening LearnLoop once, and turning errors into messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.text import Text

from learnloop.errors import LearnLoopError
from learnloop.service import LearnLoop
from learnloop.settings import Settings

# User text (titles, tenant ids, messages) is never read as Rich markup, and never wrapped.
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

console = Console(markup=False, soft_wrap=True)
err_console = Console(stderr=True, markup=False, soft_wrap=True)


@contextmanager
def opened(settings: Settings | None = None, *, check_space: bool = True) -> Iterator[LearnLoop]:
    """A LearnLoop for one command; a LearnLoopError ends the command with its message."""
    try:
        with LearnLoop.open(settings or Settings(), check_space=check_space) as ll:
            yield ll
    except LearnLoopError as exc:
        err_console.print(Text.assemble(("error:", "red"), " ", exc.message))
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

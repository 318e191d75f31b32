"""The learnloop command line."""

from __future__ import annotations

import signal
import socket
import threading
from types import FrameType
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from learnloop.cli.admin import keys_app, tenants_app
from learnloop.cli.analytics import app as analytics_app
from learnloop.cli.context import console, err_console, opened, print_json, tenant_of
from learnloop.cli.context_cmd import answer, context, playbooks, tools_app
from learnloop.cli.demo import demo
from learnloop.cli.entities import app as entities_app
from learnloop.cli.history import import_log
from learnloop.cli.ingest import accounts_app, import_path, imports_app, templates
from learnloop.cli.interactions import events_app, recommend
from learnloop.cli.items import app as items_app
from learnloop.cli.learning import evaluate, experiments_app, learning_app
from learnloop.cli.mcp_cmd import mcp
from learnloop.cli.proposals import app as proposals_app
from learnloop.cli.vectors import vectors_app
from learnloop.cli.worker import index_app, reembed, worker
from learnloop.settings import Settings

app = typer.Typer(
    help="learnloop: the continuous-learning layer for AI assistants and agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(items_app, name="items")
app.add_typer(keys_app, name="keys")
app.add_typer(tenants_app, name="tenants")
app.add_typer(events_app, name="events")
app.add_typer(proposals_app, name="proposals")
app.add_typer(analytics_app, name="analytics")
app.command("recommend")(recommend)
app.command("evaluate")(evaluate)
app.add_typer(learning_app, name="learning")
app.add_typer(experiments_app, name="experiments")
app.command("demo")(demo)
app.add_typer(index_app, name="index")
app.add_typer(vectors_app, name="vectors")
app.command("worker")(worker)
app.command("reembed")(reembed)
app.command("import")(import_path)
app.command("import-log")(import_log)
app.command("templates")(templates)
app.add_typer(imports_app, name="imports")
app.add_typer(accounts_app, name="accounts")
app.add_typer(entities_app, name="entities")
app.command("context")(context)
app.command("answer")(answer)
app.add_typer(tools_app, name="tools")
app.command("playbooks")(playbooks)
app.command("mcp")(mcp)


@app.callback()
def main(
    ctx: typer.Context,
    tenant: Annotated[
        str | None,
        typer.Option(help="The tenant to act for (env LEARNLOOP_TENANT; default 'default')."),
    ] = None,
) -> None:
    """Settings come from the environment: DATABASE_URL, LEARNLOOP_DATA_DIR, LEARNLOOP_*."""
    if threading.current_thread() is threading.main_thread():  # the only one that may
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    ctx.obj = {"tenant": tenant or Settings().tenant}


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends a command as Ctrl-C does, with the exit handlers run: this process leaves
    the embedded server's owner list, and the last owner out stops the server. (Python's
    default would end the process at once; uvicorn, once it has shut down, raises again
    the signal it caught.)"""
    raise SystemExit(128 + signum)


@app.command()
def init(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    first_start: Annotated[
        bool,
        typer.Option(
            "--first-start",
            help="Print a key only when the tenant has none yet (a container's first start); "
            "loads no model.",
        ),
    ] = False,
) -> None:
    """Create the database and the tenant, and print an API key for it."""
    tenant_id = tenant_of(ctx)
    if first_start:
        _first_start(tenant_id, name)
        return
    with opened() as ll:
        tenant = ll.tenants.ensure(tenant_id, name)
        key = ll.keys.create(tenant.tenant_id, "init")
    console.print(f"database ready; tenant {tenant.tenant_id}; API key (shown once):")
    typer.echo(key.key)


def _first_start(tenant_id: str, name: str | None) -> None:
    """Migrate, make the tenant, and a key only if it has no live one (without the model)."""
    from learnloop.db import Database
    from learnloop.errors import LearnLoopError
    from learnloop.tenants import ApiKeys, Tenants

    try:
        db = Database.from_settings(Settings())
    except LearnLoopError as exc:
        err_console.print(Text.assemble(("error:", "red"), " ", exc.message))
        raise typer.Exit(1) from exc
    try:
        tenant = Tenants(db).ensure(tenant_id, name)
        keys = ApiKeys(db)
        if any(k.revoked_at is None for k in keys.list(tenant.tenant_id)):
            console.print(f"database ready; tenant {tenant.tenant_id} has an API key already")
            return
        key = keys.create(tenant.tenant_id, "first start")
    finally:
        db.close()
    console.print(f"database ready; tenant {tenant.tenant_id}; API key (shown once):")
    typer.echo(key.key)


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for, in words.")],
    k: Annotated[int, typer.Option(help="How many hits (1-100).")] = 10,
    kind: Annotated[
        list[str] | None, typer.Option(help="Only this kind; repeat for several.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Only items with this tag.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search the tenant's items: meaning and keywords fused into one ranking."""
    with opened() as ll:
        hits = ll.search.search(tenant_of(ctx), query, k=k, kinds=kind, tags=tag)
    if json_out:
        print_json(hits)
        return
    table = Table("rank", "id", "kind", "title", "score", "similarity", "keyword")
    for rank, hit in enumerate(hits, 1):
        table.add_row(
            str(rank),
            str(hit.item.item_id),
            hit.item.kind,
            hit.item.title,
            f"{hit.score:.4f}",
            _fmt(hit.similarity),
            _fmt(hit.keyword_score),
        )
    console.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Also run the background worker in this process (as `learnloop worker`).",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes sharing the port (each loads the model and has its own "
            "pool); run the background worker apart (`learnloop worker`).",
        ),
    ] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    from learnloop.api import create_app
    from learnloop.api.server import serve as run_server
    from learnloop.api.server import serve_processes
    from learnloop.telemetry import export_from_environment

    if workers > 1 and worker:
        message = (
            "--worker runs the background worker in the one server process; with "
            "--workers N run `learnloop worker` beside the servers instead"
        )
        err_console.print(Text.assemble(("error:", "red"), " ", message))
        raise typer.Exit(1)
    _refuse_busy_port(host, port)
    settings = Settings()
    if workers > 1:
        typer.echo(f"serving on {host}:{port} from {workers} processes")
        serve_processes(
            settings,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            access_log=access_log,
        )
        return
    if export_from_environment():
        typer.echo("sending learnloop's spans to the OTLP endpoint set in OTEL_EXPORTER_OTLP_*")
    app = create_app(settings=settings, worker=worker)
    run_server(app, settings, host=host, port=port, log_level="info", access_log=access_log)


def _refuse_busy_port(host: str, port: int) -> None:
    """Say so at once when the port is taken (another `learnloop serve`?), before loading
    the model and opening the database only for uvicorn to fail to bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            message = (
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; is another "
                "`learnloop serve` running there? Stop it, or pick another --port"
            )
            err_console.print(Text.assemble(("error:", "red"), " ", message))
            raise typer.Exit(1) from exc


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"

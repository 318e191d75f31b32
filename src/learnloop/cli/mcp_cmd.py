"""learnloop mcp: the MCP server, over stdio or streamable HTTP."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.text import Text

from learnloop.cli.context import err_console


class McpTransport(StrEnum):
    stdio = "stdio"
    http = "http"


def mcp(
    transport: Annotated[
        McpTransport,
        typer.Option(help="stdio (the agent host starts this command) or streamable HTTP."),
    ] = McpTransport.stdio,
    url: Annotated[
        str, typer.Option(envvar="LEARNLOOP_URL", help="The learnloop API to call.")
    ] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="LEARNLOOP_API_KEY",
            help="The API key the tools call with; over http a request's own "
            "'Authorization: Bearer' key is used instead.",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on, for --transport http.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on, for --transport http.")] = 8765,
) -> None:
    """Serve learnloop's tools and items to agents over MCP (Model Context Protocol)."""
    try:
        from learnloop.mcp import build_server
    except ModuleNotFoundError as exc:
        if exc.name != "mcp" and not str(exc.name).startswith("mcp."):
            raise
        needs = "`learnloop mcp` needs the mcp package: pip install 'learnloop[mcp]'"
        err_console.print(Text.assemble(("error:", "red"), " ", needs))
        raise typer.Exit(1) from exc
    server = build_server(url, api_key)
    if transport is McpTransport.stdio:
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)

"""learnloop tenants ... and learnloop keys ...: who may use learnloop."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from learnloop.cli.context import JsonOut, console, opened, print_json, tenant_of
from learnloop.tenants.scopes import check_rate

tenants_app = typer.Typer(help="Create and list tenants.", no_args_is_help=True)
keys_app = typer.Typer(
    help="Create, list and revoke the API keys of a tenant.", no_args_is_help=True
)


@tenants_app.command("create")
def create_tenant(
    tenant_id: Annotated[str, typer.Argument(help="1-63 lowercase letters, digits, - or _.")],
    name: Annotated[str | None, typer.Option(help="A display name.")] = None,
) -> None:
    """Create a tenant and print its first API key."""
    with opened() as ll:
        tenant = ll.tenants.create(tenant_id, name)
        key = ll.keys.create(tenant.tenant_id, "first key")
    console.print(f"tenant {tenant.tenant_id} created; API key (shown once):")
    typer.echo(key.key)


@tenants_app.command("list")
def list_tenants(json_out: JsonOut = False) -> None:
    """List every tenant."""
    with opened() as ll:
        tenants = ll.tenants.list()
    if json_out:
        print_json(tenants)
        return
    table = Table("tenant", "name", "created")
    for tenant in tenants:
        table.add_row(tenant.tenant_id, tenant.name, f"{tenant.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


@tenants_app.command("threshold")
def threshold(
    ctx: typer.Context,
    value: Annotated[
        float | None, typer.Argument(help="The new threshold, 0..1; omit to print it.")
    ] = None,
) -> None:
    """Print or set the confidence an item needs to be recommended (default 0.5)."""
    with opened() as ll:
        if value is not None:
            ll.recommender.set_threshold(tenant_of(ctx), value)
        current = ll.recommender.threshold(tenant_of(ctx))
    console.print(f"confidence threshold of {tenant_of(ctx)}: {current:g}")


@keys_app.command("create")
def create_key(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="What the key may do: read, write, admin or beacon; repeat for several "
            "(default: admin)."
        ),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(help="The key's own rate limit, requests a second (with --burst)."),
    ] = None,
    burst: Annotated[
        int | None, typer.Option(help="Requests the key may make at once (with --rate).")
    ] = None,
) -> None:
    """Create an API key for the tenant; the key is printed once and stored hashed."""
    with opened() as ll:
        limit = check_rate(rate, burst)
        ll.tenants.get(tenant_of(ctx))
        key = ll.keys.create(tenant_of(ctx), name, scope or ["admin"], limit)
    scopes_text = ", ".join(key.scopes)
    console.print(f"key {key.key_id} ({scopes_text}) created (shown once):", highlight=False)
    typer.echo(key.key)


@keys_app.command("list")
def list_keys(ctx: typer.Context, json_out: JsonOut = False) -> None:
    """List the tenant's API keys (never the keys themselves)."""
    with opened() as ll:
        keys = ll.keys.list(tenant_of(ctx))
    if json_out:
        print_json(keys)
        return
    table = Table("key id", "name", "scopes", "created", "last used", "revoked")
    for key in keys:
        rate = f"; {key.rate_per_second:g}/s, {key.rate_burst}" if key.rate_per_second else ""
        table.add_row(
            key.key_id,
            key.name,
            ",".join(key.scopes) + rate,
            f"{key.created_at:%Y-%m-%d}",
            f"{key.last_used_at:%Y-%m-%d}" if key.last_used_at else "",
            f"{key.revoked_at:%Y-%m-%d}" if key.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def revoke_key(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key id from 'keys list'.")]
) -> None:
    """Revoke a key: requests that use it fail from now on."""
    with opened() as ll:
        key = ll.keys.revoke(tenant_of(ctx), key_id)
    console.print(f"revoked: key {key.key_id}")

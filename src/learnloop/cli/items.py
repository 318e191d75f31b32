"""learnloop items add | list | show | archive | delete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, cast, get_args

import typer
from rich.table import Table
from rich.text import Text

from learnloop.cli.context import JsonOut, console, err_console, opened, print_json, tenant_of
from learnloop.errors import InvalidInput
from learnloop.knowledge import Item, ItemVersion, OnDuplicate
from learnloop.knowledge.markdown import parse_markdown

app = typer.Typer(help="Add, list, show, archive and delete knowledge items.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    kind: Annotated[
        str, typer.Option(help="runbook, playbook, faq, kpi, account, report, tool, ...")
    ],
    title: Annotated[
        str | None, typer.Option(help="Title; from the file's heading if omitted.")
    ] = None,
    body: Annotated[str | None, typer.Option(help="The text of the item.")] = None,
    file: Annotated[
        Path | None, typer.Option(help="Read the body from a text or Markdown file.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option(help="A tag; repeat for several.")] = None,
    attrs: Annotated[str | None, typer.Option(help="A JSON object of attributes.")] = None,
    external_id: Annotated[
        str | None, typer.Option(help="Your id; the same id again updates.")
    ] = None,
    status: Annotated[str, typer.Option(help="active, draft, deprecated or archived")] = "active",
    on_duplicate: Annotated[
        str,
        typer.Option(
            help="When a new item repeats a stored one of its kind: warn (store it, say so), "
            "skip, merge (into the stored one) or off (no check)."
        ),
    ] = "warn",
    json_out: JsonOut = False,
) -> None:
    """Add an item, or a new version of the one with the same kind and external id."""
    with opened() as ll:
        choice = _on_duplicate(on_duplicate)
        data = _item_data(kind, title, body, file, tag or [], attrs, external_id, status)
        added = ll.items.add(tenant_of(ctx), data, on_duplicate=choice)
    item = added.item
    if json_out:
        print_json(added)
        return
    console.print(f"{added.outcome}: item {item.item_id} version {item.version} ({item.title})")
    if added.duplicate and added.outcome not in ("skipped", "merged"):
        d = added.duplicate
        err_console.print(
            f"warning: a duplicate of item {d.item_id} ({d.duplicate_title}), similarity "
            f"{d.similarity:.3f}; --on-duplicate merge or skip to avoid keeping both"
        )
    elif added.duplicate:
        console.print(f"  similarity {added.duplicate.similarity:.3f}")


def _on_duplicate(value: str) -> OnDuplicate:
    if value not in get_args(OnDuplicate):
        raise InvalidInput(
            f"--on-duplicate must be one of {', '.join(get_args(OnDuplicate))}, not {value!r}"
        )
    return cast(OnDuplicate, value)


@app.command("list")
def list_items(
    ctx: typer.Context,
    kind: Annotated[
        list[str] | None, typer.Option(help="Only this kind; repeat for several.")
    ] = None,
    status: Annotated[list[str] | None, typer.Option(help="Only this status.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Only items with this tag.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (1-500).")] = 50,
    cursor: Annotated[int | None, typer.Option(help="The next page after this item id.")] = None,
    json_out: JsonOut = False,
) -> None:
    """List items, newest first."""
    with opened() as ll:
        items, next_cursor = ll.items.list(
            tenant_of(ctx), kinds=kind, statuses=status, tags=tag, limit=limit, cursor=cursor
        )
    if json_out:
        print_json(
            {"items": [i.model_dump(mode="json") for i in items], "next_cursor": next_cursor}
        )
        return
    table = Table("id", "kind", "title", "status", "version", "tags")
    for item in items:
        table.add_row(
            str(item.item_id),
            item.kind,
            item.title,
            item.status,
            str(item.version),
            ", ".join(item.tags),
        )
    console.print(table)
    if next_cursor:
        console.print(f"more: --cursor {next_cursor}")


@app.command("show")
def show(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(help="The item id.")],
    version: Annotated[int | None, typer.Option(help="An earlier version.")] = None,
    json_out: JsonOut = False,
) -> None:
    """Show one item (or one of its versions) in full."""
    with opened() as ll:
        tenant = tenant_of(ctx)
        if version is None:
            shown: Item | ItemVersion = ll.items.get(tenant, item_id)
        else:
            shown = ll.items.version(tenant, item_id, version)
        versions = [v.version for v in ll.items.versions(tenant, item_id)]
    if json_out:
        print_json(shown)
        return
    console.print(
        Text.assemble(
            (shown.title, "bold"),
            f"  ({shown.kind}, item {shown.item_id}, "
            f"version {shown.version} of {versions}, {shown.status})",
        )
    )
    if shown.tags:
        console.print("tags: " + ", ".join(shown.tags))
    if shown.attrs:
        console.print("attrs: " + json.dumps(shown.attrs, ensure_ascii=False))
    console.print(shown.body, markup=False, highlight=False)


@app.command("archive")
def archive(
    ctx: typer.Context, item_id: Annotated[int, typer.Argument(help="The item id.")]
) -> None:
    """Archive an item: it leaves search but stays readable."""
    with opened() as ll:
        item = ll.items.archive(tenant_of(ctx), item_id)
    console.print(f"archived: item {item.item_id} ({item.title})")


@app.command("delete")
def delete(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(help="The item id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Delete an item and all its versions for good."""
    if not yes:
        typer.confirm(f"Delete item {item_id} and all its versions?", abort=True)
    with opened() as ll:
        ll.items.delete(tenant_of(ctx), item_id)
    console.print(f"deleted: item {item_id}")


def _item_data(
    kind: str,
    title: str | None,
    body: str | None,
    file: Path | None,
    tags: list[str],
    attrs: str | None,
    external_id: str | None,
    status: str,
) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": kind, "status": status, "tags": tags, "attrs": _attrs(attrs)}
    if file is not None:
        if body is not None:
            raise InvalidInput("give --body or --file, not both")
        data |= _from_file(file)
        data["tags"] = [*data["tags"], *tags]
        data["attrs"] = data["attrs"] | _attrs(attrs)
    else:
        data["body"] = body or ""
    if title:
        data["title"] = title
    if "title" not in data:
        raise InvalidInput("--title is required (or give a --file with a heading)")
    if external_id:
        data["external_id"] = external_id
    return data


def _from_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
    if path.suffix.lower() in (".md", ".markdown"):
        return parse_markdown(text, fallback_title=path.stem)
    return {"title": path.stem, "body": text, "tags": [], "attrs": {}}


def _attrs(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--attrs is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidInput('--attrs must be a JSON object, like \'{"service": "db"}\'')
    return value

"""Knowledge items: create or upsert, update, read, list, archive, delete, versions."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, LiteralString

import psycopg
from psycopg.types.json import Jsonb

from learnloop._sql import load_queries
from learnloop.errors import Conflict, InvalidInput, NotFound
from learnloop.knowledge import duplicates
from learnloop.knowledge.duplicates import Added, DuplicateFound
from learnloop.knowledge.models import (
    Item,
    ItemIn,
    ItemPatch,
    ItemVersion,
    content_hash,
    embedding_text,
)
from learnloop.ports import Connection, Embedder, Store
from learnloop.validation import parse

Q = load_queries("learnloop.knowledge")
MAX_PAGE = 500


@dataclass
class Checked:
    """A batch stored after the duplicate check: each row's item and outcome, and what was
    found (None as the item: a row skipped)."""

    results: builtins.list[tuple[Item | None, str]]
    found: builtins.list[DuplicateFound] = field(default_factory=builtins.list)


class Items:
    """The items of every tenant; each call names its tenant and sees nothing else."""

    def __init__(self, db: Store, embedder: Embedder, *, max_body_chars: int = 200_000):
        self.db = db
        self.embedder = embedder
        self.max_body_chars = max_body_chars

    def put(self, tenant_id: str, data: ItemIn | dict[str, Any]) -> tuple[Item, str]:
        """Store an item; with an external_id already stored, store a new version of it.

        Returns the item and what happened: ``created``, ``updated`` or ``unchanged``.
        """
        return self.put_many(tenant_id, [data])[0]

    def put_many(
        self,
        tenant_id: str,
        rows: Sequence[ItemIn | dict[str, Any]],
        *,
        conn: Connection | None = None,
        embed: bool = True,
        vectors: Sequence[Any] | None = None,
    ) -> builtins.list[tuple[Item, str]]:
        """Store many items at once, all or nothing, embedding only what changed in one batch.

        With ``conn`` (a connection inside an open transaction) the writes join that
        transaction, so they commit or roll back with the caller's other writes. With
        ``embed=False`` changed items are stored without a vector: keyword search finds them
        at once, and the worker (``learnloop worker``) embeds them from the change log.
        ``vectors`` (one per row, None where there is none) are vectors already computed
        from the rows' title and body; they are stored as they are.
        """
        items = [
            parse(ItemIn, row, where=f"item {n}: " if len(rows) > 1 else "")
            for n, row in enumerate(rows)
        ]
        for n, item in enumerate(items):
            self._check_body(item.body, where=f"item {n}: " if len(items) > 1 else "")
        stored = self._stored_by_external_id(tenant_id, items, conn)
        # A batch naming one kind + external_id twice stores its last row (later rows win).
        keys = [_key(item) for item in items]
        last = {key: n for n, key in enumerate(keys) if key is not None}
        results: dict[int, tuple[Item, str]] = {}
        send = []
        for n, (item, key) in enumerate(zip(items, keys, strict=True)):
            if key is not None and last[key] != n:
                continue
            known = stored.get(key) if key else None
            if known and (known.content_hash, known.status) == (item.content_hash(), item.status):
                results[n] = (known, "unchanged")
            else:
                send.append(n)
        chosen = self._vectors(items, send, embed=embed, given=vectors)
        if send:
            with _joined(self.db, conn) as tx:
                stored_now = self._upsert_many(tx, tenant_id, [items[n] for n in send], chosen)
            results.update(zip(send, stored_now, strict=True))
        for n, key in enumerate(keys):
            if n not in results and key is not None:  # an earlier row of a key named again
                results[n] = results[last[key]]
        return [results[n] for n in range(len(items))]

    def _vectors(
        self, items: Sequence[ItemIn], send: list[int], *, embed: bool, given: Sequence[Any] | None
    ) -> list[Any]:
        """The vectors of the rows to write: those given, the rest embedded (with ``embed``)."""
        chosen = [None if given is None else given[n] for n in send]
        missing = [i for i, vector in enumerate(chosen) if vector is None]
        if embed and missing:
            texts = [embedding_text(items[send[i]].title, items[send[i]].body) for i in missing]
            for i, vector in zip(missing, self.embedder.embed(texts), strict=True):
                chosen[i] = vector
        return chosen

    def add(
        self,
        tenant_id: str,
        data: ItemIn | dict[str, Any],
        *,
        on_duplicate: duplicates.OnDuplicate = "warn",
    ) -> Added:
        """``put``, checked for duplicates first: a new item that repeats a stored item of
        its kind is kept with a warning (``warn``), skipped (``skip``) or merged into it
        (``merge``); ``off`` does not check."""
        checked = self.put_checked(tenant_id, [data], on_duplicate=on_duplicate)
        found = checked.found[0] if checked.found else None
        item, outcome = checked.results[0]
        if item is None:  # skipped: the item it repeats is the answer
            assert found is not None and found.item_id is not None
            item = self.get(tenant_id, found.item_id)
        return Added(item=item, outcome=outcome, duplicate=found)

    def put_checked(
        self,
        tenant_id: str,
        rows: Sequence[ItemIn | dict[str, Any]],
        *,
        on_duplicate: duplicates.OnDuplicate = "warn",
        conn: Connection | None = None,
        embed: bool = True,
    ) -> Checked:
        """``put_many``, the new rows checked for duplicates first (see ``duplicates``).

        Each row's result is its stored item and outcome: as ``put_many`` gives it, or
        ``merged`` (with the item it was merged into) or ``skipped`` (with None).
        """
        items = [
            parse(ItemIn, row, where=f"item {n}: " if len(rows) > 1 else "")
            for n, row in enumerate(rows)
        ]
        with _joined(self.db, conn) as tx:
            known = set(self._stored_by_external_id(tenant_id, items, tx))
            screened = duplicates.screen(tx, self.embedder, tenant_id, items, known, on_duplicate)
            stored = self.put_many(
                tenant_id, screened.rows, conn=tx, embed=embed, vectors=screened.vectors
            )
        results: builtins.list[tuple[Item | None, str]] = []
        for n, at in enumerate(screened.placed):
            if at is None:
                results.append((None, "skipped"))
            elif n in screened.merged:
                results.append((stored[at][0], "merged"))
            else:
                results.append(stored[at])
        return Checked(results=results, found=screened.found)

    def _upsert_many(
        self, conn: Connection, tenant_id: str, items: Sequence[ItemIn], vectors: Sequence[Any]
    ) -> builtins.list[tuple[Item, str]]:
        """One statement for the batch; rows map back by external_id, or by reserved id."""
        reserved = [
            row["item_id"] for row in conn.execute(Q["reserve_item_ids"], {"n": len(items)})
        ]
        batch = [
            {
                "n": n,
                "item_id": item_id,
                "content_hash": item.content_hash(),
                **item.model_dump(mode="json"),
            }
            for n, (item, item_id) in enumerate(zip(items, reserved, strict=True), 1)
        ]
        embedded = any(vector is not None for vector in vectors)
        params = {
            "tenant_id": tenant_id,
            "embedder": self.embedder.name,
            "rows": json.dumps(batch, ensure_ascii=False),
            "embeddings": list(vectors) if embedded else None,
        }
        try:
            rows = conn.execute(Q["upsert_items"], params).fetchall()
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict("another item of this kind already has that external_id") from exc
        by_key = {(r["kind"], r["external_id"]): r for r in rows if r["external_id"] is not None}
        by_id = {r["item_id"]: r for r in rows}
        out: dict[int, tuple[Item, str]] = {}
        missing = []
        for n, (item, item_id) in enumerate(zip(items, reserved, strict=True)):
            key = _key(item)
            row = by_id.get(item_id) if key is None else by_key.get(key)
            if row is None:  # a concurrent writer stored this very content first
                missing.append(n)
                continue
            inserted = row.pop("inserted")
            out[n] = (Item.model_construct(**row), "created" if inserted else "updated")
        if missing:
            named = [items[n] for n in missing]
            found = conn.execute(
                Q["find_by_external_ids"], _external_params(tenant_id, named)
            ).fetchall()
            known = {(r["kind"], r["external_id"]): Item.model_validate(r) for r in found}
            for n in missing:
                out[n] = (known[(items[n].kind, str(items[n].external_id))], "unchanged")
        return [out[n] for n in range(len(items))]

    def _stored_by_external_id(
        self, tenant_id: str, items: Sequence[ItemIn], conn: Connection | None = None
    ) -> dict[tuple[str, str | None], Item]:
        named = [item for item in items if item.external_id is not None]
        if not named:
            return {}
        with _joined(self.db, conn, transaction=False) as tx:
            rows = tx.execute(Q["find_by_external_ids"], _external_params(tenant_id, named))
            found = [Item.model_validate(row) for row in rows.fetchall()]
        return {(item.kind, item.external_id): item for item in found}

    def update(self, tenant_id: str, item_id: int, patch: ItemPatch | dict[str, Any]) -> Item:
        """Change some fields of an item; a content change makes a new version."""
        changes = parse(ItemPatch, patch).model_dump(exclude_none=True)
        current = self.get(tenant_id, item_id)
        merged = current.model_dump() | changes
        self._check_body(merged["body"])
        new_hash = content_hash(
            merged["kind"], merged["title"], merged["body"], merged["tags"], merged["attrs"]
        )
        if new_hash == current.content_hash and merged["status"] == current.status:
            return current
        vector = self.embedder.embed([embedding_text(merged["title"], merged["body"])])[0]
        params = {
            "tenant_id": tenant_id,
            "item_id": item_id,
            "old_hash": current.content_hash,
            **_row_params(merged),
            "content_hash": new_hash,
            "embedding": vector,
            "embedder": self.embedder.name,
        }
        with self.db.transaction() as conn:
            row = _one(conn, "update_item", params)
            if row is None:
                raise Conflict(f"item {item_id} changed while this update ran; send it again")
            _run(conn, "record_version", {"tenant_id": tenant_id, "item_id": item_id})
        return Item.model_validate(row)

    def get(self, tenant_id: str, item_id: int) -> Item:
        with self.db.connection() as conn:
            row = _one(conn, "get_item", {"tenant_id": tenant_id, "item_id": item_id})
        if row is None:
            raise NotFound(f"no item {item_id} in this tenant")
        return Item.model_validate(row)

    def list(
        self,
        tenant_id: str,
        *,
        kinds: list[str] | None = None,
        statuses: list[str] | None = None,
        tags: list[str] | None = None,
        external_id: str | None = None,
        limit: int = 50,
        cursor: int | None = None,
    ) -> tuple[list[Item], int | None]:
        """A page of items, newest first, and the cursor of the next page (None at the end)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
        params = {
            "tenant_id": tenant_id,
            "kinds": kinds or None,
            "statuses": statuses or None,
            "tags": tags or [],
            "external_id": external_id,
            "cursor": cursor,
            "limit": limit + 1,
        }
        with self.db.connection() as conn:
            rows = conn.execute(Q["list_items"], params).fetchall()
        items = [Item.model_validate(row) for row in rows[:limit]]
        next_cursor = items[-1].item_id if len(rows) > limit else None
        return items, next_cursor

    def archive(self, tenant_id: str, item_id: int) -> Item:
        """Hide an item from search; it stays readable and can be set active again."""
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "item_id": item_id, "status": "archived"}
            row = _one(conn, "set_status", params)
        if row is None:
            raise NotFound(f"no item {item_id} in this tenant")
        return Item.model_validate(row)

    def delete(self, tenant_id: str, item_id: int) -> None:
        """Remove an item and all its versions for good."""
        with self.db.connection() as conn:
            row = _one(conn, "delete_item", {"tenant_id": tenant_id, "item_id": item_id})
        if row is None:
            raise NotFound(f"no item {item_id} in this tenant")

    def versions(self, tenant_id: str, item_id: int) -> builtins.list[ItemVersion]:
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "item_id": item_id}
            rows = conn.execute(Q["list_versions"], params).fetchall()
        if not rows:
            raise NotFound(f"no item {item_id} in this tenant")
        return [ItemVersion.model_validate(row) for row in rows]

    def version(self, tenant_id: str, item_id: int, version: int) -> ItemVersion:
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "item_id": item_id, "version": version}
            row = _one(conn, "get_version", params)
        if row is None:
            raise NotFound(f"item {item_id} has no version {version} in this tenant")
        return ItemVersion.model_validate(row)

    def _check_body(self, body: str, where: str = "") -> None:
        if len(body) > self.max_body_chars:
            raise InvalidInput(
                f"{where}body: {len(body):,} characters is over the limit of "
                f"{self.max_body_chars:,}; split the document into several items"
            )


@contextmanager
def _joined(
    db: Store, conn: Connection | None, *, transaction: bool = True
) -> Iterator[Connection]:
    """The caller's connection as it is, or a pooled one (in a transaction when asked)."""
    if conn is not None:
        yield conn
    elif transaction:
        with db.transaction() as tx:
            yield tx
    else:
        with db.connection() as plain:
            yield plain


def _key(item: ItemIn) -> tuple[str, str] | None:
    """What names an item across writes: its kind and external_id (None: nothing does)."""
    return None if item.external_id is None else (str(item.kind), item.external_id)


def _external_params(tenant_id: str, items: Sequence[ItemIn]) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "kinds": [item.kind for item in items],
        "external_ids": [item.external_id for item in items],
    }


def _row_params(fields: dict[str, Any]) -> dict[str, Any]:
    keys = ("kind", "external_id", "title", "body", "tags", "status")
    return {key: fields[key] for key in keys} | {"attrs": Jsonb(fields["attrs"])}


def _one(conn: Connection, name: LiteralString, params: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return conn.execute(Q[name], params).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict("another item of this kind already has that external_id") from exc


def _run(conn: Connection, name: LiteralString, params: dict[str, Any]) -> None:
    conn.execute(Q[name], params)

"""Applying approved proposals as item versions, and rolling them back.

``apply_approved`` takes one tenant at a time, each in a transaction of its own: it claims a
batch with FOR UPDATE SKIP LOCKED and applies it; the item writes (through ``Items``, so
versions are kept and the change is logged for the embedding worker), the proposals' new
status and their audit entries commit together or not at all. Many workers can run it at
once; each proposal is applied once.

A proposal whose content an item cannot hold (a rule of ``ItemIn``, a value the database
refuses) never blocks the others: the batch runs in a savepoint, and when it fails each
proposal is applied in a savepoint of its own; the one that still fails is marked
``failed`` with the reason (``apply_error``) and audited, and the rest apply.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from learnloop._sql import load_queries
from learnloop.errors import Conflict, InvalidInput, NotFound
from learnloop.knowledge import Item, Items
from learnloop.ports import Connection, Store

Q = load_queries("learnloop.proposals")
WORKER = "worker"
MAX_ERROR = 2000
# What one proposal's own content can cause: it fails, and the rest of the queue goes on.
ROW_ERRORS = (InvalidInput, Conflict, psycopg.DataError, psycopg.IntegrityError)
log = logging.getLogger("learnloop.proposals")


def apply_approved(
    db: Store, items: Items, *, batch: int = 100, embed: bool = True, tenant_id: str | None = None
) -> int:
    """Apply up to ``batch`` approved proposals (of every tenant, one transaction each, or of
    ``tenant_id``); return how many were handled (applied, or marked failed).

    With ``embed=False`` the items are stored without vectors and the worker embeds them
    (full-text search finds them at once).
    """
    tenants = [tenant_id] if tenant_id is not None else approved_tenants(db)
    done = 0
    for tenant in tenants:
        if done >= batch:
            break
        done += apply_tenant(db, items, tenant, batch=batch - done, embed=embed)
    return done


def approved_tenants(db: Store) -> list[str]:
    """The tenants with approved proposals waiting to be applied."""
    with db.connection() as conn:
        return [row["tenant_id"] for row in conn.execute(Q["approved_tenants"]).fetchall()]


def apply_tenant(db: Store, items: Items, tenant_id: str, *, batch: int, embed: bool) -> int:
    """Apply up to ``batch`` of one tenant's approved proposals in one transaction."""
    with db.transaction() as conn:
        params = {"batch": batch, "tenant_id": tenant_id}
        claimed = conn.execute(Q["claim_approved"], params).fetchall()
        if claimed:
            apply_isolated(conn, items, tenant_id, claimed, embed=embed)
    return len(claimed)


def apply_isolated(
    conn: Connection,
    items: Items,
    tenant_id: str,
    proposals: list[dict[str, Any]],
    *,
    embed: bool,
) -> None:
    """``apply_group`` in a savepoint; if it fails, each proposal in a savepoint of its own,
    and those that still fail are marked failed with the reason."""
    try:
        with conn.transaction():
            apply_group(conn, items, tenant_id, proposals, embed=embed)
        return
    except ROW_ERRORS:
        pass  # one of them cannot be applied: find which, one by one
    for proposal in proposals:
        try:
            with conn.transaction():
                apply_group(conn, items, tenant_id, [proposal], embed=embed)
        except ROW_ERRORS as exc:
            _failed(conn, tenant_id, proposal["proposal_id"], _reason(exc))


def _reason(exc: Exception) -> str:
    if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
        reason = f"a value does not fit the database: {exc.diag.message_primary}"
    else:
        reason = str(exc)
    return reason[:MAX_ERROR]


def _failed(conn: Connection, tenant_id: str, proposal_id: int, reason: str) -> None:
    log.warning("tenant %s: proposal %s cannot be applied: %s", tenant_id, proposal_id, reason)
    _run(conn, "mark_failed", tenant_id, proposal_id, error=reason)
    _audit(conn, tenant_id, proposal_id, "failed", WORKER, reason)


def apply_group(
    conn: Connection,
    items: Items,
    tenant_id: str,
    proposals: list[dict[str, Any]],
    *,
    embed: bool,
) -> None:
    """Write one tenant's claimed proposals as item versions, mark them applied, audit them."""
    wanted = sorted({p["item_id"] for p in proposals if p["item_id"] is not None})
    targets = _lock_items(conn, tenant_id, wanted)
    for proposal in proposals:
        if proposal["item_id"] is not None and proposal["item_id"] not in targets:
            _unappliable(conn, tenant_id, proposal)
    live = [p for p in proposals if p["item_id"] is None or p["item_id"] in targets]
    for chunk in _rounds(live):
        rows = [_row(p, targets) for p in chunk]
        before = [targets[p["item_id"]]["version"] if p["item_id"] else None for p in chunk]
        stored = [item for item, _ in items.put_many(tenant_id, rows, conn=conn, embed=embed)]
        for proposal, item in zip(chunk, stored, strict=True):
            if proposal["item_id"] is not None:
                targets[proposal["item_id"]] = item.model_dump()
        _mark_applied(conn, tenant_id, chunk, stored, before)


def _row(proposal: dict[str, Any], targets: dict[int, dict[str, Any]]) -> dict[str, Any]:
    target = proposal["item_id"]
    return _revision(proposal, targets[target]) if target is not None else _new_item(proposal)


def _rounds(proposals: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The proposals in chunks that revise no item twice (the second waits for the first)."""
    rounds: list[list[dict[str, Any]]] = []
    seen: list[set[int]] = []
    for proposal in proposals:
        n = 0
        while n < len(rounds) and proposal["item_id"] in seen[n]:
            n += 1
        if n == len(rounds):
            rounds.append([])
            seen.append(set())
        rounds[n].append(proposal)
        if proposal["item_id"] is not None:
            seen[n].add(proposal["item_id"])
    return rounds


def _mark_applied(
    conn: Connection,
    tenant_id: str,
    proposals: list[dict[str, Any]],
    stored: list[Item],
    before: list[int | None],
) -> None:
    details = [
        Jsonb({"item_id": item.item_id, "version": item.version, "previous_version": previous})
        for item, previous in zip(stored, before, strict=True)
    ]
    params = {
        "tenant_id": tenant_id,
        "proposal_ids": [p["proposal_id"] for p in proposals],
        "item_ids": [item.item_id for item in stored],
        "versions": [item.version for item in stored],
        "previous": before,
        "actor": WORKER,
        "details": details,
    }
    conn.execute(Q["mark_applied"], params)
    conn.execute(Q["audit_applied"], params)


def _unappliable(conn: Connection, tenant_id: str, proposal: dict[str, Any]) -> None:
    note = f"item {proposal['item_id']} no longer exists"
    _run(conn, "mark_unappliable", tenant_id, proposal["proposal_id"], note=note)
    _audit(conn, tenant_id, proposal["proposal_id"], "rejected", "system", note)


def rollback(
    db: Store, items: Items, tenant_id: str, proposal_id: int, reviewer: str, note: str | None
) -> None:
    """Restore the item as it was before the proposal: its previous version's content, as a
    new version; an item the proposal created is archived."""
    with db.transaction() as conn:
        params = {"tenant_id": tenant_id, "proposal_id": proposal_id}
        applied = conn.execute(Q["lock_applied"], params).fetchone()
        if applied is None:
            raise NotFound(f"no proposal {proposal_id} in this tenant")
        if applied["status"] != "applied":
            raise Conflict(
                f"proposal {proposal_id} is {applied['status']}; only an applied proposal "
                "can be rolled back"
            )
        item_id = applied["applied_item_id"]
        current = _lock_item(conn, tenant_id, item_id)
        if current is None:
            raise Conflict(f"item {item_id} no longer exists; there is nothing to restore")
        if current["version"] != applied["applied_version"]:
            raise Conflict(
                f"item {item_id} changed after the proposal was applied (version "
                f"{applied['applied_version']}, now {current['version']}); "
                "edit the item instead"
            )
        put_in(conn, items, tenant_id, _restored(conn, tenant_id, applied, current), embed=True)
        _run(conn, "mark_rolled_back", tenant_id, proposal_id)
        detail = {"item_id": item_id, "restored_version": applied["previous_version"]}
        _audit(conn, tenant_id, proposal_id, "rolled_back", reviewer, note, detail)


def put_in(
    conn: Connection, items: Items, tenant_id: str, row: dict[str, Any], *, embed: bool
) -> tuple[Item, str]:
    """Store one item through ``Items`` inside the caller's transaction."""
    return items.put_many(tenant_id, [row], conn=conn, embed=embed)[0]


def _revision(proposal: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """A new version of the target item with the proposal's content."""
    return {
        "kind": target["kind"],
        "external_id": target["external_id"],
        "title": proposal["title"] or target["title"],
        "body": proposal["body"],
        "tags": proposal["tags"] or target["tags"],
        "attrs": target["attrs"] | _marker(proposal),
        "status": "active",
    }


def _new_item(proposal: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": proposal["kind"],
        "external_id": proposal["external_id"] or f"proposal-{proposal['proposal_id']}",
        "title": proposal["title"],
        "body": proposal["body"],
        "tags": proposal["tags"],
        "attrs": proposal["attrs"] | _marker(proposal),
        "status": "active",
    }


def _marker(proposal: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": "proposal",
        "proposal_id": proposal["proposal_id"],
        "proposal_source": proposal["source"],
    }


def _restored(
    conn: Connection, tenant_id: str, applied: dict[str, Any], current: dict[str, Any]
) -> dict[str, Any]:
    """The item row that undoes an applied proposal."""
    keep = {"kind": current["kind"], "external_id": current["external_id"]}
    if applied["previous_version"] is None:  # the proposal created the item: archive it
        fields = ("title", "body", "tags", "attrs")
        return keep | {f: current[f] for f in fields} | {"status": "archived"}
    params = {
        "tenant_id": tenant_id,
        "item_id": current["item_id"],
        "version": applied["previous_version"],
    }
    old = conn.execute(Q["item_version"], params).fetchone()
    if old is None:
        version = applied["previous_version"]
        raise Conflict(f"version {version} of item {current['item_id']} is no longer stored")
    return keep | {f: old[f] for f in ("title", "body", "tags", "attrs", "status")}


def _lock_item(conn: Connection, tenant_id: str, item_id: int) -> dict[str, Any] | None:
    return _lock_items(conn, tenant_id, [item_id]).get(item_id)


def _lock_items(conn: Connection, tenant_id: str, item_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The items, locked in id order; those without an external_id get one, so an upsert can
    revise them."""
    if not item_ids:
        return {}
    params = {"tenant_id": tenant_id, "item_ids": item_ids}
    found = {row["item_id"]: row for row in conn.execute(Q["lock_items"], params).fetchall()}
    if any(row["external_id"] is None for row in found.values()):
        for row in conn.execute(Q["name_items"], params).fetchall():
            found[row["item_id"]]["external_id"] = row["external_id"]
    return found


def _run(conn: Connection, name: str, tenant_id: str, proposal_id: int, **params: Any) -> None:
    conn.execute(Q[name], {"tenant_id": tenant_id, "proposal_id": proposal_id, **params})


def _audit(
    conn: Connection,
    tenant_id: str,
    proposal_id: int,
    action: str,
    actor: str,
    note: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    params = {"action": action, "actor": actor, "note": note, "detail": Jsonb(detail or {})}
    _run(conn, "insert_audit", tenant_id, proposal_id, **params)

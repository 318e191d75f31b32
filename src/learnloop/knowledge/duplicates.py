"""New items that repeat what the tenant already holds: found as they are added or imported.

A new item (its kind and external_id not stored yet; an update of a stored item is not
checked) is embedded and compared with the tenant's items of the same kind (not archived,
with a vector) and with the new rows before it in the same batch. A cosine similarity at or
above the tenant's duplicate threshold (tenant setting ``duplicate_threshold``, default
0.85, the one the learning queue uses) makes it a duplicate of the most similar one. The
caller chooses what then happens (``on_duplicate``):

- ``warn`` (the default): stored as given; the warning names what it repeats;
- ``skip``: not stored;
- ``merge``: folded into what it repeats: that item keeps its title and body (the
  incoming body fills an empty one), gains the incoming tags, and lists the incoming title
  and external_id under ``attrs["merged"]``; a new version when that changes it;
- ``off``: no check (nothing is embedded for it).

The vectors computed for the check are stored with the items, so nothing is embedded twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from learnloop._sql import load_queries
from learnloop.knowledge.models import KINDS, MAX_TAGS, Item, ItemIn, embedding_text
from learnloop.ports import Connection, Embedder

Q = load_queries("learnloop.knowledge", "duplicates.sql")
OnDuplicate = Literal["warn", "skip", "merge", "off"]
Action = Literal["kept", "skipped", "merged"]
ACTIONS: dict[str, Action] = {"warn": "kept", "skip": "skipped", "merge": "merged"}
DEFAULT_THRESHOLD = 0.85
MAX_MERGED = 100  # entries kept under attrs["merged"]
EXACT_BELOW = 20_000  # a tenant with fewer vectors of the kinds is compared exactly
Key = tuple[str, str]


class DuplicateFound(BaseModel):
    """A new item that repeats a stored item, or an earlier row of the same batch."""

    title: str = Field(description="the new item's title")
    external_id: str | None = Field(description="the new item's external_id")
    item_id: int | None = Field(
        description="the stored item it repeats; null: an earlier row of the same batch"
    )
    duplicate_title: str = Field(description="the title of what it repeats")
    duplicate_external_id: str | None
    similarity: float = Field(description="cosine similarity, at or above the threshold")
    action: Action = Field(description="kept (stored as well), skipped or merged")


class Added(BaseModel):
    """An item added, with what became of it and the duplicate it repeats, if any."""

    item: Item = Field(description="the item stored; the existing one when skipped or merged")
    outcome: str = Field(description="created, updated, unchanged, skipped or merged")
    duplicate: DuplicateFound | None = None


@dataclass
class Screened:
    """A batch after the check: what to write, and where each incoming row went."""

    rows: list[ItemIn]
    vectors: list[Any]
    placed: list[int | None] = field(default_factory=list)  # input row -> index in rows
    merged: set[int] = field(default_factory=set)  # input rows folded into another row
    found: list[DuplicateFound] = field(default_factory=list)


@dataclass
class _Match:
    similarity: float
    title: str
    external_id: str | None
    item_id: int | None = None  # a stored item
    row: int | None = None  # an earlier input row


def threshold(conn: Connection, tenant_id: str) -> float:
    """The tenant's similarity threshold for duplicates."""
    params = {"tenant_id": tenant_id, "default": DEFAULT_THRESHOLD}
    row = conn.execute(Q["duplicate_threshold"], params).fetchone()
    return DEFAULT_THRESHOLD if row is None else float(row["threshold"])


def screen(
    conn: Connection,
    embedder: Embedder,
    tenant_id: str,
    items: list[ItemIn],
    known: set[tuple[str, str | None]],
    on_duplicate: OnDuplicate,
) -> Screened:
    """Check the new rows of ``items`` (those whose key is not in ``known``) and apply
    ``on_duplicate``; ``conn`` must be in a transaction."""
    vectors: list[Any] = [None] * len(items)
    new = [n for n, item in enumerate(items) if _key(item) is None or _key(item) not in known]
    if on_duplicate == "off" or not new:
        return Screened(list(items), vectors, list(range(len(items))))
    made = embedder.embed([embedding_text(items[n].title, items[n].body) for n in new])
    for n, vector in zip(new, made, strict=True):
        vectors[n] = vector
    limit = threshold(conn, tenant_id)
    stored = _nearest_stored(conn, tenant_id, [items[n] for n in new], [vectors[n] for n in new])
    matches = dict(zip(new, stored, strict=True))
    return _Screen(conn, tenant_id, items, vectors, on_duplicate).run(new, matches, limit)


class _Screen:
    """One pass over a batch: each new row placed, skipped or merged, in order."""

    def __init__(
        self,
        conn: Connection,
        tenant_id: str,
        items: list[ItemIn],
        vectors: list[Any],
        on_duplicate: OnDuplicate,
    ) -> None:
        self.conn, self.tenant_id, self.items = conn, tenant_id, items
        self.on_duplicate = on_duplicate
        self.out = Screened([], [])
        self.vectors = vectors
        self.by_key: dict[Key, int] = {}
        # The new rows kept so far, as unit vectors in a matrix grown row by row.
        self.kept: list[int] = []
        self.matrix = np.zeros((len(items), _width(vectors)), dtype=np.float32)
        self.kinds = np.zeros(len(items), dtype=np.int16)
        self.kept_at: dict[Key, list[int]] = {}  # key -> places in ``kept``

    def _keep(self, n: int) -> None:
        at = len(self.kept)
        self.matrix[at] = _unit(self.vectors[n])
        self.kinds[at] = KINDS.index(self.items[n].kind)
        key = _key(self.items[n])
        if key is not None:
            self.kept_at.setdefault(key, []).append(at)
        self.kept.append(n)

    def run(self, new: list[int], stored: dict[int, _Match | None], limit: float) -> Screened:
        checked = set(new)
        for n, item in enumerate(self.items):
            match = self._best(n, stored.get(n)) if n in checked else None
            if match is None or match.similarity < limit:
                self._place(n, item)
            else:
                self._duplicate(n, item, match)
            if n in checked and self.out.placed[n] is not None and n not in self.out.merged:
                self._keep(n)
        return self.out

    def _best(self, n: int, stored: _Match | None) -> _Match | None:
        """The most similar of the stored match and the earlier kept new rows of its kind
        (a row of the same key is the same item, named again)."""
        if not self.kept:
            return stored
        item = self.items[n]
        sims = self.matrix[: len(self.kept)] @ _unit(self.vectors[n])
        sims[self.kinds[: len(self.kept)] != KINDS.index(item.kind)] = -2.0
        key = _key(item)
        sims[self.kept_at.get(key, []) if key is not None else []] = -2.0
        best = int(np.argmax(sims))
        if float(sims[best]) > -2.0 and (stored is None or float(sims[best]) > stored.similarity):
            peer = self.items[self.kept[best]]
            return _Match(float(sims[best]), peer.title, peer.external_id, row=self.kept[best])
        return stored

    def _place(self, n: int, item: ItemIn) -> int:
        self.out.rows.append(item)
        self.out.vectors.append(self.vectors[n])
        self.out.placed.append(len(self.out.rows) - 1)
        key = _key(item)
        if key is not None:
            self.by_key[key] = len(self.out.rows) - 1
        return len(self.out.rows) - 1

    def _duplicate(self, n: int, item: ItemIn, match: _Match) -> None:
        action = ACTIONS[self.on_duplicate]
        self.out.found.append(
            DuplicateFound(
                title=item.title,
                external_id=item.external_id,
                item_id=match.item_id,
                duplicate_title=match.title,
                duplicate_external_id=match.external_id,
                similarity=round(match.similarity, 4),
                action=action,
            )
        )
        if action == "kept":
            self._place(n, item)
            return
        self.out.placed.append(None)
        if action == "merged":
            target = self._target(match)
            self.out.rows[target] = merge(self.out.rows[target], item)
            self.out.placed[n] = target
            self.out.merged.add(n)

    def _target(self, match: _Match) -> int:
        """The index of the row a duplicate merges into (a stored item becomes a row)."""
        if match.row is not None:
            placed = self.out.placed[match.row]
            assert placed is not None
            return placed
        assert match.item_id is not None
        row = _merge_target(self.conn, self.tenant_id, match.item_id)
        key = _key(row)
        assert key is not None
        if key not in self.by_key:
            self.out.rows.append(row)
            self.out.vectors.append(None)  # title and body stay: the stored vector serves
            self.by_key[key] = len(self.out.rows) - 1
        return self.by_key[key]


def merge(target: ItemIn, incoming: ItemIn) -> ItemIn:
    """``target`` with what ``incoming`` adds: its tags, its body where the target has none,
    and its title and external_id listed under ``attrs["merged"]``.

    >>> a = ItemIn(kind="faq", title="Reset a password", tags=["account"])
    >>> b = ItemIn(kind="faq", title="Forgot my password", body="Use the link", tags=["login"])
    >>> m = merge(a, b)
    >>> m.title, m.body, m.tags
    ('Reset a password', 'Use the link', ['account', 'login'])
    >>> m.attrs["merged"]
    [{'title': 'Forgot my password', 'external_id': None}]
    """
    entry = {"title": incoming.title, "external_id": incoming.external_id}
    merged = [e for e in target.attrs.get("merged", []) if e != entry] + [entry]
    return target.model_copy(
        update={
            "body": target.body or incoming.body,
            "tags": list(dict.fromkeys([*target.tags, *incoming.tags]))[:MAX_TAGS],
            "attrs": target.attrs | {"merged": merged[-MAX_MERGED:]},
        }
    )


def _nearest_stored(
    conn: Connection, tenant_id: str, items: list[ItemIn], vectors: list[Any]
) -> list[_Match | None]:
    params = {"tenant_id": tenant_id, "vectors": vectors, "kinds": [i.kind for i in items]}
    row = conn.execute(Q["count_of_kinds"], params).fetchone()
    stored = 0 if row is None else int(row["n"])
    if not stored:
        return [None] * len(items)
    before = conn.execute(Q["scan_settings"]).fetchone()
    conn.execute(Q["exact_scan"] if stored < EXACT_BELOW else Q["search_breadth"])
    found = {row["n"]: row for row in conn.execute(Q["nearest_of_kind"], params).fetchall()}
    conn.execute(Q["restore_scan_settings"], before)
    return [
        _Match(float(r["similarity"]), r["title"], r["external_id"], item_id=r["item_id"])
        if (r := found.get(n)) is not None
        else None
        for n in range(1, len(items) + 1)
    ]


def _merge_target(conn: Connection, tenant_id: str, item_id: int) -> ItemIn:
    params = {"tenant_id": tenant_id, "item_id": item_id}
    row = conn.execute(Q["merge_target"], params).fetchone()
    assert row is not None  # found by the nearest search in this transaction
    if row["external_id"] is None:
        named = conn.execute(Q["name_item"], params).fetchone()
        assert named is not None
        row["external_id"] = named["external_id"]
    row.pop("item_id")
    return ItemIn.model_validate(row | {"tags": list(row["tags"])})


def _width(vectors: list[Any]) -> int:
    return next((len(v) for v in vectors if v is not None), 0)


def _unit(vector: Any) -> Any:
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm else array


def _key(item: ItemIn) -> Key | None:
    return None if item.external_id is None else (str(item.kind), item.external_id)

"""Entities of messages and transcripts: extracted when they are stored, kept with their
offsets, found again by label, value, item or account."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from learnloop._sql import load_queries
from learnloop.entities import patterns
from learnloop.entities.extract import extract
from learnloop.entities.gazetteer import Gazetteer, Name
from learnloop.entities.models import Entity, EntityCount, EntityHit, Source
from learnloop.entities.ner import Ner
from learnloop.errors import InvalidInput
from learnloop.ports import Connection, Store

Q = load_queries("learnloop.entities")
MAX_NAMES = 50_000
SNIPPET = 60
BATCH = 500
ITEM_LABELS = {"account": "account", "kpi": "kpi", "tool": "tool"}


class Entities:
    def __init__(
        self, db: Store, *, ner: Ner | None = None, region: str = "US", cutoff: float = 90.0
    ):
        self.db = db
        self.ner = ner
        self.region = region
        self.cutoff = cutoff
        self._cache: dict[str, tuple[str, Gazetteer]] = {}
        self._lock = threading.Lock()

    def gazetteer(self, conn: Connection, tenant_id: str) -> Gazetteer:
        """The tenant's names, rebuilt when its items, accounts or KPIs changed."""
        params = {"tenant_id": tenant_id, "limit": MAX_NAMES}
        row = conn.execute(Q["names_signature"], params).fetchone()
        signature = str(row["signature"]) if row else ""
        with self._lock:
            cached = self._cache.get(tenant_id)
        if cached is not None and cached[0] == signature:
            return cached[1]
        built = Gazetteer(_names(conn, params), cutoff=self.cutoff)
        with self._lock:
            self._cache[tenant_id] = (signature, built)
        return built

    def extract(self, tenant_id: str, text: str, conn: Connection | None = None) -> list[Entity]:
        """The entities of a text, the tenant's own names linked to their records."""
        if conn is None:
            with self.db.connection() as own:
                return self.extract(tenant_id, text, own)
        return extract(text, self.gazetteer(conn, tenant_id), region=self.region, ner=self.ner)

    def stored(self, tenant_id: str, text: str, conn: Connection) -> Jsonb:
        """The entities of a text as the JSON a message or transcript row keeps."""
        found = self.extract(tenant_id, text, conn)
        return Jsonb([e.model_dump(exclude_none=True) for e in found])

    def search(
        self,
        tenant_id: str,
        *,
        label: str | None = None,
        value: str | None = None,
        item_id: int | None = None,
        account_id: str | None = None,
        source: Source | None = None,
        limit: int = 50,
    ) -> list[EntityHit]:
        """Messages and transcripts holding an entity that matches every criterion given."""
        if not 1 <= limit <= 500:
            raise InvalidInput(f"limit must be between 1 and 500, not {limit}")
        wanted = _pattern(label, value, item_id, account_id, self.region)
        params = {"tenant_id": tenant_id, "pattern": Jsonb([wanted]), "limit": limit}
        rows: list[dict[str, Any]] = []
        with self.db.connection() as conn:
            for kind in ("message", "transcript"):
                if source in (None, kind):
                    rows += conn.execute(Q[f"search_{kind}s"], params).fetchall()
        rows.sort(key=lambda r: r["created_at"], reverse=True)
        return [_hit(row, wanted) for row in rows[:limit]]

    def top(
        self, tenant_id: str, *, label: str | None = None, days: int = 30, limit: int = 20
    ) -> list[EntityCount]:
        """The most mentioned entities of the last ``days`` days."""
        if not 1 <= days <= 3650 or not 1 <= limit <= 500:
            raise InvalidInput("days must be 1..3650 and limit 1..500")
        since = datetime.now(UTC) - timedelta(days=days)
        params = {"tenant_id": tenant_id, "label": label, "since": since, "limit": limit}
        with self.db.connection() as conn:
            rows = conn.execute(Q["top_entities"], params).fetchall()
        return [EntityCount.model_validate(row) for row in rows]

    def reindex(self, tenant_id: str) -> dict[str, int]:
        """Extract again the entities of every message and transcript of the tenant (after
        new accounts, items or KPIs, or another NER model)."""
        counts = {"messages": 0, "transcripts": 0}
        for batch in self._batches(tenant_id):
            with self.db.transaction() as conn:
                for query, row in batch:
                    entities = self.stored(tenant_id, row["text"], conn)
                    conn.execute(Q[query], row | {"tenant_id": tenant_id, "entities": entities})
                    counts["messages" if "message" in query else "transcripts"] += 1
        return counts

    def _batches(self, tenant_id: str) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        params: dict[str, Any] = {
            "tenant_id": tenant_id,
            "limit": BATCH,
            "after_conversation": "",
            "after_seq": 0,
            "after": 0,
        }
        while True:
            with self.db.connection() as conn:
                rows = conn.execute(Q["messages_to_index"], params).fetchall()
            if not rows:
                break
            params |= {
                "after_conversation": rows[-1]["conversation_id"],
                "after_seq": rows[-1]["seq"],
            }
            yield [("set_message_entities", r) for r in rows]
        while True:
            with self.db.connection() as conn:
                rows = conn.execute(Q["transcripts_to_index"], params).fetchall()
            if not rows:
                break
            params["after"] = rows[-1]["transcript_id"]
            yield [("set_transcript_entities", r) for r in rows]


def _names(conn: Connection, params: dict[str, Any]) -> Iterator[Name]:
    for row in conn.execute(Q["account_names"], params).fetchall():
        yield Name(row["name"], "account", account_id=row["account_id"])
        yield Name(row["account_id"], "account", account_id=row["account_id"], value=row["name"])
    for row in conn.execute(Q["kpi_names"], params).fetchall():
        yield Name(row["kpi"], "kpi")
    for row in conn.execute(Q["item_names"], params).fetchall():
        if row["kind"] == "correction":
            continue
        kind = str(row["kind"])
        label = "product" if "product" in row["tags"] else ITEM_LABELS.get(kind, kind)
        yield Name(row["title"], label, item_id=row["item_id"], account_id=row["account_id"])
        aliases = row["aliases"] if isinstance(row["aliases"], list) else []
        for alias in aliases:
            if isinstance(alias, str) and alias.strip():
                yield Name(
                    alias,
                    label,
                    item_id=row["item_id"],
                    account_id=row["account_id"],
                    value=row["title"],
                )


def _pattern(
    label: str | None,
    value: str | None,
    item_id: int | None,
    account_id: str | None,
    region: str,
) -> dict[str, Any]:
    """The JSON containment an entity must match; a value is normalised as it was stored
    (a phone to E.164, an e-mail to lower case)."""
    wanted: dict[str, Any] = {}
    if label:
        wanted["label"] = label
    if value is not None and value.strip():
        wanted["key"] = normalised(value.strip(), label, region)
    if item_id is not None:
        wanted["item_id"] = item_id
    if account_id:
        wanted["account_id"] = account_id
    if not wanted:
        raise InvalidInput("name what to look for: label, value, item_id or account_id")
    return wanted


def normalised(value: str, label: str | None, region: str = "US") -> str:
    """The key a written value is stored under: '(415) 555-0199' -> '+14155550199'.

    >>> normalised("(415) 555-0199", "phone"), normalised("Ana@Acme.IO", None)
    ('+14155550199', 'ana@acme.io')
    """
    whole = [
        e
        for e in patterns.find(value, region)
        if e.start == 0 and e.end == len(value) and label in (None, e.label)
    ]
    return whole[0].key if whole else value.casefold()


def _hit(row: dict[str, Any], wanted: dict[str, Any]) -> EntityHit:
    matched = [
        Entity.model_validate(e)
        for e in row["entities"]
        if all(e.get(k) == v for k, v in wanted.items())
    ]
    text: str = row["text"]
    first = matched[0] if matched else None
    start = max(0, first.start - SNIPPET) if first else 0
    end = min(len(text), first.end + SNIPPET) if first else 2 * SNIPPET
    snippet = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    return EntityHit(
        source=row["source"],
        conversation_id=row["conversation_id"],
        seq=row["seq"],
        transcript_id=row["transcript_id"],
        account_id=row["account_id"],
        created_at=row["created_at"],
        snippet=snippet,
        entities=matched,
    )

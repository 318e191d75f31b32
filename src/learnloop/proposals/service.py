"""The learning queue: add, list, edit, approve, reject, apply and roll back proposals."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import date
from typing import Any, NoReturn, get_args

from psycopg.types.json import Jsonb

from learnloop._sql import load_queries
from learnloop.errors import Conflict, InvalidInput, NotFound
from learnloop.knowledge import Items
from learnloop.knowledge.models import embedding_text
from learnloop.ports import Connection, Embedder, Store
from learnloop.proposals import apply, duplicates
from learnloop.proposals.models import (
    EMPTY,
    AuditEntry,
    LearningMetric,
    Order,
    Proposal,
    ProposalEdit,
    ProposalIn,
    ProposalStatus,
    ResponsePerformance,
    Review,
    Source,
)
from learnloop.validation import parse

Q = load_queries("learnloop.proposals")
MAX_PAGE = 500
STATUSES: tuple[str, ...] = get_args(ProposalStatus)
SOURCES: tuple[str, ...] = get_args(Source)
# A review moves a proposal only from these; a failed one is approved again once edited.
FROM_STATUSES = {"approved": ["pending", "failed"], "rejected": ["pending", "approved", "failed"]}


class Proposals:
    """Every tenant's learning queue; each call names its tenant and sees nothing else."""

    def __init__(self, db: Store, embedder: Embedder, items: Items):
        self.db = db
        self.embedder = embedder
        self.items = items

    def add(self, tenant_id: str, data: ProposalIn | dict[str, Any]) -> Proposal:
        """A proposal by hand, embedded and checked for duplicates at once."""
        proposal = parse(ProposalIn, data)
        with self.db.transaction() as conn:
            kind, title = self._subject(conn, tenant_id, proposal)
            params = {
                "tenant_id": tenant_id,
                "item_id": proposal.item_id,
                "kind": kind,
                "external_id": None,
                "title": title,
                "body": proposal.body,
                "tags": proposal.tags,
                "attrs": Jsonb({}),
                "rationale": proposal.rationale,
                "confidence": proposal.confidence,
            }
            row = conn.execute(Q["insert_proposal"], params).fetchone()
            assert row is not None
            self._embed(conn, row)
            proposal_id = int(row["proposal_id"])
            actor = proposal.author or "api"
            _audit(conn, tenant_id, proposal_id, "created", actor, proposal.rationale or None)
        return self.get(tenant_id, proposal_id)

    def _subject(self, conn: Connection, tenant_id: str, proposal: ProposalIn) -> tuple[str, str]:
        """The kind and title of what the proposal changes; NotFound for an unknown item."""
        if proposal.item_id is None:
            assert proposal.title is not None
            return proposal.kind or "faq", proposal.title
        params = {"tenant_id": tenant_id, "item_id": proposal.item_id}
        item = conn.execute(Q["target_item"], params).fetchone()
        if item is None:
            raise NotFound(f"item_id: no item {proposal.item_id} in this tenant")
        if proposal.kind is not None and proposal.kind != item["kind"]:
            raise InvalidInput(
                f"kind: item {proposal.item_id} is a {item['kind']}, not a {proposal.kind}; "
                "leave kind out when revising an item"
            )
        return item["kind"], proposal.title or item["title"]

    def _embed(self, conn: Connection, row: dict[str, Any]) -> None:
        """Embed a proposal just written and check it for duplicates, in its transaction."""
        vector = self.embedder.embed([embedding_text(row["title"], row["body"])])[0]
        limit = duplicates.threshold(conn, row["tenant_id"])
        duplicates.store_vector(conn, row, vector, limit)

    def get(self, tenant_id: str, proposal_id: int) -> Proposal:
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "proposal_id": proposal_id}
            row = conn.execute(Q["get_proposal"], params).fetchone()
        if row is None:
            raise NotFound(f"no proposal {proposal_id} in this tenant")
        return Proposal.from_row(row)

    def list(
        self,
        tenant_id: str,
        *,
        status: str = "pending",
        sources: Sequence[str] | None = None,
        min_confidence: int = 0,
        duplicates_only: bool = False,
        order: Order = "confidence",
        limit: int = 50,
        offset: int = 0,
    ) -> list[Proposal]:
        """A page of proposals of one status: most confident first, or oldest first."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
        if status not in STATUSES:
            raise InvalidInput(f"status must be one of {list(STATUSES)}, not {status!r}")
        if unknown := set(sources or []) - set(SOURCES):
            raise InvalidInput(f"source must be among {list(SOURCES)}, not {sorted(unknown)}")
        if offset < 0:
            raise InvalidInput(f"offset must be 0 or more, not {offset}")
        params = {
            "tenant_id": tenant_id,
            "status": status,
            "sources": list(sources) if sources else None,
            "min_confidence": min_confidence,
            "duplicates": duplicates_only,
            "limit": limit,
            "offset": offset,
        }
        query = Q["list_by_age"] if order == "age" else Q["list_by_confidence"]
        with self.db.connection() as conn:
            rows = conn.execute(query, params).fetchall()
        return [Proposal.from_row(row) for row in rows]

    def edit(
        self, tenant_id: str, proposal_id: int, data: ProposalEdit | dict[str, Any]
    ) -> Proposal:
        """New content for a pending, approved or failed proposal; it is embedded and checked
        again."""
        edit = parse(ProposalEdit, data)
        fields = ("title", "body", "tags", "rationale", "confidence")
        changes = {name: getattr(edit, name) for name in fields}
        with self.db.transaction() as conn:
            params = {"tenant_id": tenant_id, "proposal_id": proposal_id} | changes
            row = conn.execute(Q["edit_proposal"], params).fetchone()
            if row is None:
                self._refuse(conn, tenant_id, proposal_id, "edited")
            self._embed(conn, row)
            detail = {k: v for k, v in changes.items() if v is not None}
            _audit(conn, tenant_id, proposal_id, "edited", edit.reviewer, edit.note, detail)
        return self.get(tenant_id, proposal_id)

    def approve(
        self, tenant_id: str, proposal_id: int, review: Review | dict[str, Any]
    ) -> Proposal:
        """Approve a pending (or failed) proposal; the worker applies it (or ``apply`` now)."""
        return self._review(tenant_id, proposal_id, parse(Review, review), "approved")

    def reject(
        self, tenant_id: str, proposal_id: int, review: Review | dict[str, Any]
    ) -> Proposal:
        """Reject a pending, approved (not yet applied) or failed proposal."""
        return self._review(tenant_id, proposal_id, parse(Review, review), "rejected")

    def _review(self, tenant_id: str, proposal_id: int, review: Review, to: str) -> Proposal:
        params = {
            "tenant_id": tenant_id,
            "proposal_id": proposal_id,
            "status": to,
            "reviewer": review.reviewer,
            "note": review.note,
            "from_statuses": FROM_STATUSES[to],
        }
        with self.db.transaction() as conn:
            if to == "approved":
                self._check_content(conn, tenant_id, proposal_id)
            if conn.execute(Q["review_proposal"], params).fetchone() is None:
                self._refuse(conn, tenant_id, proposal_id, to)
            _audit(conn, tenant_id, proposal_id, to, review.reviewer, review.note)
        return self.get(tenant_id, proposal_id)

    def _check_content(self, conn: Connection, tenant_id: str, proposal_id: int) -> None:
        row = self._status(conn, tenant_id, proposal_id)
        if not row["body"].strip():
            raise InvalidInput(f"proposal {proposal_id}: {EMPTY} (edit it, then approve)")
        if row["item_id"] is not None:
            params = {"tenant_id": tenant_id, "item_id": row["item_id"]}
            if conn.execute(Q["target_item"], params).fetchone() is None:
                raise NotFound(f"proposal {proposal_id} revises item {row['item_id']}, now gone")

    def _status(self, conn: Connection, tenant_id: str, proposal_id: int) -> dict[str, Any]:
        params = {"tenant_id": tenant_id, "proposal_id": proposal_id}
        row = conn.execute(Q["proposal_status"], params).fetchone()
        if row is None:
            raise NotFound(f"no proposal {proposal_id} in this tenant")
        return row

    def _refuse(self, conn: Connection, tenant_id: str, proposal_id: int, what: str) -> NoReturn:
        status = self._status(conn, tenant_id, proposal_id)["status"]
        raise Conflict(f"proposal {proposal_id} is {status}; it cannot be {what}")

    def apply(self, *, batch: int = 100, tenant_id: str | None = None) -> int:
        """Apply approved proposals now, of one tenant or of all; return how many."""
        return apply.apply_approved(self.db, self.items, batch=batch, tenant_id=tenant_id)

    def rollback(
        self, tenant_id: str, proposal_id: int, review: Review | dict[str, Any]
    ) -> Proposal:
        """Undo an applied proposal: the item gets back its previous version's content."""
        who = parse(Review, review)
        apply.rollback(self.db, self.items, tenant_id, proposal_id, who.reviewer, who.note)
        return self.get(tenant_id, proposal_id)

    def audit(self, tenant_id: str, proposal_id: int) -> builtins.list[AuditEntry]:
        self.get(tenant_id, proposal_id)
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "proposal_id": proposal_id}
            rows = conn.execute(Q["list_audit"], params).fetchall()
        return [AuditEntry.model_validate(row) for row in rows]

    def duplicate_threshold(self, tenant_id: str) -> float:
        """The cosine similarity at or above which a proposal is linked as a duplicate."""
        with self.db.connection() as conn:
            return duplicates.threshold(conn, tenant_id)

    def set_duplicate_threshold(self, tenant_id: str, threshold: float) -> float:
        if not 0 < threshold <= 1:
            raise InvalidInput(
                f"duplicate_threshold must be above 0 and at most 1, not {threshold}"
            )
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "threshold": threshold}
            row = conn.execute(Q["set_duplicate_threshold"], params).fetchone()
        if row is None:
            raise NotFound(f"no tenant {tenant_id!r}")
        return float(row["threshold"])

    def learning_metrics(self, tenant_id: str, *, since: date) -> builtins.list[LearningMetric]:
        """Daily proposals by source and status, as of the last refresh of the views."""
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "since": since}
            rows = conn.execute(Q["learning_metrics"], params).fetchall()
        return [LearningMetric.model_validate(row) for row in rows]

    def response_performance(
        self, tenant_id: str, *, since: date
    ) -> builtins.list[ResponsePerformance]:
        """Daily impressions, events, feedback and corrections, as of the last refresh."""
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "since": since}
            rows = conn.execute(Q["response_performance"], params).fetchall()
        return [ResponsePerformance.model_validate(row) for row in rows]


def refresh_views(db: Store) -> None:
    """Refresh the learning metric views concurrently: readers are never blocked."""
    with db.connection() as conn:
        conn.execute(Q["refresh_views"])


def _audit(
    conn: Connection,
    tenant_id: str,
    proposal_id: int,
    action: str,
    actor: str,
    note: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    params = {
        "tenant_id": tenant_id,
        "proposal_id": proposal_id,
        "action": action,
        "actor": actor,
        "note": note,
        "detail": Jsonb(detail or {}),
    }
    conn.execute(Q["insert_audit"], params)

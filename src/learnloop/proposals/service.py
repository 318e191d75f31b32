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
from learnloop.proposals import apply, duplicates, threshold
from learnloop.proposals.models import (
    EMPTY,
    AuditEntry,
    DuplicateDecision,
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
from learnloop.proposals.threshold import ThresholdFit
from learnloop.validation import parse

Q = load_queries("learnloop.proposals")
MAX_PAGE = 500
STATUSES: tuple[str, ...] = get_args(ProposalStatus)
SOURCES: tuple[str, ...] = get_args(Source)
# A review moves a proposal only from these; a failed one is approved again once edited.
FROM_STATUSES = {"approved": ["pending", "failed"], "rejected": ["pending", "approved", "failed"]}
UNDER_REVIEW = ("pending", "approved", "failed")


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

    def reject(self, tenant_id: str, proposal_id: int, review: Review | dict[str, Any]) -> Proposal:
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

    def decide_duplicate(
        self, tenant_id: str, proposal_id: int, data: DuplicateDecision | dict[str, Any]
    ) -> Proposal:
        """Record a reviewer's decision on a duplicate pair (the evidence the threshold is
        learned from) and act on it: ``merge`` makes a new-item proposal a revision of the
        item it repeats (otherwise rejects it as a duplicate); ``distinct`` drops the link."""
        decision = parse(DuplicateDecision, data)
        with self.db.transaction() as conn:
            row = conn.execute(Q["proposal_pair"], _ids(tenant_id, proposal_id)).fetchone()
            if row is None:
                raise NotFound(f"no proposal {proposal_id} in this tenant")
            if row["status"] not in UNDER_REVIEW:
                raise Conflict(
                    f"proposal {proposal_id} is {row['status']}; only a proposal "
                    "under review can be merged or kept apart"
                )
            kind, other, similarity = _pair(conn, tenant_id, row, decision)
            conn.execute(
                Q["insert_duplicate_decision"],
                _ids(tenant_id, proposal_id)
                | {
                    "other_kind": kind,
                    "other_id": other,
                    "similarity": similarity,
                    "decision": decision.decision,
                    "reviewer": decision.reviewer,
                    "note": decision.note,
                },
            )
            action = _act(conn, tenant_id, row, decision, kind, other)
            detail = {"other_kind": kind, "other_id": other, "similarity": similarity}
            _audit(conn, tenant_id, proposal_id, action, decision.reviewer, decision.note, detail)
        return self.get(tenant_id, proposal_id)

    def learn_duplicate_threshold(self, tenant_id: str, *, save: bool = True) -> ThresholdFit:
        """The threshold with the best F1 on the tenant's duplicate decisions (the latest
        per pair), set when there is enough evidence and it does better (``save``)."""
        with self.db.transaction() as conn:
            rows = conn.execute(Q["decided_pairs"], {"tenant_id": tenant_id}).fetchall()
            pairs = [(float(r["similarity"]), bool(r["merged"])) for r in rows]
            found = threshold.fit(pairs, duplicates.threshold(conn, tenant_id))
            if save and found.learned:
                params = {"tenant_id": tenant_id, "threshold": found.threshold}
                if conn.execute(Q["set_duplicate_threshold"], params).fetchone() is None:
                    raise NotFound(f"no tenant {tenant_id!r}")
                found.saved = True
        return found

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


def _ids(tenant_id: str, proposal_id: int) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "proposal_id": proposal_id}


def _pair(
    conn: Connection, tenant_id: str, row: dict[str, Any], decision: DuplicateDecision
) -> tuple[str, int, float]:
    """The other side of the pair decided on, and the pair's similarity."""
    proposal_id = row["proposal_id"]
    if decision.item_id is None and decision.proposal_id is None:
        if row["duplicate_item_id"] is not None:
            return "item", row["duplicate_item_id"], float(row["similarity"])
        if row["duplicate_proposal_id"] is not None:
            return "proposal", row["duplicate_proposal_id"], float(row["similarity"])
        raise InvalidInput(
            f"proposal {proposal_id} is linked to no duplicate; name the "
            "item_id or proposal_id it repeats (or does not)"
        )
    kind = "item" if decision.item_id is not None else "proposal"
    other = decision.item_id if decision.item_id is not None else decision.proposal_id
    assert other is not None
    if kind == "item" and other == row["item_id"]:
        raise InvalidInput(
            f"item_id: proposal {proposal_id} revises item {other}; a pair is "
            "a proposal and another item"
        )
    params = _ids(tenant_id, proposal_id) | {"other_id": other}
    found = conn.execute(Q[f"pair_similarity_{kind}"], params).fetchone()
    if found is None:
        raise NotFound(f"{kind}_id: no {kind} {other} in this tenant (other than this one)")
    if found["similarity"] is None:
        raise Conflict(
            f"proposal {proposal_id} or {kind} {other} has no vector yet; the "
            "worker embeds it within seconds, then decide again"
        )
    return kind, other, max(-1.0, min(1.0, float(found["similarity"])))


def _act(
    conn: Connection,
    tenant_id: str,
    row: dict[str, Any],
    decision: DuplicateDecision,
    kind: str,
    other: int,
) -> str:
    """Carry out a decision on a pair; the audit action it makes."""
    params = _ids(tenant_id, row["proposal_id"])
    if decision.decision == "distinct":
        linked = row["duplicate_item_id"] if kind == "item" else row["duplicate_proposal_id"]
        if linked == other:
            conn.execute(Q["keep_apart"], params)
        return "distinct"
    if kind == "item" and row["item_id"] is None:
        conn.execute(Q["merge_into_item"], params | {"item_id": other})
    else:
        note = decision.note or f"a duplicate of {kind} {other}"
        conn.execute(
            Q["reject_as_duplicate"], params | {"reviewer": decision.reviewer, "note": note}
        )
    return "merged"


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

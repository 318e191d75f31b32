"""Playbook recommendations for an account, from what worked for accounts like it.

Accounts are compared by their latest KPI values (table ``kpi_values``); the reports of
the most similar accounts say which playbooks ran there and what improved. See
``learnloop.context.effects`` for the arithmetic.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from learnloop._sql import load_queries
from learnloop.context import effects
from learnloop.context.models import (
    Evidence,
    PlaybookAdvice,
    PlaybookRecommendation,
    PlaybookRequest,
    SimilarAccount,
)
from learnloop.errors import NotFound
from learnloop.ports import Store
from learnloop.validation import parse

Q = load_queries("learnloop.context")
MAX_REPORTS = 5000  # reports of similar accounts read per recommendation
EVIDENCE = 5  # reports shown per playbook


class Playbooks:
    def __init__(self, db: Store):
        self.db = db

    def recommend(
        self, tenant_id: str, request: PlaybookRequest | dict[str, Any]
    ) -> PlaybookAdvice:
        """The playbooks that worked best for the accounts whose KPIs are most like these."""
        req = parse(PlaybookRequest, request)
        kpis = self._kpis(tenant_id, req.account)
        found = effects.similarities(kpis, req.account)
        near = [
            SimilarAccount(account_id=account, similarity=s, shared_kpis=n)
            for account, (s, n) in found.items()
            if s > 0
        ]
        near = sorted(near, key=lambda a: (-a.similarity, a.account_id))[: req.neighbours]
        reports = self._reports(tenant_id, [req.account, *(a.account_id for a in near)])
        tried = {r["playbook"] for r in reports if r["account"] == req.account}
        weight = {a.account_id: a.similarity for a in near}
        by_playbook: dict[str, list[tuple[dict[str, Any], Evidence]]] = defaultdict(list)
        for r in reports:
            if r["account"] in weight and (req.include_tried or r["playbook"] not in tried):
                by_playbook[r["playbook"]].append((r, _evidence(r, weight[r["account"]])))
        ranked = sorted(
            (_recommendation(name, rows, name in tried) for name, rows in by_playbook.items()),
            key=lambda p: (-p.score, p.playbook),
        )[: req.k]
        for n, rec in enumerate(ranked, 1):
            rec.rank = n
        return PlaybookAdvice(
            account=req.account,
            kpis=kpis.get(req.account, {}),
            similar_accounts=near,
            recommendations=ranked,
        )

    def _kpis(self, tenant_id: str, account: str) -> dict[str, dict[str, float]]:
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "account_id": account}
            if conn.execute(Q["account_exists"], params).fetchone() is None:
                raise NotFound(f"no account {account!r} in this tenant")
            rows = conn.execute(Q["latest_kpis"], params).fetchall()
        kpis: dict[str, dict[str, float]] = defaultdict(dict)
        for row in rows:
            kpis[row["account_id"]][row["kpi"]] = float(row["value"])
        return kpis

    def _reports(self, tenant_id: str, accounts: list[str]) -> list[dict[str, Any]]:
        params = {"tenant_id": tenant_id, "accounts": accounts, "limit": MAX_REPORTS}
        with self.db.connection() as conn:
            return conn.execute(Q["reports_of_accounts"], params).fetchall()


def _evidence(report: dict[str, Any], similarity: float) -> Evidence:
    changes = effects.improvements(report["outcomes"])
    return Evidence(
        report_id=report["report_id"],
        account_id=report["account"],
        similarity=similarity,
        status=report["status"],
        effect=effects.effect(report["status"], changes),
        improvements=changes,
        summary=report["executive_summary"],
    )


def _recommendation(
    playbook: str, rows: list[tuple[dict[str, Any], Evidence]], tried: bool
) -> PlaybookRecommendation:
    evidence = sorted((e for _, e in rows), key=lambda e: (-e.similarity, -e.effect))
    item_ids = [r["playbook_item_id"] for r, _ in rows if r["playbook_item_id"] is not None]
    return PlaybookRecommendation(
        rank=0,
        playbook=playbook,
        playbook_item_id=item_ids[0] if item_ids else None,
        score=effects.playbook_score([(e.similarity, e.effect) for e in evidence]),
        reports=len(evidence),
        worked=sum(e.effect > 0 for e in evidence),
        tried_by_account=tried,
        evidence=evidence[:EVIDENCE],
    )

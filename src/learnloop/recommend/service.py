"""Recommend: search, let the policy rank and decide, and log the impression it shows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import numpy as np
from psycopg.types.json import Jsonb

from learnloop._ids import uuid7
from learnloop._sql import load_queries
from learnloop.errors import InvalidInput, NotFound
from learnloop.knowledge import Items, Search
from learnloop.knowledge.models import Item, SearchHit
from learnloop.learn.config import LearningConfig
from learnloop.learn.live import Policies, Question
from learnloop.learn.policies import Arm, Policy, explored
from learnloop.ports import Connection, Store
from learnloop.recommend import confidence as baseline
from learnloop.recommend import policy
from learnloop.recommend.models import (
    Impression,
    Recommendation,
    RecommendRequest,
    RecommendResponse,
)
from learnloop.recommend.setup import Setup, _setup
from learnloop.telemetry import traced
from learnloop.validation import parse

Q = load_queries("learnloop.recommend")
CANDIDATES = 10  # candidates ranked per impression, shown or not
SUGGESTED = 5  # at most this many more that a policy asks for (memory: near answers)
# Deprecated items (lifecycle rules, or an owner) can still be recommended, but rank lower:
# their fused score and similarity count this much (so their confidence drops with them).
DEPRECATED_WEIGHT = 0.9
RECOMMENDABLE = ("active", "deprecated")


class Recommender:
    def __init__(self, db: Store, search: Search, items: Items):
        self.db = db
        self.search = search
        self.items = items
        self.policies = Policies()

    @traced("learnloop.recommend", lambda a: {
        "learnloop.impression_id": str(a.impression_id),
        "learnloop.strategy": a.strategy,
        "learnloop.results": len(a.recommendations),
    })  # fmt: skip
    def recommend(
        self,
        tenant_id: str,
        request: RecommendRequest | dict[str, Any],
        *,
        log: bool = True,
        explore: bool = True,
    ) -> RecommendResponse:
        """Rank items for a query with the tenant's policy (or its experiment variant's),
        show those the threshold lets through, log it with each candidate's propensity.

        In-process callers can ask for what would be shown without logging it (``log``
        False: nothing is stored, nothing is learned from it, the impression id is not
        kept) and without exploration (``explore`` False: the policy's best guess).
        """
        req = parse(RecommendRequest, request)
        log = log and not req.dry_run
        if log and req.idempotency_key and (seen := self._by_key(tenant_id, req.idempotency_key)):
            return self._replay(tenant_id, seen)
        hits = _demote_deprecated(
            self.search.search(
                tenant_id,
                req.query,
                k=max(CANDIDATES, req.k),
                kinds=req.kinds,
                statuses=RECOMMENDABLE,
            )
        )
        context = req.context.model_dump(exclude_none=True)
        question = Question(self.search.query_vector(req.query), self.search.embedder.name)
        with self.db.connection() as conn:
            setup = _setup(conn, tenant_id, context)
            config = setup.config if explore else _greedy(setup.config)
            raw = baseline.confidences(hits)  # logged: calibration is fitted on it
            relevances = setup.calibrate(raw)
            arms = _arms(hits, relevances)
            live = self.policies.build(
                conn, tenant_id, setup.policy, config, arms, context, question
            )
            extra = self._suggested(conn, tenant_id, live, hits, question, req)
            if extra:
                hits = hits + extra
                raw = baseline.confidences(hits)
                relevances = setup.calibrate(raw)
                arms = _arms(hits, relevances)
            shadow = self._shadow(conn, tenant_id, setup, config, arms, context, question)
        live = explored(live, config.uniform_exploration)
        rng = np.random.default_rng(req.seed)
        ranking = live.rank(arms, context, req.query, rng, setup.threshold)
        confidences = ranking.confidences or relevances
        chosen, ranked = policy.decide_ranked(
            hits,
            ranking,
            confidences,
            k=req.k,
            threshold=setup.threshold,
            single_confidence=setup.single_confidence,
            relevances=relevances,
            baselines=raw,
        )
        impression_id = uuid7()
        if not log:
            answer = _response(impression_id, chosen, ranked, setup, live, datetime.now(UTC))
            return answer.model_copy(update={"dry_run": True})
        with self.db.transaction() as conn:
            params = _impression_params(tenant_id, impression_id, req, chosen, setup, live)
            row = conn.execute(Q["insert_impression"], params).fetchone()
            if row is not None:
                _log_candidates(conn, tenant_id, impression_id, ranked)
                _log_question(conn, tenant_id, impression_id, question)
                if shadow is not None:
                    _log_shadow(
                        conn,
                        tenant_id,
                        impression_id,
                        shadow,
                        arms,
                        context,
                        req,
                        rng,
                        setup.threshold,
                    )
        if row is None:  # the same key committed meanwhile: answer as it was answered
            assert req.idempotency_key is not None
            return self._replay(tenant_id, self._by_key(tenant_id, req.idempotency_key))
        return _response(impression_id, chosen, ranked, setup, live, row["created_at"])

    def _suggested(
        self,
        conn: Connection,
        tenant_id: str,
        live: Policy,
        hits: list[SearchHit],
        question: Question,
        req: RecommendRequest,
    ) -> list[SearchHit]:
        """The items a policy asks to rank beside the search's candidates (the memory
        policy's answers to near questions), as hits found by neither side of the search."""
        suggest = getattr(live, "suggested", None)
        if suggest is None:
            return []
        wanted = suggest([h.item.item_id for h in hits])[:SUGGESTED]
        if not wanted:
            return []
        params = {
            "tenant_id": tenant_id,
            "item_ids": wanted,
            "query_vector": question.vector,
            "statuses": list(RECOMMENDABLE),
            "kinds": req.kinds,
        }
        rows = conn.execute(Q["candidates_by_id"], params).fetchall()
        found = [_suggested_hit(row) for row in rows]
        return _demote_deprecated(sorted(found, key=lambda h: -(h.similarity or 0.0)))

    def _shadow(
        self,
        conn: Connection,
        tenant_id: str,
        setup: Setup,
        config: LearningConfig,
        arms: list[Arm],
        context: dict[str, Any],
        question: Question,
    ) -> Policy | None:
        name = setup.config.shadow
        if name is None or name == setup.policy:
            return None
        return self.policies.build(conn, tenant_id, name, config, arms, context, question)

    def impression(self, tenant_id: str, impression_id: UUID) -> Impression:
        params = {"tenant_id": tenant_id, "impression_id": impression_id}
        with self.db.connection() as conn:
            row = conn.execute(Q["get_impression"], params).fetchone()
            if row is None:
                raise NotFound(f"no impression {impression_id} in this tenant")
            candidates = conn.execute(Q["impression_candidates"], params).fetchall()
        return Impression.model_validate(row | {"candidates": candidates})

    def owners(self, impression_ids: list[str]) -> dict[str, str]:
        """The tenant of each known impression id (ids that are not UUIDs are skipped)."""
        ids = [value for value in impression_ids if _is_uuid(value)]
        with self.db.connection() as conn:
            rows = conn.execute(Q["impression_tenants"], {"impression_ids": ids}).fetchall()
        return {str(row["impression_id"]): str(row["tenant_id"]) for row in rows}

    def threshold(self, tenant_id: str) -> float:
        with self.db.connection() as conn:
            row = conn.execute(Q["tenant_threshold"], {"tenant_id": tenant_id}).fetchone()
        if row is None:
            raise NotFound(f"no tenant {tenant_id!r}")
        return float(row["threshold"])

    def set_threshold(self, tenant_id: str, threshold: float) -> float:
        """The confidence an item needs to be shown, 0..1 (default 0.5)."""
        if not 0.0 <= threshold <= 1.0:
            raise InvalidInput(f"confidence_threshold must be between 0 and 1, not {threshold}")
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "threshold": threshold}
            if conn.execute(Q["set_threshold"], params).fetchone() is None:
                raise NotFound(f"no tenant {tenant_id!r}")
        return threshold

    def _as_shown(self, tenant_id: str, item_id: int, version: int) -> Item:
        """The item as it was when the impression showed it."""
        current = self.items.get(tenant_id, item_id)
        if current.version == version:
            return current
        then = self.items.version(tenant_id, item_id, version)
        return current.model_copy(update=then.model_dump(exclude={"created_at"}))

    def _by_key(self, tenant_id: str, key: str) -> UUID | None:
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "idempotency_key": key}
            row = conn.execute(Q["impression_by_key"], params).fetchone()
        return None if row is None else UUID(str(row["impression_id"]))

    def _replay(self, tenant_id: str, impression_id: UUID | None) -> RecommendResponse:
        assert impression_id is not None
        logged = self.impression(tenant_id, impression_id)
        shown = [c for c in logged.candidates if c.shown]
        recommendations = [
            Recommendation(
                rank=c.rank,
                item=self._as_shown(tenant_id, c.item_id, c.item_version),
                score=c.score,
                similarity=c.similarity,
                confidence=c.confidence,
                propensity=c.propensity,
            )
            for c in shown
        ]
        return RecommendResponse(
            impression_id=logged.impression_id,
            strategy=logged.strategy,
            recommendations=recommendations,
            threshold=logged.threshold,
            policy=logged.policy,
            policy_version=logged.policy_version,
            created_at=logged.created_at,
            replayed=True,
        )


def _response(
    impression_id: UUID,
    chosen: str,
    ranked: list[policy.Ranked],
    setup: Setup,
    live: Policy,
    created_at: datetime,
) -> RecommendResponse:
    return RecommendResponse(
        impression_id=impression_id,
        strategy=chosen,  # type: ignore[arg-type]
        recommendations=[_recommendation(r) for r in ranked if r.shown],
        threshold=setup.threshold,
        policy=live.name,
        policy_version=live.version,
        created_at=created_at,
    )


def _greedy(config: LearningConfig) -> LearningConfig:
    """The same settings with every exploration switched off."""
    memory = config.memory.model_copy(update={"exploration": 0.0})
    return config.model_copy(
        update={"exploration": 0.0, "epsilon": 0.0, "uniform_exploration": 0.0, "memory": memory}
    )


def _arms(hits: list[SearchHit], relevances: list[float]) -> list[Arm]:
    return [
        Arm(h.item.item_id, h.similarity, h.item.kind, r)
        for h, r in zip(hits, relevances, strict=True)
    ]


def _suggested_hit(row: dict[str, Any]) -> SearchHit:
    similarity = float(row["similarity"])
    return SearchHit(
        item=Item.model_validate(row),
        score=0.0,
        similarity=similarity,
        keyword_score=None,
        semantic_rank=None,
        keyword_rank=None,
    )


def _log_question(
    conn: Connection, tenant_id: str, impression_id: UUID, question: Question
) -> None:
    params = {
        "tenant_id": tenant_id,
        "impression_id": impression_id,
        "embedder": question.embedder,
        "query_vector": question.vector,
    }
    conn.execute(Q["insert_query_vector"], params)


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def _impression_params(
    tenant_id: str,
    impression_id: UUID,
    req: RecommendRequest,
    chosen: str,
    setup: Setup,
    live: Policy,
) -> dict[str, Any]:
    context = req.context.model_dump(exclude_none=True)
    return {
        "tenant_id": tenant_id,
        "impression_id": impression_id,
        "idempotency_key": req.idempotency_key,
        "query": req.query,
        "context": Jsonb(context),
        "user_id": req.context.user,
        "session_id": req.context.session,
        "account_id": req.context.account,
        "kinds": req.kinds,
        "k": req.k,
        "policy": live.name,
        "policy_version": live.version,
        "strategy": chosen,
        "threshold": setup.threshold,
        "experiment": setup.experiment,
        "variant": setup.variant,
    }


def _log_candidates(
    conn: Connection, tenant_id: str, impression_id: UUID, ranked: list[policy.Ranked]
) -> None:
    if not ranked:
        return
    conn.execute(
        Q["insert_candidates"],
        {
            "tenant_id": tenant_id,
            "impression_id": impression_id,
            "ranks": [r.rank for r in ranked],
            "item_ids": [r.hit.item.item_id for r in ranked],
            "item_versions": [r.hit.item.version for r in ranked],
            "scores": [r.hit.score if r.score is None else r.score for r in ranked],
            "similarities": [r.hit.similarity for r in ranked],
            "confidences": [r.confidence for r in ranked],
            "propensities": [r.propensity for r in ranked],
            "shown": [r.shown for r in ranked],
            "relevances": [r.relevance for r in ranked],
            "baselines": [r.baseline for r in ranked],
            "firsts": [None if r.first is None else min(max(r.first, 0.0), 1.0) for r in ranked],
            "positions": [r.position for r in ranked],
        },
    )


def _log_shadow(
    conn: Connection,
    tenant_id: str,
    impression_id: UUID,
    shadow: Policy,
    arms: list[Arm],
    context: dict[str, Any],
    req: RecommendRequest,
    rng: np.random.Generator,
    threshold: float,
) -> None:
    """What the shadow policy would have shown: its first k that the threshold lets
    through, with their propensities at those places."""
    ranking = shadow.rank(arms, context, req.query, rng, threshold)
    top = [n for n in ranking.order if ranking.propensities[n] > 0][: req.k]
    params = {
        "tenant_id": tenant_id,
        "impression_id": impression_id,
        "policy": shadow.name,
        "item_ids": [arms[n].item_id for n in top],
        "propensities": [ranking.propensities[n] for n in top],
    }
    conn.execute(Q["insert_shadow"], params)


def _recommendation(r: policy.Ranked) -> Recommendation:
    return Recommendation(
        rank=r.rank,
        item=r.hit.item,
        score=r.hit.score if r.score is None else r.score,
        similarity=r.hit.similarity,
        confidence=r.confidence,
        propensity=r.propensity,
    )


def _demote_deprecated(hits: list[SearchHit]) -> list[SearchHit]:
    """Deprecated hits with their score and similarity weighed down, in the new order."""
    if all(hit.item.status != "deprecated" for hit in hits):
        return hits
    weighed = [
        hit.model_copy(
            update={
                "score": hit.score * DEPRECATED_WEIGHT,
                "similarity": None
                if hit.similarity is None
                else hit.similarity * DEPRECATED_WEIGHT,
            }
        )
        if hit.item.status == "deprecated"
        else hit
        for hit in hits
    ]
    return sorted(weighed, key=lambda hit: -hit.score)

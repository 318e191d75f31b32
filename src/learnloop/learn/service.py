"""Learning, as the rest of learnloop sees it: settings, statistics, the worker's update."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb

from learnloop._sql import load_queries
from learnloop.errors import Conflict, InvalidInput, NotFound
from learnloop.learn import (
    autoswitch,
    calibration,
    experiments,
    imported,
    live,
    memory,
    offline,
    registry,
    stats,
)
from learnloop.learn.adapters import Adapters
from learnloop.learn.calibration import Calibration
from learnloop.learn.config import LearningConfig, PolicyName
from learnloop.learn.experiments import ExperimentIn
from learnloop.learn.memory import Neighbour
from learnloop.learn.policies import Policy
from learnloop.ports import Store
from learnloop.validation import Input, parse

Q = load_queries("learnloop.learn")
HELPED = 0.5  # an outcome helped when its reward is at least this (succeeded, executed)


@dataclass(frozen=True)
class Judged:
    """One outcome that says something: its impression, the item's rank, the baseline's
    confidence before any calibration curve, the confidence shown, whether it helped, and
    the chance it was read."""

    impression_id: str
    rank: int
    baseline: float
    confidence: float
    helped: bool
    weight: float


class PolicyChoice(Input):
    policy: PolicyName


class Learning:
    def __init__(self, db: Store):
        self.db = db
        self.experiments = Experiments(db)
        self._adapters = Adapters(db)

    def config(self, tenant_id: str) -> LearningConfig:
        with self.db.connection() as conn:
            row = conn.execute(Q["learning_config"], {"tenant_id": tenant_id}).fetchone()
        if row is None:
            raise NotFound(f"no tenant {tenant_id!r}")
        return LearningConfig.of(row["config"])

    def configure(self, tenant_id: str, changes: dict[str, Any]) -> LearningConfig:
        """Change some learning settings; the others keep their values."""
        current = self.config(tenant_id).model_dump()
        merged = _merge(current, changes)
        config = parse(LearningConfig, merged, "learning settings: ")
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "config": Jsonb(config.model_dump())}
            conn.execute(Q["set_learning_config"], params)
        return config

    def stats(
        self, tenant_id: str, *, dimension: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The statistics per item and segment, best rewarded first within a segment."""
        params = {"tenant_id": tenant_id, "dimension": dimension, "limit": limit}
        with self.db.connection() as conn:
            return conn.execute(Q["stats_page"], params).fetchall()

    def update(self, *, limit: int = 10_000) -> int:
        """Bring the statistics up to date with new events (the worker calls this)."""
        return stats.update(self.db, limit=limit)

    def evaluate(
        self,
        tenant_id: str,
        policy: str | None = None,
        *,
        limit: int = 10_000,
        seed: int = 0,
        logged_by: str | None = None,
        per: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Offline estimates of a policy's value on the latest logged impressions (those
        the policy ``logged_by`` logged, where it is named: an imported history's policy,
        say). ``policy="logged"`` is the logging policy itself, from its logged
        propensities: its estimate must give back the logged value. ``"logged:NAME"`` is
        what the policy NAME did in its own log, estimated on ``logged_by``'s log, per the
        context keys ``per`` (``learn.imported``)."""
        config = self.config(tenant_id)
        if policy is not None and policy.startswith(imported.PREFIX):
            with self.db.connection() as conn:
                return imported.evaluate(
                    conn, tenant_id, policy.removeprefix(imported.PREFIX), logged_by,
                    per=per, limit=limit, config=config,
                )  # fmt: skip
        if per:
            raise InvalidInput(
                "per names context keys for policy=logged:POLICY only (a logged policy's "
                "choices per context value)"
            )
        with self.db.connection() as conn:
            target: Policy | offline.LoggingPolicy
            if policy == offline.LoggingPolicy.name:
                target = offline.LoggingPolicy()
            else:
                name = parse(PolicyChoice, {"policy": policy or config.policy}).policy
                target = offline.target_policy(conn, tenant_id, name, config)
            return offline.evaluate(
                conn,
                tenant_id,
                target,
                limit=limit,
                seed=seed,
                config=config,
                logged_by=logged_by,
            )

    def autoswitch(self, tenant_id: str) -> dict[str, Any]:
        """Check the tenant's evidence for an automatic switch or rollback of its live
        policy (``learn.autoswitch``), and make it where ``auto_switch.enabled``."""
        self.config(tenant_id)  # NotFound for a tenant that is not there
        with self.db.transaction() as conn:
            locked = conn.execute(Q["autoswitch_lock"], {"tenant_id": tenant_id}).fetchone()
            if not locked or not locked["locked"]:
                busy = autoswitch.Decision("", reason="another check of this tenant is running")
                return _switch_answer(busy, None)
            row = conn.execute(Q["learning_config"], {"tenant_id": tenant_id}).fetchone()
            config = LearningConfig.of(row["config"] if row else None)
            decision = autoswitch.check(conn, tenant_id, config)
            if decision.action is None:
                return _switch_answer(decision, None)
            if not config.auto_switch.enabled:
                decision.reason += (
                    "; auto_switch is off, so nothing changed (auto_switch.enabled=true)"
                )
                return _switch_answer(decision, None)
            made = autoswitch.apply(conn, tenant_id, decision)
            if made is None:
                decision.reason += "; the live policy changed meanwhile, so nothing changed"
            return _switch_answer(decision, made)

    def switches(self, tenant_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The tenant's automatic switches and rollbacks with their evidence, latest first."""
        self.config(tenant_id)
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "limit": limit}
            return conn.execute(Q["list_switches"], params).fetchall()

    def shadow(self, tenant_id: str, *, limit: int = 10_000) -> dict[str, Any]:
        """Agreement and estimated value of the tenant's shadow policy."""
        config = self.config(tenant_id)
        if config.shadow is None:
            raise InvalidInput("no shadow policy: set one with learning settings shadow=NAME")
        with self.db.connection() as conn:
            return offline.shadow_report(conn, tenant_id, config.shadow, config, limit=limit)

    def train_adapter(self, tenant_id: str, *, force: bool = True) -> dict[str, Any]:
        """Fit the tenant's embedding adapter on its clicked pairs and keep it only when it
        beats the unadapted ranking on the newest of them (``learn.adapter``); unless
        ``force``, only when the pairs grew enough since the last fit."""
        return self._adapters.train(tenant_id, self.config(tenant_id), force=force)

    def adapter(self, tenant_id: str) -> dict[str, Any]:
        """The tenant's embedding adapter in use: version, embedder, held-out figures."""
        self.config(tenant_id)
        return self._adapters.status(tenant_id)

    def drop_adapter(self, tenant_id: str) -> bool:
        """Remove the tenant's embedding adapter (True when there was one)."""
        self.config(tenant_id)
        return self._adapters.drop(tenant_id)

    def calibrate(
        self,
        tenant_id: str,
        method: calibration.Method = "isotonic",
        *,
        min_outcomes: int = calibration.MIN_OUTCOMES,
        min_per_bin: float = calibration.MIN_PER_BIN,
        limit: int = 50_000,
    ) -> Calibration | None:
        """Fit the tenant's confidence on its outcomes (``learn.calibration``); None when
        they are too few or the fit would hide helpful answers (``calibrate_report`` says
        which): the baseline's confidence stays. Recommendations use a fitted curve from
        then on."""
        report = self.calibrate_report(
            tenant_id, method, min_outcomes=min_outcomes, min_per_bin=min_per_bin, limit=limit
        )
        return report["calibration"] if report["kept"] else None

    def calibrate_report(
        self,
        tenant_id: str,
        method: calibration.Method = "isotonic",
        *,
        min_outcomes: int = calibration.MIN_OUTCOMES,
        min_per_bin: float = calibration.MIN_PER_BIN,
        limit: int = 50_000,
    ) -> dict[str, Any]:
        """As ``calibrate``, answered with ``fit_report``'s report of the fit it made."""
        report = self.fit_report(
            tenant_id, method, min_outcomes=min_outcomes, min_per_bin=min_per_bin, limit=limit
        )
        fitted: Calibration | None = report["calibration"] if report["kept"] else None
        with self.db.connection() as conn:
            if fitted is None:
                conn.execute(Q["delete_model"], {"tenant_id": tenant_id, "name": "calibration"})
            else:
                params = {
                    "tenant_id": tenant_id,
                    "name": "calibration",
                    "examples": fitted.outcomes,
                    "state": fitted.to_bytes(),
                }
                conn.execute(Q["put_model"], params)
        return report

    def fit_report(
        self,
        tenant_id: str,
        method: calibration.Method = "isotonic",
        *,
        min_outcomes: int = calibration.MIN_OUTCOMES,
        min_per_bin: float = calibration.MIN_PER_BIN,
        limit: int = 50_000,
    ) -> dict[str, Any]:
        """A fit on the tenant's outcomes, stored nowhere: the curve, whether it would be
        kept, the helpful items shown at the tenant's threshold before and after it, and
        why it would not be kept."""
        refused = registry.entry(self.config(tenant_id).policy).not_calibrated
        if refused is not None:
            return {"calibration": None, "outcomes": 0, "kept": False, "reason": refused}
        judged = self._judged(tenant_id, limit)
        values = [j.baseline for j in judged]
        helped = [j.helped for j in judged]
        weights = [j.weight for j in judged]
        fitted = calibration.attempt(
            values,
            helped,
            method,
            weights=weights,
            min_outcomes=min_outcomes,
            min_per_bin=min_per_bin,
        )
        if isinstance(fitted, str):
            return {"calibration": None, "outcomes": len(judged), "kept": False, "reason": fitted}
        report: dict[str, Any] = {"calibration": fitted, "outcomes": len(judged), "kept": False}
        threshold = self._threshold(tenant_id)
        ok, before, after = calibration.keeps_answers(fitted, values, helped, weights, threshold)
        report |= {
            "kept": ok,
            "threshold": threshold,
            "helpful_shown_before": before,
            "helpful_shown_after": after,
        }
        if not ok:
            report["reason"] = (
                f"at threshold {threshold:.2f} the fit would show {after:.0f} of the"
                f" {before:.0f} helpful items shown now (under {calibration.FLOOR:.0%})"
            )
        return report

    def reliability(self, tenant_id: str, *, bins: int = 10) -> dict[str, Any]:
        """Reliability-diagram data of the confidence shown, on the outcomes that say
        something (each weighted by the chance its item was read, counted once here)."""
        judged = [j for j in self._judged(tenant_id, 50_000) if j.weight >= 0.5]
        curve = self._calibration(tenant_id)
        return {
            "method": curve.method if curve else "baseline",
            "outcomes": len(judged),
            "bins": calibration.reliability(
                [j.confidence for j in judged], [j.helped for j in judged], bins
            ),
        }

    def thresholds(self, tenant_id: str) -> dict[str, Any]:
        """The trade-off of candidate thresholds on the latest impressions' first items:
        the share answered right, answered wrong and with nothing shown at each, at the
        confidence the tenant would show them now (``_confidence_now``)."""
        first = [j for j in self._judged(tenant_id, 50_000) if j.rank == 1]
        grid = [round(t, 2) for t in np.arange(0.0, 1.0, 0.05)]
        return {
            "impressions": len(first),
            "threshold": self._threshold(tenant_id),
            "rows": calibration.tradeoffs(
                self._confidence_now(tenant_id, first), [j.helped for j in first], grid
            ),
        }

    def tune_threshold(
        self, tenant_id: str, precision: float, *, apply: bool = False
    ) -> float | None:
        """The lowest threshold at which the first item shown helps at least ``precision``
        of the time (``thresholds`` has the whole table); with ``apply``, the tenant's
        threshold becomes it."""
        if not 0 < precision <= 1:
            raise InvalidInput(f"precision must be in (0, 1], not {precision}")
        first = [j for j in self._judged(tenant_id, 50_000) if j.rank == 1]
        threshold = calibration.threshold_for(
            self._confidence_now(tenant_id, first), [j.helped for j in first], precision
        )
        if apply and threshold is not None:
            with self.db.connection() as conn:
                params = {"tenant_id": tenant_id, "threshold": threshold}
                conn.execute(Q["set_confidence_threshold"], params)
        return threshold

    def _judged(self, tenant_id: str, limit: int) -> list[Judged]:
        """The logged outcomes that say something, read as cascades (``learn.memory``)."""
        params = {"tenant_id": tenant_id, "limit": limit}
        with self.db.connection() as conn:
            rows = conn.execute(Q["calibration_data"], params).fetchall()
        bias = self.config(tenant_id).position_bias
        by_impression: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_impression.setdefault(str(row["impression_id"]), []).append(row)
        judged = []
        for impression, group in by_impression.items():
            outcomes = [
                Neighbour(impression, 1.0, r["rank"], r["rank"], r["reward"]) for r in group
            ]
            found = {item: (win, loss) for item, win, loss in memory.judge(outcomes, bias)}
            for r in group:
                win, loss = found.get(r["rank"], (0.0, 0.0))
                if win + loss > 0:
                    judged.append(
                        Judged(
                            impression,
                            r["rank"],
                            r["baseline"],
                            r["confidence"],
                            win >= HELPED,
                            win + loss,
                        )
                    )
        return judged

    def _confidence_now(self, tenant_id: str, judged: list[Judged]) -> list[float]:
        """The confidence each judged item would be shown with now: the tenant's curve (if
        any) applied to the baseline's confidence; the confidence logged where the policy
        has its own (one that is not calibrated, such as memory's)."""
        if registry.entry(self.config(tenant_id).policy).not_calibrated is not None:
            return [j.confidence for j in judged]
        curve = self._calibration(tenant_id)
        if curve is None or curve.input != "relevance":
            return [j.baseline for j in judged]
        return [curve(j.baseline) for j in judged]

    def _threshold(self, tenant_id: str) -> float:
        with self.db.connection() as conn:
            row = conn.execute(Q["tenant_confidence_threshold"], {"tenant_id": tenant_id})
            found = row.fetchone()
        return 0.5 if found is None else float(found["threshold"])

    def _calibration(self, tenant_id: str) -> Calibration | None:
        with self.db.connection() as conn:
            state = live.load_model(conn, tenant_id, "calibration")
        return None if state is None else Calibration.from_bytes(state)


def _switch_answer(decision: autoswitch.Decision, made: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "policy": decision.policy or None,
        "action": decision.action,
        "to": decision.to,
        "applied": made is not None,
        "reason": decision.reason,
        "candidates": decision.candidates,
        "switch": made,
    }


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class Experiments:
    """Experiments of one tenant at a time: start one (the running one stops), read the
    results, stop it."""

    def __init__(self, db: Store):
        self.db = db

    def start(self, tenant_id: str, spec: ExperimentIn | dict[str, Any]) -> dict[str, Any]:
        exp = parse(ExperimentIn, spec, "experiment: ")
        variants = [v.model_dump(exclude_none=True) for v in exp.variants]
        with self.db.transaction() as conn:
            conn.execute(Q["stop_experiments"], {"tenant_id": tenant_id, "name": None})
            params = {"tenant_id": tenant_id, "name": exp.name, "unit": exp.unit}
            row = conn.execute(Q["create_experiment"], params | {"variants": Jsonb(variants)})
            created = row.fetchone()
            if created is None:  # rolls back the stop too
                raise Conflict(f"an experiment {exp.name!r} exists already; pick another name")
        return created

    def list(self, tenant_id: str) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            return conn.execute(Q["list_experiments"], {"tenant_id": tenant_id}).fetchall()

    def stop(self, tenant_id: str, name: str) -> None:
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "name": name}
            if conn.execute(Q["stop_experiments"], params).fetchone() is None:
                raise NotFound(f"no running experiment {name!r} in this tenant")

    def results(self, tenant_id: str, name: str) -> dict[str, Any]:
        """Per variant: effect on reward per impression, intervals, P(beat control), SRM."""
        params = {"tenant_id": tenant_id, "name": name}
        with self.db.connection() as conn:
            exp = conn.execute(Q["get_experiment"], params).fetchone()
            if exp is None:
                raise NotFound(f"no experiment {name!r} in this tenant")
            rows = {r["variant"]: r for r in conn.execute(Q["experiment_results"], params)}
        groups = [_group(v, rows.get(v["name"])) for v in exp["variants"]]
        return {"experiment": name, "status": exp["status"], **experiments.analyse(groups)}


def _group(variant: dict[str, Any], row: dict[str, Any] | None) -> experiments.Group:
    weight = float(variant.get("weight", 1.0))
    if row is None:
        return experiments.Group(variant["name"], weight, 0, 0.0, 0.0)
    return experiments.Group(
        variant["name"], weight, int(row["n"]), float(row["total"]), float(row["squares"])
    )

"""Learning, as the rest of learnloop sees it: settings, statistics, the worker's update."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from learnloop._sql import load_queries
from learnloop.errors import Conflict, InvalidInput, NotFound
from learnloop.learn import calibration, experiments, live, offline, stats
from learnloop.learn.calibration import Calibration, confidence
from learnloop.learn.config import LearningConfig, PolicyName
from learnloop.learn.experiments import ExperimentIn
from learnloop.ports import Store
from learnloop.validation import Input, parse

Q = load_queries("learnloop.learn")
HELPED = 0.5  # an outcome helped when its reward is at least this (succeeded, executed)


class PolicyChoice(Input):
    policy: PolicyName


class Learning:
    def __init__(self, db: Store):
        self.db = db
        self.experiments = Experiments(db)

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
        self, tenant_id: str, policy: str | None = None, *, limit: int = 10_000, seed: int = 0
    ) -> dict[str, Any]:
        """Offline estimates of a policy's value on the latest logged impressions."""
        config = self.config(tenant_id)
        name = parse(PolicyChoice, {"policy": policy or config.policy}).policy
        with self.db.connection() as conn:
            target = offline.target_policy(conn, tenant_id, name, config)
            return offline.evaluate(conn, tenant_id, target, limit=limit, seed=seed)

    def shadow(self, tenant_id: str, *, limit: int = 10_000) -> dict[str, Any]:
        """Agreement and estimated value of the tenant's shadow policy."""
        config = self.config(tenant_id)
        if config.shadow is None:
            raise InvalidInput("no shadow policy: set one with learning settings shadow=NAME")
        with self.db.connection() as conn:
            return offline.shadow_report(conn, tenant_id, config.shadow, config, limit=limit)

    def calibrate(
        self,
        tenant_id: str,
        method: calibration.Method = "isotonic",
        *,
        min_outcomes: int = calibration.MIN_OUTCOMES,
        limit: int = 50_000,
    ) -> Calibration | None:
        """Fit the tenant's confidence on settled outcomes (None: too few, the similarity
        mapping stays); recommendations use it from then on."""
        similarities, helped = self._outcomes(tenant_id, limit)
        fitted = calibration.fit(similarities, helped, method, min_outcomes=min_outcomes)
        with self.db.connection() as conn:
            if fitted is None:
                conn.execute(Q["delete_model"], {"tenant_id": tenant_id, "name": "calibration"})
                return None
            params = {"tenant_id": tenant_id, "name": "calibration", "examples": len(helped)}
            conn.execute(Q["put_model"], params | {"state": fitted.to_bytes()})
        return fitted

    def reliability(self, tenant_id: str, *, bins: int = 10) -> dict[str, Any]:
        """Reliability-diagram data of the confidence now in use, on settled outcomes."""
        similarities, helped = self._outcomes(tenant_id, 50_000)
        curve = self._calibration(tenant_id)
        predicted = [curve(s) if curve else confidence(s) for s in similarities]
        return {
            "method": curve.method if curve else "similarity",
            "outcomes": len(helped),
            "bins": calibration.reliability(predicted, helped, bins),
        }

    def tune_threshold(
        self, tenant_id: str, precision: float, *, apply: bool = False
    ) -> float | None:
        """The lowest threshold whose shown items help at least ``precision`` of the time;
        with ``apply``, the tenant's threshold becomes it."""
        if not 0 < precision <= 1:
            raise InvalidInput(f"precision must be in (0, 1], not {precision}")
        similarities, helped = self._outcomes(tenant_id, 50_000)
        curve = self._calibration(tenant_id)
        predicted = [curve(s) if curve else confidence(s) for s in similarities]
        threshold = calibration.threshold_for(predicted, helped, precision)
        if apply and threshold is not None:
            with self.db.connection() as conn:
                params = {"tenant_id": tenant_id, "threshold": threshold}
                conn.execute(Q["set_confidence_threshold"], params)
        return threshold

    def _outcomes(self, tenant_id: str, limit: int) -> tuple[list[float], list[bool]]:
        params = {"tenant_id": tenant_id, "limit": limit}
        with self.db.connection() as conn:
            rows = conn.execute(Q["calibration_data"], params).fetchall()
        return [r["similarity"] for r in rows], [r["reward"] >= HELPED for r in rows]

    def _calibration(self, tenant_id: str) -> Calibration | None:
        with self.db.connection() as conn:
            state = live.load_model(conn, tenant_id, "calibration")
        return None if state is None else Calibration.from_bytes(state)


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

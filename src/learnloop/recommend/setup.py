"""What a request needs of its tenant, read in one query: threshold, learning settings,
the running experiment and its variant for this request, the calibrated confidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from learnloop._sql import load_queries
from learnloop.errors import NotFound
from learnloop.learn.calibration import Calibration
from learnloop.learn.config import LearningConfig
from learnloop.learn.experiments import assign
from learnloop.ports import Connection
from learnloop.recommend.policy import SINGLE_CONFIDENCE

Q = load_queries("learnloop.recommend")


@dataclass(frozen=True)
class Setup:
    config: LearningConfig
    policy: str
    threshold: float
    experiment: str | None
    variant: str | None
    calibration: Calibration | None
    single_confidence: float = SINGLE_CONFIDENCE

    def calibrate(self, confidences: list[float]) -> list[float]:
        """The baseline's confidences through the tenant's fitted curve, when it has one."""
        curve = self.calibration
        if curve is None:
            return confidences
        return [curve(c) for c in confidences]


def _setup(conn: Connection, tenant_id: str, context: dict[str, Any]) -> Setup:
    row = conn.execute(Q["tenant_learning"], {"tenant_id": tenant_id}).fetchone()
    if row is None:
        raise NotFound(f"no tenant {tenant_id!r}")
    config = LearningConfig.of(row["learning"])
    state = row["calibration"]
    calibration = None if state is None else Calibration.from_bytes(bytes(state))
    if calibration is not None and calibration.input != "relevance":
        calibration = None  # fitted on similarity by an earlier version: refit to use one
    setup = Setup(config, config.policy, float(row["threshold"]), None, None, calibration)
    experiment = row["experiment"]
    if experiment is None:
        return setup
    unit = context.get(experiment["unit"])
    name = assign(experiment["name"], unit, experiment["variants"])
    if name is None:
        return setup
    variant = next(v for v in experiment["variants"] if v["name"] == name)
    return Setup(
        config,
        variant.get("policy") or config.policy,
        variant.get("threshold") if variant.get("threshold") is not None else setup.threshold,
        experiment["name"],
        name,
        calibration,
        variant.get("single_confidence") or SINGLE_CONFIDENCE,
    )

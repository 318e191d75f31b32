"""Learning: the tenant's policy and rewards, statistics, offline evaluation, shadow
reports, calibrated confidence and experiments."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import Field

from learnloop.api.deps import LL, AdminTenant, ReadTenant
from learnloop.api.responses import errors
from learnloop.learn import LearningConfig
from learnloop.learn.experiments import ExperimentIn
from learnloop.validation import Input

router = APIRouter(prefix="/v1/learning", tags=["learning"])


class CalibrateRequest(Input):
    method: Literal["isotonic", "platt"] = "isotonic"


class ThresholdTuning(Input):
    precision: float = Field(gt=0, le=1, description="the precision wanted, 0..1")
    apply: bool = False


@router.get("", response_model=LearningConfig)
def get_config(ll: LL, tenant: ReadTenant) -> LearningConfig:
    """The tenant's learning settings: policy, shadow policy, rewards, segments."""
    return ll.learning.config(tenant)


@router.patch(
    "",
    response_model=LearningConfig,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/LearningConfig"}}
            }
        }
    },
)
def change_config(
    ll: LL,
    tenant: AdminTenant,
    body: Annotated[dict[str, Any], Body(examples=[{"policy": "bayes", "shadow": "contextual"}])],
) -> LearningConfig:
    """Change some settings (the others keep their values), e.g. choose the policy."""
    return ll.learning.configure(tenant, body)


@router.get("/stats")
def stats(
    ll: LL,
    tenant: ReadTenant,
    dimension: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """Statistics per item, overall (dimension "") and per context segment."""
    return ll.learning.stats(tenant, dimension=dimension, limit=limit)


@router.get("/evaluate")
def evaluate(
    ll: LL,
    tenant: ReadTenant,
    policy: Annotated[
        str | None,
        Query(
            pattern=r"^(similarity|bayes|contextual|memory|logged|logged:.{1,200})$",
            description="similarity, bayes, contextual, memory; logged: the logging policy "
            "itself; logged:NAME: what the policy NAME did in its own (imported) log, "
            "estimated on logged_by's log; default: the live one",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    logged_by: Annotated[
        str | None,
        Query(max_length=200, description="only the impressions this policy logged"),
    ] = None,
    per: Annotated[
        list[str] | None,
        Query(
            max_length=20,
            description="with logged:NAME: its choices per value of these "
            "context keys (per=position)",
        ),
    ] = None,
) -> dict[str, Any]:
    """IPS, SNIPS and doubly robust estimates (95% intervals) of a policy's value on the
    latest logged impressions, with MRR and NDCG@3 against the logged outcomes."""
    return ll.learning.evaluate(tenant, policy, limit=limit, logged_by=logged_by, per=per or ())


@router.post("/autoswitch")
def autoswitch(ll: LL, tenant: AdminTenant) -> dict[str, Any]:
    """Check now for an automatic switch or rollback of the live policy (the worker checks
    every 5 minutes): each candidate's offline verdict, and the switch made, if any. Only
    tenants with ``auto_switch.enabled`` are switched; the others are told what would be."""
    return ll.learning.autoswitch(tenant)


@router.get("/switches")
def switches(
    ll: LL, tenant: ReadTenant, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    """The audit log of automatic switches and rollbacks, with their evidence, latest first."""
    return ll.learning.switches(tenant, limit=limit)


@router.get("/shadow")
def shadow(ll: LL, tenant: ReadTenant) -> dict[str, Any]:
    """How often the shadow policy agreed with the live one, and its estimated value."""
    return ll.learning.shadow(tenant)


@router.post("/calibration")
def calibrate(ll: LL, tenant: AdminTenant, body: CalibrateRequest) -> dict[str, Any]:
    """Fit the tenant's confidence on its outcomes; null, with the reason, when they are too
    few or the fit would hide helpful answers."""
    report = ll.learning.calibrate_report(tenant, body.method)
    fitted = report["calibration"] if report["kept"] else None
    answer: dict[str, Any] = {"calibration": None if fitted is None else fitted.__dict__}
    if fitted is None:
        answer["reason"] = report.get("reason")
    return answer


@router.post("/adapter")
def train_adapter(ll: LL, tenant: AdminTenant) -> dict[str, Any]:
    """Fit the tenant's embedding adapter on its clicked pairs; kept (and used by the memory
    policy) only when it beats the unadapted ranking on the newest of them. ``kept`` false
    and ``reason`` say why not; ``adapter`` is the one in use either way (or null)."""
    return ll.learning.train_adapter(tenant)


@router.get("/adapter")
def adapter(ll: LL, tenant: ReadTenant) -> dict[str, Any]:
    """The embedding adapter in use: version, embedder, pairs and held-out figures (or null)."""
    return ll.learning.adapter(tenant)


@router.delete("/adapter")
def drop_adapter(ll: LL, tenant: AdminTenant) -> dict[str, Any]:
    """Remove the embedding adapter: the memory policy ranks unadapted again."""
    return {"dropped": ll.learning.drop_adapter(tenant)}


@router.get("/reliability")
def reliability(
    ll: LL, tenant: ReadTenant, bins: Annotated[int, Query(ge=2, le=50)] = 10
) -> dict[str, Any]:
    """Reliability-diagram data: predicted confidence against the observed rate, per bin."""
    return ll.learning.reliability(tenant, bins=bins)


@router.get("/thresholds")
def thresholds(ll: LL, tenant: ReadTenant) -> dict[str, Any]:
    """At each candidate threshold, the share of the latest impressions whose first item
    would be shown and help, shown and not help, or not be shown."""
    return ll.learning.thresholds(tenant)


@router.post("/threshold")
def tune_threshold(ll: LL, tenant: AdminTenant, body: ThresholdTuning) -> dict[str, Any]:
    """The lowest threshold whose shown items help at the target precision; applied
    when asked."""
    found = ll.learning.tune_threshold(tenant, body.precision, apply=body.apply)
    return {"threshold": found, "applied": body.apply and found is not None}


@router.post(
    "/experiments", status_code=201, responses=errors(409, e409="An experiment of that name exists")
)
def start_experiment(ll: LL, tenant: AdminTenant, body: ExperimentIn) -> dict[str, Any]:
    """Start an experiment (the running one stops); the first variant is the control."""
    return ll.learning.experiments.start(tenant, body)


@router.get("/experiments")
def list_experiments(ll: LL, tenant: ReadTenant) -> list[dict[str, Any]]:
    return ll.learning.experiments.list(tenant)


@router.get("/experiments/{name}")
def experiment_results(name: str, ll: LL, tenant: ReadTenant) -> dict[str, Any]:
    """Effect size, 95% and always-valid intervals, P(beat control), sample-ratio check."""
    return ll.learning.experiments.results(tenant, name)


@router.post("/experiments/{name}/stop", status_code=204)
def stop_experiment(name: str, ll: LL, tenant: AdminTenant) -> None:
    ll.learning.experiments.stop(tenant, name)

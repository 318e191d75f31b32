"""How similar two accounts' KPIs are, and how well a playbook worked. Pure, no I/O.

Similarity: each KPI is standardised over the tenant's accounts (z-scores; a KPI that is
the same everywhere says nothing and is skipped), a missing value counts as the mean, and
two accounts are compared by the cosine of their vectors over the target's KPIs.

Effect of one report: failed or abandoned is -1; completed is the mean relative change of
its outcomes, each clipped to -1..1 and signed so that better is positive (a metric whose
name says lower is better, like churn or cost, improves by going down); completed without
before/after figures counts as COMPLETED_EFFECT.

A playbook's score is the similarity-weighted mean effect over the reports of similar
accounts, shrunk towards 0 by PRIOR_WEIGHT: sum(s * e) / (sum(s) + PRIOR_WEIGHT).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from learnloop.context.models import Improvement

LOWER_IS_BETTER = re.compile(
    r"churn|cost|spend|time|latency|delay|ticket|incident|error|escalat|backlog|overdue|"
    r"risk|complaint|downtime|defect|days|attrition|cancel",
    re.IGNORECASE,
)
COMPLETED_EFFECT = 0.5
PRIOR_WEIGHT = 1.0


def lower_is_better(metric: str) -> bool:
    """
    >>> lower_is_better("Monthly churn rate"), lower_is_better("NPS")
    (True, False)
    """
    return LOWER_IS_BETTER.search(metric) is not None


def similarities(
    kpis: Mapping[str, Mapping[str, float]], target: str
) -> dict[str, tuple[float, int]]:
    """Every other account's (cosine similarity, KPIs shared) with ``target``."""
    names = sorted(kpis.get(target, {}))
    if not names:
        return {}
    accounts = sorted(kpis)
    values = np.array(
        [[kpis[a].get(n, math.nan) for n in names] for a in accounts], dtype=np.float64
    )
    mean = np.nanmean(values, axis=0)
    std = np.nanstd(values, axis=0)
    useful = std > 1e-12
    z = np.where(np.isnan(values), 0.0, (values - mean) / np.where(useful, std, 1.0))[:, useful]
    shared = (~np.isnan(values[:, useful])).sum(axis=1)
    me = z[accounts.index(target)]
    norms = np.linalg.norm(z, axis=1) * np.linalg.norm(me)
    cosine = np.divide(z @ me, norms, out=np.zeros(len(accounts)), where=norms > 0)
    return {
        account: (float(cosine[n]), int(shared[n]))
        for n, account in enumerate(accounts)
        if account != target
    }


def improvements(outcomes: Sequence[Mapping[str, Any]]) -> list[Improvement]:
    """The outcomes with both figures, as relative changes where better is positive."""
    found = []
    for o in outcomes:
        before, after = o.get("before"), o.get("after")
        if before is None or after is None:
            continue
        change = (after - before) / max(abs(before), 1e-9)
        if lower_is_better(str(o.get("metric", ""))):
            change = -change
        found.append(Improvement(metric=o["metric"], before=before, after=after, change=change))
    return found


def effect(status: str, changes: Sequence[Improvement]) -> float:
    """
    >>> effect("failed", []), effect("completed", [])
    (-1.0, 0.5)
    """
    if status != "completed":
        return -1.0
    if not changes:
        return COMPLETED_EFFECT
    return sum(max(-1.0, min(1.0, c.change)) for c in changes) / len(changes)


def playbook_score(weighted: Sequence[tuple[float, float]]) -> float:
    """(similarity, effect) pairs to one score.

    >>> round(playbook_score([(0.9, 1.0), (0.8, 1.0)]), 3), playbook_score([])
    (0.63, 0.0)
    """
    total = sum(s for s, _ in weighted)
    return sum(s * e for s, e in weighted) / (total + PRIOR_WEIGHT)

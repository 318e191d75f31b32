"""An account's health score from the latest value of each of its KPIs (pure, no I/O).

    health = sum(w_k * s_k) / sum(w_k)        over the account's health KPIs k

- the health KPIs are those whose latest value has a health component (any text but
  no/false/0); if none is marked, every KPI of the account counts;
- s_k, the KPI's score on 0..100: with a target, 100 * min(value / target, 1) (0 at worst);
  else with unit 'ratio', 100 * value; else the value itself when it lies in 0..100 (a
  percentage or a score); a KPI that cannot be put on 0..100 is left out;
- w_k = weight (default 1) * the impact multiplier: critical 2, high 1.5, medium 1, low 0.5
  (1 when unset).

No usable KPI (or all weights 0) gives no score (None).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from learnloop.ingest.values import flag

IMPACT = {"critical": 2.0, "high": 1.5, "medium": 1.0, "med": 1.0, "low": 0.5}


def kpi_score(value: float, unit: str | None, target: float | None) -> float | None:
    """The KPI's value on 0..100, or None when it cannot be put on that scale.

    >>> kpi_score(45, None, 60), kpi_score(0.8, "ratio", None), kpi_score(72, "%", None)
    (75.0, 80.0, 72.0)
    >>> kpi_score(1500, "USD", None) is None
    True
    """
    if target is not None and target > 0:
        return 100.0 * max(0.0, min(value / target, 1.0))
    if (unit or "").strip().lower() == "ratio":
        return 100.0 * max(0.0, min(value, 1.0))
    return float(value) if 0 <= value <= 100 else None


def weight_of(weight: float | None, impact: str | None) -> float:
    multiplier = IMPACT.get((impact or "").strip().lower(), 1.0)
    return (1.0 if weight is None else weight) * multiplier


def is_component(component: str | None) -> bool:
    return component is not None and component.strip() != "" and flag(component) is not False


def health_score(latest: Iterable[Mapping[str, Any]]) -> float | None:
    """The score of one account from its latest KPI values (value, unit, target, weight,
    impact_level, health_component each)."""
    rows = list(latest)
    marked = [r for r in rows if is_component(r.get("health_component"))]
    total = weighted = 0.0
    for row in marked or rows:
        score = kpi_score(row["value"], row.get("unit"), row.get("target"))
        if score is None:
            continue
        w = weight_of(row.get("weight"), row.get("impact_level"))
        total, weighted = total + w, weighted + w * score
    return round(weighted / total, 2) if total > 0 else None

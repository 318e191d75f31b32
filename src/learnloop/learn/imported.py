"""Offline evaluation of one logged policy on another policy's log: ``learnloop evaluate
--policy logged:TARGET --logged-by LOGGER`` (two imported histories of an existing
assistant, say: ``learnloop import-log``).

The target is what ``TARGET`` did, read from its own impressions: its empirical
distribution of the item displayed first, per value of the context keys named in ``per``
(one distribution for the whole log without them), the rest of its mass on displaying
nothing. The log is ``LOGGER``'s: each of its impressions is one decision, the item it
displayed first with the propensity it logged, and its reward. The candidates of a
decision are the items ``LOGGER`` displayed first anywhere in its log within the same
context values: the choices it is seen to have had. The target's mass on an item outside
them is mass the log cannot support (it counts as displaying nothing, and the support
says how much there is).

The logging policy's probability of each candidate, which only the support uses (the
weights use each decision's own propensity), is the mean propensity that item was logged
with within those context values: exact for a policy that does not change over the log;
where those means sum to more than 1 (the logging policy depended on more than the context
values named: a deterministic one, say), the support counts only the logged decision, as
for any log without the logging distribution (a lower bound).

The estimates, their evidence (support, effective sample size, clipped weights) and the
verdict are ``evaluation.assess``'s, reported as ``offline.evaluate`` reports them.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from learnloop._sql import load_queries
from learnloop.errors import InvalidInput
from learnloop.learn import evaluation
from learnloop.learn.config import LearningConfig
from learnloop.learn.offline import _report, reward_range
from learnloop.ports import Connection

Q = load_queries("learnloop.learn")
PREFIX = "logged:"
SUM_SLACK = 1e-6  # propensities that sum to 1 within rounding


@dataclass(frozen=True)
class _Decision:
    stratum: str
    item: int | None  # displayed first; None: nothing
    propensity: float
    reward: float
    settled: bool


def evaluate(
    conn: Connection,
    tenant_id: str,
    target: str,
    logged_by: str | None,
    *,
    per: Sequence[str] = (),
    limit: int = 10_000,
    config: LearningConfig | None = None,
) -> dict[str, Any]:
    """IPS, SNIPS and DR estimates of the logged policy ``target`` on the latest ``limit``
    settled impressions ``logged_by`` logged, with the evidence behind them; InvalidInput
    naming what to fix when either log is missing, the log keeps no propensities, or the
    target never displayed what the logging policy did."""
    if not target:
        raise InvalidInput("name the logged policy to estimate: policy=logged:POLICY")
    if not logged_by:
        raise InvalidInput(
            f"policy=logged:{target} is estimated on another policy's log: name it with "
            "logged_by (--logged-by POLICY), the policy of an imported log"
        )
    keys = list(dict.fromkeys(per))
    if any(not key or len(key) > 100 for key in keys):
        raise InvalidInput("per: name each context key, 1 to 100 characters")
    logging_rows = _rows(conn, tenant_id, logged_by, limit)
    if not logging_rows:
        raise InvalidInput(_no_log(logged_by, "the log to estimate on"))
    target_rows = _rows(conn, tenant_id, target, limit)
    if not target_rows:
        raise InvalidInput(_no_log(target, "the policy to estimate"))
    for key in keys:
        if not any(key in (r["context"] or {}) for r in logging_rows):
            raise InvalidInput(
                f"per={key}: no impression of {logged_by} has the context key {key!r}; "
                "name keys its entries have in their context"
            )
    log = [d for d in (_decision(r, keys) for r in logging_rows) if d.settled]
    if log and all(d.propensity >= 1.0 for d in log if d.item is not None):
        raise InvalidInput(
            f"the log of {logged_by} keeps no propensities (every solution it displayed "
            "first has propensity 1: a deterministic policy, or a log imported without "
            "them), so it cannot weigh another policy's choices: import it with the "
            "probability the assistant had of showing each solution (propensity)"
        )
    shown = _distribution([_decision(r, keys) for r in target_rows])
    candidates, logging = _candidates(log)
    common = [d for d in log if d.stratum in shown]
    left_out = len(log) - len(common)
    if not common:
        raise InvalidInput(
            f"{target} and {logged_by} share no context values of {', '.join(keys)}: "
            "the target's choices are unknown wherever the log decided; name other keys "
            "with per, or none"
        )
    decisions = [_logged(d, candidates[d.stratum], shown[d.stratum], logging[d.stratum])
                 for d in common]  # fmt: skip
    if not any(any(x.target) for x in decisions):
        raise InvalidInput(
            f"the supports do not overlap: {target} displayed first none of the items "
            f"{logged_by} displayed first" + (f" (per {', '.join(keys)})" if keys else "")
            + ", so its log says nothing of the target's choices"
        )  # fmt: skip
    found = evaluation.assess(decisions, reward_range(config or LearningConfig()))
    report = _report(PREFIX + target, found, [], [])
    report |= {
        "logged_by": logged_by,
        "per": keys,
        "target_impressions": len(target_rows),
        "left_out": left_out,
        "candidates": {s: len(c) for s, c in sorted(candidates.items()) if s in shown},
    }
    if left_out:
        report["reasons"] = [
            *report["reasons"],
            f"{left_out} impressions of {logged_by} left out: their context values never "
            f"came to {target}, so its choices there are unknown",
        ]
    return report


def _rows(conn: Connection, tenant_id: str, policy: str, limit: int) -> list[dict[str, Any]]:
    params = {"tenant_id": tenant_id, "limit": limit, "logged_by": policy}
    return conn.execute(Q["evaluation_log"], params).fetchall()


def _no_log(policy: str, what: str) -> str:
    return (
        f"{what}, {policy}, has logged no impressions for this tenant: import its history "
        f"(learnloop import-log FILE --policy {policy}) or name a policy that has"
    )


def _decision(row: dict[str, Any], keys: list[str]) -> _Decision:
    context = row["context"] or {}
    stratum = ", ".join(f"{k}={json.dumps(context.get(k))}" for k in keys)
    first = next((c for c in row["candidates"] if c["shown"] and c["rank"] == 1), None)
    if first is None:
        return _Decision(stratum, None, 1.0, 0.0, True)
    # learnloop's own log keeps the probability of displaying it first; a log imported
    # keeps the propensity of the solution where it was shown, first here
    chance = first["first_propensity"] if first["first_propensity"] is not None else (
        first["propensity"])  # fmt: skip
    return _Decision(stratum, int(first["item_id"]), float(chance), float(first["reward"]),
                     bool(first["settled"]))  # fmt: skip


def _distribution(decisions: list[_Decision]) -> dict[str, dict[int, float]]:
    """Per context values, the share of the impressions that displayed each item first."""
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for d in decisions:
        totals[d.stratum] += 1
        if d.item is not None:
            counts[d.stratum][d.item] += 1
    return {s: {i: n / totals[s] for i, n in counts[s].items()} for s in totals}


def _candidates(
    log: list[_Decision],
) -> tuple[dict[str, list[int]], dict[str, list[float] | None]]:
    """Per context values, the items the logging policy displayed first, and the mean
    propensity it logged each with (None where those sum to more than 1)."""
    logged: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for d in log:
        if d.item is not None:
            logged[d.stratum][d.item].append(d.propensity)
    items = {s: sorted(found) for s, found in logged.items()}
    means: dict[str, list[float] | None] = {}
    for s, found in logged.items():
        mean = [sum(found[i]) / len(found[i]) for i in items[s]]
        means[s] = mean if sum(mean) <= 1.0 + SUM_SLACK else None
    for d in log:  # context values where the logging policy displayed nothing
        items.setdefault(d.stratum, [])
        means.setdefault(d.stratum, [])
    return items, means


def _logged(
    d: _Decision, items: list[int], target: dict[int, float], logging: list[float] | None
) -> evaluation.Logged:
    chosen = None if d.item is None else items.index(d.item)
    return evaluation.Logged(items, chosen, d.propensity, d.reward,
                             [target.get(i, 0.0) for i in items], logging)  # fmt: skip

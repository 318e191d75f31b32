"""Validation of offline evaluation: does the estimate from one policy's log contain the other
policy's true on-policy value, and does it say when it cannot know?

    .venv/bin/python bench/offline_eval.py [--seeds 5] [--log 3000] [--train 2000]
        [--threshold 0.3] [--json PATH] [--no-obp] [--protocol simulator|banking77]

``--protocol banking77`` runs the same comparison on banking77 questions through the store
(``bench/offline_eval_banking.py`` says how); the rest of this docstring is the simulator.

In memory, on learnloop's simulator (``learn.simulator.Simulator.synthetic``: 40 items in
tag groups, users in segments, a hidden quality per query and item) with the policies'
own code (``learn.policies``, ``bayes``, ``contextual``):

* Policies: ``similarity`` (the deterministic baseline), ``similarity+explore`` (the same
  with a uniform exploration budget of 0.1: ``policies.UniformExploration``), ``bayes``
  and ``contextual``, each trained in the simulator for ``--train`` interactions of its
  own (``simulate.run``) and then frozen, and ``reversed`` (the search's order backwards:
  a policy far worse than the baseline).
* Per seed and logging policy: ``--log`` queries; the candidates (10 by similarity), the
  logging policy's ranking with the confidence threshold ``--threshold`` applied, the
  item displayed first, its logged probability of being displayed first and every
  candidate's (``Ranking.firsts``), and a reward drawn from the hidden quality of that
  item (0 when nothing is displayed).
* The truth: each target policy's on-policy value, ``sum_a P(target displays a first) *
  quality(a)``, averaged over the same queries as the log (as obp's synthetic ground truth
  does: the expected reward over the log's contexts, so the query sample's own noise is
  not counted as the estimator's error).
* For every (logging, target) pair: learnloop's assessment
  (``learn.evaluation.assess``: IPS, SNIPS, DR with 95% intervals, support, effective
  sample size, clipped share, verdict) beside obp's ``InverseProbabilityWeighting``,
  ``SelfNormalizedInverseProbabilityWeighting`` and ``DoublyRobust`` on the same log (the
  action = the candidate's place, plus one for "nothing displayed"; obp's DR gets the
  same direct model as learnloop's).

Printed: one line per pair and seed, then per estimator the share of estimates not flagged
``insufficient_evidence`` whose interval contains the truth (target >= 90%), the number of
values or bounds outside the reward range (target 0), and how many pairs were flagged.

obp 0.5.7 declares Python < 3.11 and pins an old torch; its estimators run on this
project's Python and numpy. Install it for this bench only, beside the project:

    .venv/bin/pip install pandas matplotlib seaborn
    .venv/bin/pip install --no-deps --ignore-requires-python obp==0.5.7

Without it (or with ``--no-obp``) the obp columns are left out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.* for --protocol banking77

from learnloop.learn import evaluation
from learnloop.learn.config import LearningConfig
from learnloop.learn.policies import (
    Arm,
    Policy,
    SimilarityPolicy,
    UniformExploration,
    deterministic_first,
    eligible,
)
from learnloop.learn.simulate import Learner, run
from learnloop.learn.simulator import Query, Simulator

ESTIMATORS = ("ips", "snips", "dr")


class Reversed(SimilarityPolicy):
    """The search's order backwards: a target far worse than the baseline."""

    name = "reversed"

    def rank(self, arms: Any, context: Any, query: str, rng: Any, threshold: Any = None) -> Any:
        ranking = super().rank(arms, context, query, rng, threshold)
        order = ranking.order[::-1]
        firsts = deterministic_first(order, eligible(arms, threshold))
        return type(ranking)(order, ranking.scores, ranking.propensities, firsts=firsts)

    def first(self, arms: Any, context: Any, query: str, rng: Any, threshold: Any = None) -> Any:
        return deterministic_first(list(range(len(arms)))[::-1], eligible(arms, threshold))


@dataclass
class World:
    sim: Simulator
    ids: dict[str, int]

    def arms(self, query: Query) -> tuple[list[str], list[Arm]]:
        found = self.sim.candidates(query, 10)
        keys = [key for key, _ in found]
        return keys, [Arm(self.ids[k], s, self.sim.items[k].kind) for k, s in found]


def trained(name: str, seed: int, interactions: int) -> Policy:
    """A policy trained in its own simulator run of the seed, then frozen."""
    learner = Learner(name, LearningConfig(policy=name), seed)  # type: ignore[arg-type]
    run(name, Simulator.synthetic(seed=seed), interactions, seed=seed, learner=learner)  # type: ignore[arg-type]
    return learner.policy()


def policies(seed: int, train: int) -> dict[str, Policy]:
    return {
        "similarity": SimilarityPolicy(),
        "similarity+explore": UniformExploration(SimilarityPolicy(), 0.1),
        "bayes": trained("bayes", seed, train),
        "contextual": trained("contextual", seed, train),
        "reversed": Reversed(),
    }


def truth(world: World, target: Policy, queries: Sequence[Query], threshold: float) -> float:
    rng = np.random.default_rng(0)
    values = []
    for q in queries:
        keys, arms = world.arms(q)
        probs = target.first(arms, q.context, q.text, rng, threshold)
        values.append(sum(p * world.sim.quality(q, k) for p, k in zip(probs, keys, strict=True)))
    return float(np.mean(values))


@dataclass
class Row:
    query: Query
    keys: list[str]
    arms: list[Arm]
    shown: int | None  # index displayed first
    propensity: float
    reward: float
    logging: list[float]


def log_of(
    world: World, policy: Policy, queries: Sequence[Query], threshold: float, seed: int
) -> list[Row]:
    rng = np.random.default_rng(seed)
    rows = []
    for q in queries:
        keys, arms = world.arms(q)
        ranking = policy.rank(arms, q.context, q.text, rng, threshold)
        firsts = ranking.firsts or policy.first(arms, q.context, q.text, rng, threshold)
        allowed = eligible(arms, threshold, ranking.confidences)
        shown = next((n for n in ranking.order if allowed[n]), None)
        if shown is None:
            rows.append(Row(q, keys, arms, None, 1.0 - sum(firsts), 0.0, firsts))
            continue
        reward = float(rng.random() < world.sim.quality(q, keys[shown]))
        rows.append(Row(q, keys, arms, shown, firsts[shown], reward, firsts))
    return rows


def logged(rows: Sequence[Row], target: Policy, threshold: float) -> list[evaluation.Logged]:
    rng = np.random.default_rng(1)
    found = []
    for r in rows:
        probs = target.first(r.arms, r.query.context, r.query.text, rng, threshold)
        ids = [a.item_id for a in r.arms]
        found.append(evaluation.Logged(ids, r.shown, r.propensity, r.reward, probs, r.logging))
    return found


def obp_estimates(log: Sequence[evaluation.Logged]) -> dict[str, float] | None:
    """obp's IPW, SNIPW and DR on the same log: action = the candidate's place, or the
    last action for "nothing displayed"; DR with learnloop's direct model."""
    try:
        from obp.ope import (
            DoublyRobust,
            InverseProbabilityWeighting,
            OffPolicyEvaluation,
            SelfNormalizedInverseProbabilityWeighting,
        )
    except ImportError:
        return None
    n, width = len(log), max(len(x.items) for x in log) + 1
    action = np.array([width - 1 if x.logged is None else x.logged for x in log])
    dist = np.zeros((n, width, 1))
    q_hat = np.zeros((n, width, 1))
    model, default = evaluation.direct_model(log)
    for i, x in enumerate(log):
        dist[i, : len(x.target), 0] = x.target
        dist[i, width - 1, 0] = max(0.0, 1.0 - sum(x.target))
        q_hat[i, : len(x.items), 0] = [model.get(item, default) for item in x.items]
    dist[:, :, 0] /= dist[:, :, 0].sum(axis=1, keepdims=True)
    feedback = {
        "n_rounds": n,
        "action": action,
        "reward": np.array([x.reward for x in log]),
        "pscore": np.array([max(x.propensity, evaluation.MIN_PROPENSITY) for x in log]),
        "position": None,
        "context": np.zeros((n, 1)),
    }
    ope = OffPolicyEvaluation(
        bandit_feedback=feedback,
        ope_estimators=[
            InverseProbabilityWeighting(),
            SelfNormalizedInverseProbabilityWeighting(),
            DoublyRobust(),
        ],
    )
    values = ope.estimate_policy_values(action_dist=dist, estimated_rewards_by_reg_model=q_hat)
    return {"ipw": float(values["ipw"]), "snipw": float(values["snipw"]), "dr": float(values["dr"])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--log", type=int, default=3000)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--threshold", type=float, default=0.3)
    parser.add_argument("--json", default=None)
    parser.add_argument("--no-obp", action="store_true")
    parser.add_argument(
        "--protocol",
        choices=("simulator", "banking77"),
        default="simulator",
        help="banking77: logs made through the store (bench/offline_eval_banking.py)",
    )
    parser.add_argument("--data-dir", default="/tmp/offline-eval-data", help="banking77 only")
    args = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    print(
        f"{'seed':>4} {'logging':<19} {'target':<19} {'truth':>6} {'verdict':<22}"
        f" {'support':>7} {'ess':>7} {'ips':>17} {'snips':>17} {'dr':>17}"
        + ("" if args.no_obp else f" {'obp ipw':>8} {'snipw':>6} {'dr':>6}")
    )
    if args.protocol == "banking77":
        from bench.offline_eval_banking import results as banking

        results = banking(args, Reversed())
    for seed in range(args.seeds if args.protocol == "simulator" else 0):
        sim = Simulator.synthetic(seed=100 + seed)
        world = World(sim, {key: n for n, key in enumerate(sorted(sim.items), 1)})
        made = policies(100 + seed, args.train)
        stream = [sim.query() for _ in range(args.log)]
        truths = {name: truth(world, p, stream, args.threshold) for name, p in made.items()}
        for logging_name, logging_policy in made.items():
            if logging_name == "reversed":
                continue
            rows = log_of(world, logging_policy, stream, args.threshold, seed)
            for target_name, target in made.items():
                log = logged(rows, target, args.threshold)
                found = evaluation.assess(log, (0.0, 1.0))
                theirs = None if args.no_obp else obp_estimates(log)
                result = _result(
                    seed, logging_name, target_name, truths[target_name], found, theirs
                )
                results.append(result)
                print(_line(result), flush=True)
    summary = _summary(results)
    print()
    for line in summary["lines"]:
        print(line)
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"results": results, "summary": summary}, file, indent=1)


def _result(
    seed: int,
    logging_name: str,
    target_name: str,
    true: float,
    found: evaluation.Assessment,
    theirs: dict[str, float] | None,
) -> dict[str, Any]:
    return {
        "seed": seed,
        "logging": logging_name,
        "target": target_name,
        "truth": true,
        "verdict": found.verdict,
        "support": found.support,
        "ess": found.effective_sample_size,
        "estimates": {
            k: {"value": e.value, "low": e.low, "high": e.high} for k, e in found.estimates.items()
        },
        "obp": theirs,
        "bounds": [0.0, 1.0],  # the simulator's rewards: 0 or 1
    }


def _line(r: dict[str, Any]) -> str:
    e = r["estimates"]
    cells = " ".join(
        f"{e[k]['value']:5.3f} [{e[k]['low']:4.2f},{e[k]['high']:4.2f}]" for k in ESTIMATORS
    )
    obp = r["obp"]
    tail = "" if obp is None else f" {obp['ipw']:8.3f} {obp['snipw']:6.3f} {obp['dr']:6.3f}"
    return (
        f"{r['seed']:>4} {r['logging']:<19} {r['target']:<19} {r['truth']:6.3f}"
        f" {r['verdict']:<22} {r['support']:7.3f} {r['ess']:7.1f} {cells}{tail}"
    )


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    endorsed = [r for r in results if r["verdict"] != "insufficient_evidence"]
    lines = [
        f"{len(results)} (logging, target) pairs over seeds; {len(endorsed)} estimated,"
        f" {len(results) - len(endorsed)} flagged insufficient_evidence"
    ]
    coverage = {}
    for k in ESTIMATORS:
        inside = [
            r["estimates"][k]["low"] <= r["truth"] <= r["estimates"][k]["high"] for r in endorsed
        ]
        outside_range = sum(
            not (r["bounds"][0] <= r["estimates"][k][b] <= r["bounds"][1])
            for r in results
            for b in ("value", "low", "high")
        )
        coverage[k] = statistics.mean(inside) if inside else None
        share = "n/a" if not inside else f"{coverage[k]:.1%}"
        lines.append(
            f"{k:>5}: 95% interval contains the truth in {share} of the estimated pairs"
            f" (target >= 90%); {outside_range} figures outside the reward range (target 0)"
        )
    errors = {
        k: statistics.median(abs(r["estimates"][k]["value"] - r["truth"]) for r in endorsed)
        for k in ESTIMATORS
        if endorsed
    }
    lines.append(
        "median |estimate - truth| of the estimated pairs: "
        + ", ".join(f"{k} {v:.3f}" for k, v in errors.items())
    )
    with_obp = [r for r in endorsed if r["obp"] is not None]
    if with_obp:
        theirs = {
            k: statistics.median(abs(r["obp"][k] - r["truth"]) for r in with_obp)
            for k in ("ipw", "snipw", "dr")
        }
        lines.append(
            "obp on the same pairs, median |estimate - truth|: "
            + ", ".join(f"{k} {v:.3f}" for k, v in theirs.items())
        )
    unsupported = [
        r for r in results if r["logging"] == "similarity" and r["target"] not in ("similarity",)
    ]
    flagged = sum(r["verdict"] == "insufficient_evidence" for r in unsupported)
    lines.append(
        f"the deterministic similarity log, asked about another policy: {flagged} of"
        f" {len(unsupported)} flagged"
    )
    return {"lines": lines, "coverage": coverage, "errors": errors}


if __name__ == "__main__":
    sys.exit(main())

"""The banking77 half of ``bench/offline_eval.py`` (``--protocol banking77``): logs made by
learnloop's real paths, estimated by learnloop's own offline evaluation, against the truth.

Per seed and logging policy, on a fresh tenant of the embedded database (``--data-dir``),
with the items, split and simulated user of ``bench/learning_eval.py`` (77 FAQ items; the
user looks at rank r with probability 1/r and clicks and succeeds on the right item):

* learning policies (``bayes``, ``contextual``, ``memory``) first learn from ``--train``
  questions of the stream, outcomes recorded and ``ll.learning.update()`` run every 100;
* then ``--log`` more questions are asked through ``ll.recommender.recommend`` (logged, with
  the policy's exploration) and their outcomes recorded; the update runs only after the last
  one, so the log is made by one frozen state of the policy;
* every target is then evaluated on that log the way ``learnloop learning evaluate`` does
  (``learn.offline``: the target as it stands on that tenant, ``registry.offline``; each
  settled impression replayed against its logged candidates), and by obp's estimators on
  the same decisions.

The truth, as in the simulator half: the target's expected reward over the same logged
impressions, ``sum_a P(target displays a first) * reward(a)``, where ``reward(a)`` is known
exactly from the simulated user: the first item displayed is always looked at, so it earns
the tenant's reward for a success when it is the question's intent and the reward of an
item shown with no outcome otherwise (both read off the log, and checked to be constant).
Targets that learnloop cannot evaluate offline (``registry``'s ``offline`` is None) are
left out and named.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from bench.learning_eval import (
    UPDATE_EVERY,
    K,
    Question,
    Run,
    Task,
    banking_task,
    cached_vectors,
    drain,
    install_vectors,
    new_tenant,
    show_all_context,
    stream_order,
    user,
)
from learnloop import LearnLoop, Settings
from learnloop.errors import InvalidInput
from learnloop.learn import evaluation, offline
from learnloop.learn.policies import Policy

LOGGING = {  # name -> the tenant's learning settings while it logs
    "similarity": {"policy": "similarity"},
    "similarity+explore": {"policy": "similarity", "uniform_exploration": 0.1},
    "bayes": {"policy": "bayes"},
    "contextual": {"policy": "contextual"},
    "memory": {"policy": "memory"},
}
TARGETS = ("similarity", "bayes", "contextual", "memory", "reversed")


def results(args: argparse.Namespace, reversed_policy: Policy) -> list[dict[str, Any]]:
    """One result per (seed, logging policy, target) the store can evaluate."""
    from bench.offline_eval import _line, _result, obp_estimates

    found: list[dict[str, Any]] = []
    skipped: set[str] = set()
    with LearnLoop.open(Settings(data_dir=args.data_dir)) as ll:
        for seed in range(args.seeds):
            task = show_all_context(banking_task("banking77", 0, seed, 100), keep_single=False)
            install_vectors(ll, cached_vectors(ll, task.texts))
            stream = stream_order(task, 500 + seed, args.train + args.log)
            looks = np.random.default_rng(600 + seed).random((len(stream), K))
            for logging_name, settings in LOGGING.items():
                started = time.perf_counter()
                tenant = _logged(ll, task, logging_name, settings, seed, stream, looks, args)
                print(
                    f"# seed {seed} {logging_name}: {args.train:,} learned, {args.log:,} logged"
                    f" ({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
                for target_name in TARGETS:
                    got = _decisions(ll, tenant, target_name, reversed_policy, args.log)
                    if got is None:
                        skipped.add(target_name)
                        continue
                    log, true, bounds = got
                    assessed = evaluation.assess(log, bounds)
                    theirs = None if args.no_obp else obp_estimates(log)
                    result = _result(seed, logging_name, target_name, true, assessed, theirs)
                    result["bounds"] = list(bounds)
                    found.append(result)
                    print(_line(result), flush=True)
    if skipped:
        print(f"# not evaluated offline by learnloop: {', '.join(sorted(skipped))}")
    return found


def _logged(
    ll: LearnLoop,
    task: Task,
    name: str,
    settings: dict[str, Any],
    seed: int,
    stream: list[Question],
    looks: np.ndarray,
    args: argparse.Namespace,
) -> str:
    """A tenant that learned from ``--train`` questions, then logged ``--log`` more."""
    tenant = new_tenant(ll, task, str(settings["policy"]), seed)
    ll.learning.configure(tenant, settings)
    run = Run(name, seed)
    learns = settings["policy"] != "similarity"
    events: list[dict[str, Any]] = []
    for n, question in enumerate(stream):
        logging = n >= args.train
        if learns or logging:
            events += _ask(ll, task, tenant, question, looks[n])
        if not logging and (n + 1) % UPDATE_EVERY == 0:
            _flush(ll, tenant, events)
            drain(ll, run, until_empty=False)
    _flush(ll, tenant, events)
    drain(ll, run, until_empty=True)
    return tenant


def _ask(
    ll: LearnLoop, task: Task, tenant: str, question: Question, looks: np.ndarray
) -> list[dict[str, Any]]:
    answer = ll.recommender.recommend(
        tenant, {"query": question.text, "k": K, "context": task.context}
    )
    shown = [r.item.external_id or "" for r in answer.recommendations]
    rank = user(shown, question.label, looks)
    if rank is None:
        return []
    item_id = answer.recommendations[rank - 1].item.item_id
    base = {"impression_id": str(answer.impression_id), "item_id": item_id, "rank": rank}
    return [{"type": "clicked", **base}, {"type": "succeeded", **base}]


def _flush(ll: LearnLoop, tenant: str, events: list[dict[str, Any]]) -> None:
    if events:
        refused = [r.error for r in ll.events.record(tenant, events) if r.status == "error"]
        if refused:
            raise RuntimeError(f"events refused: {refused[:3]}")
        events.clear()


def _decisions(
    ll: LearnLoop, tenant: str, target_name: str, reversed_policy: Policy, limit: int
) -> tuple[list[evaluation.Logged], float, tuple[float, float]] | None:
    """The log's decisions as the target sees them, the target's true value on them, and
    the tenant's reward range; None where learnloop cannot evaluate the target offline."""
    config = ll.learning.config(tenant)
    with ll.db.connection() as conn:
        if target_name == "reversed":
            target = reversed_policy
        else:
            try:
                target = offline.target_policy(conn, tenant, target_name, config)
            except InvalidInput:
                return None
        intents = {
            r["item_id"]: r["external_id"]
            for r in conn.execute(
                "SELECT item_id, external_id FROM items WHERE tenant_id = %(t)s", {"t": tenant}
            )
        }
        found = offline.replay(conn, tenant, target, limit=limit, seed=1)
    labels = {q.text: q.label for q in _questions()}
    log: list[evaluation.Logged] = []
    right: list[float] = []
    wrong: list[float] = []
    cases: list[tuple[evaluation.Logged, str]] = []
    for one in found:  # the replay learnloop's evaluate estimates from
        decision = one.logged
        log.append(decision)
        label = labels[one.row["query"]]
        cases.append((decision, label))
        if decision.logged is not None:
            shown = intents[decision.items[decision.logged]]
            (right if shown == label else wrong).append(decision.reward)
    success, nothing = _constant(right, "right"), _constant(wrong, "wrong")
    values = [
        sum(
            p * (success if intents[item] == label else nothing)
            for p, item in zip(d.target, d.items, strict=True)
        )
        for d, label in cases
    ]
    return log, float(np.mean(values)), offline.reward_range(config)


def _constant(rewards: list[float], what: str) -> float:
    if not rewards:
        return 0.0
    if max(rewards) - min(rewards) > 1e-9:
        raise RuntimeError(f"first items {what} earned different rewards: {set(rewards)}")
    return rewards[0]


_QUESTIONS: list[Question] = []


def _questions() -> list[Question]:
    """Every stream question with its intent (the log's queries are stream questions)."""
    if not _QUESTIONS:
        _QUESTIONS.extend(banking_task("banking77", 0, 0, 100).stream)
    return _QUESTIONS

"""Learning benchmark: does a policy learn, from outcomes, what helps for each question?

    PYTHONPATH=src .venv/bin/python bench/learning_eval.py [--quick] [--policies similarity,bayes]
        [--protocol banking77|oos|runbooks] [--seeds 3] [--checkpoints 0,1000,3000,10000]
        [--test 1000] [--json PATH] [--data-dir /tmp/learnbench-data] [--no-peers]

Everything runs through learnloop's real paths on the embedded PostgreSQL (``--data-dir``):
items stored with ``ll.items.put_many``, each question asked with
``ll.recommender.recommend``, the simulated user's outcomes recorded with
``ll.events.record``, statistics (and the contextual model) brought up to date with
``ll.learning.update``. Every policy and seed gets a fresh tenant.

Protocol ``banking77`` (the default; issue 12):

* ``../shared/data/banking77/train.csv`` (10,003 questions, 77 intents; 4 duplicate texts
  dropped) is split once, by ``--split-seed``, stratified per intent, into a stream part
  (80%) and a test part (20%): never the same question in both.
* 77 FAQ items, one per intent: title = the intent made readable (``card_arrival`` ->
  "Card arrival"), body = three questions of that intent taken out of the stream part,
  external_id = the intent.
* The stream: the stream part shuffled by the run's seed, again and again (10,000
  questions is more than the ~7,770 of the stream part, so some come back). One
  **outcome** = one question of the stream asked (k=3, tenant threshold 0) and its user's
  response. The simulated user looks at rank r with probability 1/r (draws shared by every
  policy of a seed) and, looking at the right item, records ``clicked`` then
  ``succeeded`` on it; nothing else. The events of 100 questions are recorded in one
  batch, then ``ll.learning.update()`` runs until it returns less than its limit; the
  tenant's ``rewards.wait_seconds`` is 0, so an item shown that got no outcome settles
  (reward 0) at the next update; at a checkpoint the update runs until nothing is left
  and the bench checks that no shown item of the tenant is unsettled.
* k items are always shown: with threshold 0 learnloop still shows a first item alone
  when its confidence is >= 0.85 and 0.15 ahead of the next (``single_solution``; about a
  third of the baseline's answers here), which hides the right item at ranks 2 and 3 from
  the user. The bench turns that off the way a tenant can: one running experiment whose
  variant (every request names the user ``bench-user``, who lands in it) has
  ``single_confidence`` 1 and the tenant's own policy and threshold. ``--keep-single``
  leaves learnloop's default; the oos protocol always does.
* At each checkpoint (outcomes seen so far; 0 = before learning) every test question of
  a fixed subsample (``--test``, drawn by the split seed) is asked greedily, without
  logging and without exploration (``recommend(..., log=False, explore=False)`` where
  learnloop has it; until then the bench ranks with the same search, policy and decision
  code itself, with exploration 0 and epsilon 0, and logs nothing): **acc@1** = share whose
  first item shown is the right one; **MRR** = mean of 1/rank of the right item among those
  shown (0 when not shown).
* Peers, in the same run, trained on the clicked pairs (question, right item) that the
  ``similarity`` stream of the same seed produced up to each checkpoint: scikit-learn's
  ``LogisticRegression`` (defaults: C=1) on the MiniLM question vectors, kNN (k=10,
  cosine, uniform votes) over the clicked questions, and the same logistic regression with
  C=10 (less regularised: the stronger peer on these unit-length vectors); acc@1 and MRR
  over their top 3. They need the
  ``similarity`` run, which is added to ``--policies`` unless ``--no-peers``.
* Speed, per policy: ``update ms/1k`` = wall time of ``ll.learning.update()`` alone per
  1,000 outcomes of the stream (with the rows it processed per second); recommend p50 /
  p95 = wall time of each stream ``recommend`` call (search, policy, logging).

Protocol ``oos``: 10 intents (chosen by the seed) get no item; their questions stay in the
stream and test parts. The tenant keeps the default threshold. After the last checkpoint:
the shares on the test part (**oos empty** = out-of-scope questions with nothing shown,
target >= 80%; **in-scope shown** = in-scope questions whose right item is shown, target
>= 90%), then ``ll.learning.calibrate`` and ``ll.learning.tune_threshold(tenant, 0.9,
apply=True)``, then the same two shares again.

Protocol ``runbooks``: the 108 Prometheus-operator runbooks as items (as
tests/test_relevance.py loads them), questions = its 25 paraphrases plus, when present,
the summary and the description of each alert in ``bench/data/alert_questions.tsv``
(``--runbook-questions``),
split by question into stream and test halves; the same stream and evaluation (hit@1 =
acc@1, MRR), checkpoints 0, 300 and 1,000 unless given. With the 25 paraphrases alone every
alert has one question, so no test question's alert is ever seen in the stream: the
figures then say only whether learning leaves unseen questions alone.

Embeddings, the slow part (about 130 questions/s): every question is embedded once, with
the function ``Search`` uses for a query (``embedder.embed_query``) unless batches of
``embedder.embed`` are checked (on a sample) to give the same vectors within 1e-5; the
vectors are cached in ``/tmp/learnbench-vectors-<hash of model and texts>.npy``, and
``ll.search.query_vector`` is replaced by a lookup in them that falls back to the model.

The table printed at the end has one row per policy and peer, columns acc@1 / MRR at each
checkpoint: the median over seeds and, with several seeds, min..max. ``--json PATH`` writes
every figure of every seed. ``--quick``: 1 seed, checkpoints 0, 1,000, 3,000, 300 test
questions.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import inspect
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from learnloop import LearnLoop, Settings  # noqa: E402
from learnloop.learn.config import POLICIES  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
BANKING77 = SHARED / "banking77" / "train.csv"
ALERT_QUESTIONS = ROOT / "bench" / "data" / "alert_questions.tsv"
K = 3
UPDATE_EVERY = 100
UPDATE_LIMIT = 10_000
OOS_INTENTS = 10
SHOW_ALL = "bench-show-all"
BENCH_USER = "bench-user"
PEERS = ("logistic regression", "kNN (k=10)", "logistic regression C=10")
ADAPTED = "memory+adapter"  # the memory policy with the tenant's embedding adapter
ADAPT_EVERY = 1000  # outcomes between scheduled adapter fits (refit only when due)
ADAPTER_SETTINGS: dict[str, Any] = {}  # --adapter: the tenant's adapter settings


@dataclass(frozen=True)
class Question:
    text: str
    label: str  # the external_id of the right item


@dataclass
class Task:
    """One protocol's data: items to store, stream and test questions."""

    name: str
    items: list[dict[str, Any]]
    stream: list[Question]
    test: list[Question]
    threshold: float | None  # None: the tenant's default
    runbooks: bool = False
    texts: list[str] = field(default_factory=list)  # every question to embed (cache key)
    context: dict[str, str] = field(default_factory=dict)  # sent with every request

    def in_scope(self, question: Question) -> bool:
        return question.label in {row["external_id"] for row in self.items} or self.runbooks


@dataclass
class Run:
    """What one policy did on one seed."""

    policy: str
    seed: int
    acc1: dict[int, float] = field(default_factory=dict)
    mrr: dict[int, float] = field(default_factory=dict)
    update_seconds: float = 0.0
    update_rows: int = 0
    outcomes: int = 0
    recommend_ms: list[float] = field(default_factory=list)
    shown_fewer: int = 0  # stream impressions that showed fewer than k items
    clicks: int = 0
    oos: dict[str, Any] = field(default_factory=dict)
    pairs: list[tuple[int, Question]] = field(default_factory=list)  # (outcome index, clicked)
    seconds: float = 0.0
    adapter_seconds: float = 0.0
    adapter_fits: list[dict[str, Any]] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        ms = sorted(self.recommend_ms)
        out = asdict(self)
        del out["pairs"], out["recommend_ms"]
        out["update_ms_per_1k"] = 1000 * self.update_seconds / max(self.outcomes / 1000, 1e-9)
        out["update_rows_per_s"] = (
            self.update_rows / self.update_seconds if self.update_seconds else None
        )
        out["recommend_p50_ms"] = _quantile(ms, 0.5)
        out["recommend_p95_ms"] = _quantile(ms, 0.95)
        return out


def _quantile(values: Sequence[float], q: float) -> float | None:
    return float(np.quantile(values, q)) if len(values) else None


# --- data ---------------------------------------------------------------------------------


def readable(intent: str) -> str:
    """>>> readable("card_arrival")
    'Card arrival'"""
    words = intent.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def banking77(
    split_seed: int,
) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[str]]]:
    """Stream and test questions per intent, and the three body questions of each item."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    with BANKING77.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = " ".join(row["text"].split())
            if text.lower() not in seen:
                seen.add(text.lower())
                by_intent[row["category"]].append(text)
    rng = np.random.default_rng(split_seed)
    stream, test, bodies = {}, {}, {}
    for intent in sorted(by_intent):
        texts = [by_intent[intent][n] for n in rng.permutation(len(by_intent[intent]))]
        cut = round(0.8 * len(texts))
        bodies[intent], stream[intent], test[intent] = texts[:3], texts[3:cut], texts[cut:]
    return stream, test, bodies


def banking_task(name: str, split_seed: int, seed: int, test_size: int) -> Task:
    stream, test, bodies = banking77(split_seed)
    intents = sorted(stream)
    left_out: set[str] = set()
    if name == "oos":
        picked = np.random.default_rng(1000 + seed).choice(len(intents), OOS_INTENTS, replace=False)
        left_out = {intents[n] for n in picked}
    items = [
        {"kind": "faq", "title": readable(i), "body": "\n".join(bodies[i]), "external_id": i}
        for i in intents
        if i not in left_out
    ]
    tests = [Question(t, i) for i in intents for t in test[i]]
    pick = np.random.default_rng(split_seed).permutation(len(tests))[:test_size]
    return Task(
        name,
        items,
        [Question(t, i) for i in intents for t in stream[i]],
        [tests[n] for n in sorted(pick)],
        None if name == "oos" else 0.0,
        texts=[t for i in intents for t in stream[i] + test[i]],
    )


def runbook_task(split_seed: int, extra: Path | None) -> Task:
    from learnloop.knowledge.markdown import parse_markdown
    from tests.test_relevance import PARAPHRASES, RUNBOOKS

    files = sorted(p for p in RUNBOOKS.rglob("*.md") if p.name != "_index.md")
    items = [
        {
            "kind": "runbook",
            "external_id": p.stem,
            **parse_markdown(p.read_text("utf-8"), fallback_title=p.stem),
        }
        for p in files
    ]
    questions = [Question(text, alert) for alert, text in sorted(PARAPHRASES.items())]
    if extra is not None and extra.exists():
        with extra.open(newline="", encoding="utf-8") as f:
            rows = csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t")
            questions += [
                Question(r[column].strip(), r["alert"].strip())
                for r in rows
                for column in ("summary", "description")
            ]
    order = np.random.default_rng(split_seed).permutation(len(questions))
    half = len(questions) // 2
    stream = [questions[n] for n in sorted(order[:half])]
    test = [questions[n] for n in sorted(order[half:])]
    return Task(
        "runbooks", items, stream, test, 0.0, runbooks=True, texts=[q.text for q in questions]
    )


def show_all_context(task: Task, keep_single: bool) -> Task:
    """The main and runbooks protocols show k items always (unless ``keep_single``)."""
    if task.name != "oos" and not keep_single:
        task.context = {"user": BENCH_USER}
    return task


# --- embeddings ---------------------------------------------------------------------------


def cached_vectors(ll: LearnLoop, texts: list[str]) -> dict[str, np.ndarray]:
    """Every text's query vector, as ``Search`` computes it, from a cache under /tmp."""
    texts = sorted({t.strip() for t in texts})
    key = hashlib.sha256("\n".join([ll.embedder.name, *texts]).encode()).hexdigest()[:16]
    path = Path(f"/tmp/learnbench-vectors-{key}.npy")
    if path.exists():
        matrix = np.load(path)
    else:
        started = time.perf_counter()
        matrix = _embed_all(ll, texts)
        np.save(path, matrix)
        print(
            f"embedded {len(texts):,} questions in {time.perf_counter() - started:.0f} s -> {path}"
        )
    matrix.setflags(write=False)
    return {t: matrix[n] for n, t in enumerate(texts)}


def _embed_all(ll: LearnLoop, texts: list[str]) -> np.ndarray:
    sample = texts[:: max(1, len(texts) // 64)]
    single = np.stack([ll.embedder.embed_query(t) for t in sample])
    batched = ll.embedder.embed(sample)
    gap = float(np.abs(single - batched).max())
    if gap <= 1e-5:
        return np.asarray(ll.embedder.embed(texts), dtype=np.float32)
    print(f"batched embeddings differ from the query path by {gap:.1e}: embedding one by one")
    return np.stack([ll.embedder.embed_query(t) for t in texts]).astype(np.float32)


def install_vectors(ll: LearnLoop, vectors: dict[str, np.ndarray]) -> None:
    """``ll.search`` looks the query's vector up; unknown queries go to the model."""
    model = ll.search.query_vector

    def lookup(query: str) -> np.ndarray:
        found = vectors.get(query)
        return found if found is not None else model(query)

    ll.search.query_vector = lookup  # type: ignore[method-assign]


# --- asking without teaching -------------------------------------------------------------


class Asker:
    """Greedy, unlogged recommendations for evaluation: learnloop's own ``log=False,
    explore=False`` when ``recommend`` has them, else the same steps done here."""

    def __init__(self, ll: LearnLoop):
        from learnloop.learn.live import Policies

        self.ll = ll
        params = inspect.signature(ll.recommender.recommend).parameters
        self.native = "log" in params and "explore" in params
        self.policies = Policies()

    def shown(self, tenant: str, query: str, context: dict[str, str]) -> list[str]:
        if self.native:
            answer = self.ll.recommender.recommend(  # type: ignore[call-arg]
                tenant, {"query": query, "k": K, "context": context}, log=False, explore=False
            )
            return [r.item.external_id or "" for r in answer.recommendations]
        return self._by_hand(tenant, query, context)

    def _by_hand(self, tenant: str, query: str, context: dict[str, str]) -> list[str]:
        from learnloop.learn.policies import Arm
        from learnloop.recommend.policy import decide_ranked
        from learnloop.recommend.service import CANDIDATES, RECOMMENDABLE, _demote_deprecated
        from learnloop.recommend.setup import _setup

        hits = _demote_deprecated(
            self.ll.search.search(tenant, query, k=max(CANDIDATES, K), statuses=RECOMMENDABLE)
        )
        arms = [Arm(h.item.item_id, h.similarity, h.item.kind) for h in hits]
        with self.ll.db.connection() as conn:
            setup = _setup(conn, tenant, context)
            config = setup.config.model_copy(update={"exploration": 0.0, "epsilon": 0.0})
            policy = self.policies.build(conn, tenant, setup.policy, config, arms, context)
        ranking = policy.rank(arms, context, query, np.random.default_rng(0))
        if setup.policy == "contextual":  # greedy: its first item is a draw; take the best
            order = sorted(range(len(arms)), key=lambda n: -ranking.scores[n])
            ranking = type(ranking)(order, ranking.scores, ranking.propensities)
        confidences = [setup.confidence(h.similarity) for h in hits]
        _, ranked = decide_ranked(
            hits,
            ranking,
            confidences,
            k=K,
            threshold=setup.threshold,
            single_confidence=setup.single_confidence,
        )
        return [r.hit.item.external_id or "" for r in ranked if r.shown]


def score(lists: list[list[str]], questions: list[Question]) -> tuple[float, float]:
    """acc@1 and MRR of ranked lists against the right labels."""
    acc = [bool(s) and s[0] == q.label for s, q in zip(lists, questions, strict=True)]
    rr = [
        1 / (s.index(q.label) + 1) if q.label in s else 0.0
        for s, q in zip(lists, questions, strict=True)
    ]
    return float(np.mean(acc)), float(np.mean(rr))


def evaluate(asker: Asker, tenant: str, task: Task) -> list[list[str]]:
    return [asker.shown(tenant, q.text, task.context) for q in task.test]


def scope_shares(lists: list[list[str]], task: Task) -> dict[str, float]:
    outside = [not s for s, q in zip(lists, task.test, strict=True) if not task.in_scope(q)]
    inside = [q.label in s for s, q in zip(lists, task.test, strict=True) if task.in_scope(q)]
    return {
        "oos_empty": float(np.mean(outside)) if outside else float("nan"),
        "in_scope_shown": float(np.mean(inside)) if inside else float("nan"),
    }


# --- the stream ---------------------------------------------------------------------------


def stream_order(task: Task, seed: int, n: int) -> list[Question]:
    rng = np.random.default_rng(seed)
    order: list[Question] = []
    while len(order) < n:
        order += [task.stream[i] for i in rng.permutation(len(task.stream))]
    return order[:n]


def drain(ll: LearnLoop, run: Run, *, until_empty: bool) -> None:
    """``ll.learning.update()`` while it returns its limit (or anything, ``until_empty``)."""
    while True:
        started = time.perf_counter()
        done = ll.learning.update(limit=UPDATE_LIMIT)
        run.update_seconds += time.perf_counter() - started
        run.update_rows += done
        if done == 0 or (done < UPDATE_LIMIT and not until_empty):
            return


def unsettled(ll: LearnLoop, tenant: str) -> int:
    with ll.db.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM learn_outcomes WHERE tenant_id = %(t)s AND shown"
            " AND NOT settled",
            {"t": tenant},
        ).fetchone()
    return int(row["n"]) if row else 0


def new_tenant(ll: LearnLoop, task: Task, policy: str, seed: int) -> str:
    name = policy[:10].replace("+", "-")
    tenant = f"lb-{task.name[:8]}-{name}-s{seed}-{int(time.time() * 1000) % 10**9}"
    ll.tenants.ensure(tenant)
    ll.items.put_many(tenant, task.items)
    changes: dict[str, Any] = {"policy": policy, "rewards": {"wait_seconds": 0}}
    if policy == ADAPTED:
        changes["policy"] = "memory"
        changes["adapter"] = ADAPTER_SETTINGS
    elif policy == "memory":
        changes["adapter"] = {"enabled": False}
    ll.learning.configure(tenant, changes)
    if task.threshold is not None:
        ll.recommender.set_threshold(tenant, task.threshold)
    if task.context:
        show_all(ll, tenant, task.context["user"])
    return tenant


def show_all(ll: LearnLoop, tenant: str, user: str) -> None:
    """Always k items shown: the tenant's one experiment puts ``user`` in a variant whose
    ``single_confidence`` is 1 (no item is ever that sure), so the strategy is never
    ``single_solution``; the variant keeps the tenant's policy and threshold."""
    from learnloop.learn.experiments import assign

    variants = [
        {"name": "control", "weight": 1e-9},
        {"name": "show-all", "weight": 1.0, "single_confidence": 1.0},
    ]
    if assign(SHOW_ALL, user, variants) != "show-all":
        raise RuntimeError(f"user {user!r} is not in the show-all variant")
    ll.learning.experiments.start(tenant, {"name": SHOW_ALL, "unit": "user", "variants": variants})


def user(shown: list[str], label: str, looks: np.ndarray) -> int | None:
    """The rank (1-based) the simulated user clicks and succeeds on, if any."""
    for rank, key in enumerate(shown, 1):
        if key == label:
            return rank if looks[rank - 1] < 1 / rank else None
    return None


def play(
    ll: LearnLoop, asker: Asker, task: Task, policy: str, seed: int, checkpoints: list[int]
) -> Run:
    run = Run(policy, seed)
    started = time.perf_counter()
    tenant = new_tenant(ll, task, policy, seed)
    questions = stream_order(task, seed, max(checkpoints))
    looks = np.random.default_rng(seed + 7).random((len(questions), K))
    events: list[dict[str, Any]] = []
    for n, question in enumerate([*questions, None]):
        if n in checkpoints:
            _checkpoint(ll, asker, task, tenant, run, n, events)
        if question is None:
            break
        events += _ask(ll, task, tenant, run, n, question, looks[n])
        if (n + 1) % UPDATE_EVERY == 0:
            _flush(ll, tenant, events)
            drain(ll, run, until_empty=False)
        if policy == ADAPTED and (n + 1) % ADAPT_EVERY == 0:
            _adapt(ll, tenant, run, n + 1)
        run.outcomes = n + 1
    if task.name == "oos":
        _calibrate(ll, asker, task, tenant, run)
    run.seconds = time.perf_counter() - started
    return run


def _ask(
    ll: LearnLoop, task: Task, tenant: str, run: Run, n: int, question: Question, looks: np.ndarray
) -> list[dict[str, Any]]:
    started = time.perf_counter()
    request = {"query": question.text, "k": K, "context": task.context}
    answer = ll.recommender.recommend(tenant, request)
    run.recommend_ms.append(1000 * (time.perf_counter() - started))
    shown = [r.item.external_id or "" for r in answer.recommendations]
    run.shown_fewer += len(shown) < K
    rank = user(shown, question.label, looks)
    if rank is None:
        return []
    run.clicks += 1
    run.pairs.append((n, question))
    item_id = answer.recommendations[rank - 1].item.item_id
    base = {"impression_id": str(answer.impression_id), "item_id": item_id, "rank": rank}
    return [{"type": "clicked", **base}, {"type": "succeeded", **base}]


def _adapt(ll: LearnLoop, tenant: str, run: Run, n: int) -> None:
    """The scheduled refit: ``train_adapter`` when the clicked pairs grew enough."""
    drain(ll, run, until_empty=True)
    started = time.perf_counter()
    answer = ll.learning.train_adapter(tenant, force=False)
    spent = time.perf_counter() - started
    run.adapter_seconds += spent
    if answer["reason"] == "not due":
        return
    fit = answer.get("fit", {})
    run.adapter_fits.append({"at": n, "seconds": spent, "kept": answer["kept"], **fit})
    held = (
        f"held-out acc@1 {fit['adapted_acc1']:.1%} vs unadapted {fit['unadapted_acc1']:.1%}"
        if "adapted_acc1" in fit
        else answer["reason"]
    )
    version = (answer.get("adapter") or {}).get("version")
    print(
        f"  adapter at {n:,}: {fit.get('pairs', 0):,} pairs, {held},"
        f" {'kept (version ' + str(version) + ')' if answer['kept'] else 'refused'}"
        f" in {spent:.0f} s",
        flush=True,
    )


def _flush(ll: LearnLoop, tenant: str, events: list[dict[str, Any]]) -> None:
    if events:
        results = ll.events.record(tenant, events)
        errors = [r.error for r in results if r.status == "error"]
        if errors:
            raise RuntimeError(f"events refused: {errors[:3]}")
        events.clear()


def _checkpoint(
    ll: LearnLoop,
    asker: Asker,
    task: Task,
    tenant: str,
    run: Run,
    n: int,
    events: list[dict[str, Any]],
) -> None:
    _flush(ll, tenant, events)
    drain(ll, run, until_empty=True)
    left = unsettled(ll, tenant)
    if left:
        raise RuntimeError(f"{left} items shown are still unsettled at checkpoint {n}")
    lists = evaluate(asker, tenant, task)
    run.acc1[n], run.mrr[n] = score(lists, task.test)
    if task.name == "oos":
        run.oos[f"at {n}"] = scope_shares(lists, task)
    print(
        f"  {run.policy} seed {run.seed} at {n:,}: acc@1 {run.acc1[n]:.1%} MRR {run.mrr[n]:.3f}"
        f" ({time.perf_counter():.0f})",
        flush=True,
    )


def _calibrate(ll: LearnLoop, asker: Asker, task: Task, tenant: str, run: Run) -> None:
    fitted = ll.learning.calibrate(tenant)
    threshold = ll.learning.tune_threshold(tenant, 0.9, apply=True)
    lists = evaluate(asker, tenant, task)
    run.oos["calibration"] = None if fitted is None else getattr(fitted, "method", str(fitted))
    run.oos["threshold"] = threshold
    run.oos["after calibration"] = scope_shares(lists, task)


# --- peers --------------------------------------------------------------------------------


def peers(
    pairs: list[tuple[int, Question]],
    task: Task,
    vectors: dict[str, np.ndarray],
    checkpoints: list[int],
) -> dict[str, dict[int, tuple[float, float]]]:
    """acc@1 and MRR of each peer at each checkpoint, trained on the pairs clicked before."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    test = np.stack([vectors[q.text] for q in task.test])
    out: dict[str, dict[int, tuple[float, float]]] = {name: {} for name in PEERS}
    for c in checkpoints:
        seen = [q for n, q in pairs if n < c]
        if len({q.label for q in seen}) < 2:
            continue
        x = np.stack([vectors[q.text] for q in seen])
        y = np.array([q.label for q in seen])
        models = (
            LogisticRegression(max_iter=1000),
            KNeighborsClassifier(n_neighbors=min(10, len(seen)), metric="cosine"),
            LogisticRegression(max_iter=1000, C=10.0),
        )
        for name, model in zip(PEERS, models, strict=True):
            model.fit(x, y)
            top = np.argsort(-model.predict_proba(test), axis=1)[:, :K]
            lists = [[str(model.classes_[j]) for j in row] for row in top]
            out[name][c] = score(lists, task.test)
    return out


# --- the report ---------------------------------------------------------------------------


def spread(values: list[float], pct: bool) -> str:
    if not values:
        return ""
    fmt: Callable[[float], str] = (lambda v: f"{100 * v:.1f}") if pct else (lambda v: f"{v:.3f}")
    text = fmt(statistics.median(values))
    if len(values) > 1:
        text += f" ({fmt(min(values))}..{fmt(max(values))})"
    return text


def table(
    task: Task,
    runs: list[Run],
    peer_figures: list[dict[str, dict[int, tuple[float, float]]]],
    checkpoints: list[int],
) -> str:
    head = [
        "policy",
        *[f"acc@1 / MRR at {c:,}" for c in checkpoints],
        "update ms/1k",
        "rec p50/p95 ms",
    ]
    lines = [
        f"\n{task.name}: {len(task.items)} items, {len(task.stream):,} stream and "
        f"{len(task.test):,} test questions; acc@1 in %, MRR; medians over seeds (min..max)",
        "| " + " | ".join(head) + " |",
        "|" + " --- |" * len(head),
    ]
    for policy in dict.fromkeys(r.policy for r in runs):
        mine = [r for r in runs if r.policy == policy]
        cells = [
            f"{spread([r.acc1[c] for r in mine], True)} / {spread([r.mrr[c] for r in mine], False)}"
            for c in checkpoints
        ]
        figures = [r.figures() for r in mine]
        update = statistics.median(f["update_ms_per_1k"] for f in figures)
        p50 = statistics.median(f["recommend_p50_ms"] for f in figures)
        p95 = statistics.median(f["recommend_p95_ms"] for f in figures)
        lines.append(
            f"| {policy} | " + " | ".join(cells) + f" | {update:.0f} | {p50:.1f} / {p95:.1f} |"
        )
    for name in PEERS:
        cells = []
        for c in checkpoints:
            got = [p[name][c] for p in peer_figures if c in p[name]]
            cells.append(
                f"{spread([a for a, _ in got], True)} / {spread([m for _, m in got], False)}"
                if got
                else ""
            )
        if any(cells):
            lines.append(f"| {name} | " + " | ".join(cells) + " | | |")
    lines += _oos_lines(runs) + _stream_lines(runs)
    return "\n".join(lines)


def _oos_lines(runs: list[Run]) -> list[str]:
    lines = []
    for policy in dict.fromkeys(r.policy for r in runs if r.oos):
        mine = [r for r in runs if r.policy == policy]
        last = max(mine[0].acc1)
        before = [r.oos[f"at {last}"] for r in mine]
        after = [r.oos["after calibration"] for r in mine]
        thresholds = ", ".join(
            "none" if r.oos["threshold"] is None else f"{r.oos['threshold']:.3f}" for r in mine
        )

        def share(rows: list[dict[str, float]], key: str) -> str:
            return spread([row[key] for row in rows], True) + "%"

        lines.append(
            f"{policy}: before calibration oos empty {share(before, 'oos_empty')},"
            f" in-scope shown {share(before, 'in_scope_shown')}; after (threshold"
            f" {thresholds}) oos empty {share(after, 'oos_empty')}, in-scope shown"
            f" {share(after, 'in_scope_shown')} (targets: >= 80%, >= 90%)"
        )
    return lines


def _stream_lines(runs: list[Run]) -> list[str]:
    lines = []
    for r in runs:
        f = r.figures()
        rows = f["update_rows_per_s"] or 0
        per_s = 1e6 / f["update_ms_per_1k"] if f["update_ms_per_1k"] else 0
        pairs = ", ".join(f"{sum(n < c for n, _ in r.pairs):,}" for c in sorted(r.acc1) if c)
        lines.append(
            f"  {r.policy} seed {r.seed}: {r.outcomes:,} outcomes, {r.clicks:,} clicked"
            f" ({pairs} by the checkpoints), {r.shown_fewer:,} impressions with fewer than {K}"
            f" shown; update {f['update_ms_per_1k']:.0f} ms/1k outcomes ({per_s:,.0f}"
            f" outcomes/s, {rows:,.0f} rows/s); run {r.seconds:.0f} s"
            + (
                f"; adapter fits {len(r.adapter_fits)} in {r.adapter_seconds:.0f} s"
                if r.adapter_fits
                else ""
            )
        )
    return lines


# --- main ---------------------------------------------------------------------------------


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=("banking77", "oos", "runbooks"), default="banking77")
    parser.add_argument("--policies", default=",".join([*POLICIES, ADAPTED]))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--checkpoints", default=None, help="default 0,1000,3000,10000")
    parser.add_argument("--test", type=int, default=1000, help="test questions evaluated")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="1 seed, 0,1000,3000, 300 test")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument(
        "--keep-single", action="store_true", help="let a sure first item be shown alone"
    )
    parser.add_argument("--runbook-questions", type=Path, default=ALERT_QUESTIONS)
    parser.add_argument(
        "--adapter",
        type=json.loads,
        default={},
        help='memory+adapter settings, e.g. {"strength": 8}',
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/learnbench-data"))
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.test = 1, min(args.test, 300)
        args.checkpoints = args.checkpoints or "0,1000,3000"
    default = "0,300,1000" if args.protocol == "runbooks" else "0,1000,3000,10000"
    args.checkpoints = sorted({int(c) for c in (args.checkpoints or default).split(",")})
    args.policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    if not args.no_peers and "similarity" not in args.policies:
        args.policies.insert(0, "similarity")
    return args


def make_task(args: argparse.Namespace, seed: int) -> Task:
    if args.protocol == "runbooks":
        task = runbook_task(args.split_seed, args.runbook_questions)
    else:
        task = banking_task(args.protocol, args.split_seed, seed, args.test)
    return show_all_context(task, args.keep_single)


def main(argv: list[str] | None = None) -> None:
    args = options(argv)
    ADAPTER_SETTINGS.update(args.adapter)
    started = time.perf_counter()
    runs: list[Run] = []
    peer_figures = []
    with LearnLoop.open(Settings(data_dir=args.data_dir)) as ll:
        asker = Asker(ll)
        native = "recommend(log=False, explore=False)"
        print(f"evaluation: {native if asker.native else 'by hand, unlogged, greedy'}")
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            task = make_task(args, seed)
            vectors = cached_vectors(ll, task.texts)
            install_vectors(ll, vectors)
            for policy in args.policies:
                run = play(ll, asker, task, policy, seed, args.checkpoints)
                runs.append(run)
                if policy == "similarity" and not args.no_peers:
                    peer_figures.append(peers(run.pairs, task, vectors, args.checkpoints))
    print(table(task, runs, peer_figures, args.checkpoints))
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "protocol": args.protocol,
                    "checkpoints": args.checkpoints,
                    "test": len(task.test),
                    "runs": [r.figures() for r in runs],
                    "peers": [
                        {name: {str(c): v for c, v in p[name].items()} for name in p}
                        for p in peer_figures
                    ],
                },
                indent=1,
                default=str,
            )
        )


if __name__ == "__main__":
    main()

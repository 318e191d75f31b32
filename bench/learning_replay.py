"""A fast replay of bench/learning_eval.py's banking77 protocol, for tuning the memory
policy and the adapter: the search's answer to every question is computed once through
learnloop's real search and cached; the stream is then replayed in process with the same
policy code (``MemoryPolicy``, ``adapter.fit``, the baseline's confidence, the decision),
the store's part (neighbours, settled outcomes, clicked pairs) kept in arrays.

    PYTHONPATH=src .venv/bin/python bench/learning_replay.py --split-seed 1 --seed 1 \
        --checkpoints 0,1000,3000,8000 [--protocol oos] [--set '{"adapter": {"strength": 1}}']
        [--aim '{"below": 0.8, "position": 3, "pick": "next"}'] [--where] [--label-value]

``--aim``: exploration aimed at uncertain questions, as tried for issue 12: a stream
request whose best posterior mean is under ``below`` (or whose two best are closer than
``margin``) shows, with probability ``rate``, a candidate from ranks 4 to ``upto`` (10) of
the posterior means' order, not already shown, at ``position`` (2 or 3; the ones below
move down): ``pick`` "next" (the best of them) or "random". ``--where``: where the right
item stood in each stream impression (rank 1, 2, 3, 4-10, 11+, not a candidate; clicked or
not: its rank shown, or, not shown, its rank in the posterior means' order, which an
explored request does not follow) and on the test part at the last checkpoint.
``--label-value``: logistic regression (C=10) on the stream questions with their true
labels: all of them, those clicked, and those clicked plus each group of the ones not
clicked, scored on the test part: what the missing clicks are worth; then an RBF-kernel SVM
and logistic regression on the vectors beside tf-idf words, on the clicked ones alone.

It is an approximation (no propensities logged, neighbours read in process, outcomes
settled every 100 questions as the bench does, the adapter refitted every 1,000 when due)
to choose settings; the figures to report come from bench/learning_eval.py. Tune on a
split seed other than the bench's (0). The first run of a split searches every question
once (a minute or so) and keeps the answers in /tmp/learnreplay-<protocol>-split<N>.pkl.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import learning_eval as bench  # noqa: E402
from learnloop.knowledge.models import Item, SearchHit  # noqa: E402
from learnloop.learn import adapter as fitting  # noqa: E402
from learnloop.learn.adapters import _array  # noqa: E402
from learnloop.learn.config import LearningConfig, examine  # noqa: E402
from learnloop.learn.memory import MemoryPolicy, Neighbour  # noqa: E402
from learnloop.learn.policies import Arm  # noqa: E402
from learnloop.recommend import confidence as baseline  # noqa: E402
from learnloop.recommend.policy import SINGLE_CONFIDENCE, decide_ranked  # noqa: E402
from learnloop.recommend.service import CANDIDATES, SUGGESTED  # noqa: E402

K = bench.K


@dataclass
class Cache:
    """Per question text: the search's hits (item index, similarity, semantic rank, keyword
    rank); per item: its vector; the item labels."""

    labels: list[str]
    item_vectors: np.ndarray
    hits: dict[str, list[tuple[int, float, int | None, int | None]]]
    vectors: dict[str, np.ndarray]


def build(task: bench.Task, data_dir: Path) -> Cache:
    from learnloop import LearnLoop, Settings

    texts = sorted(set(task.texts))  # every question of the split, not only those tested
    with LearnLoop.open(Settings(data_dir=data_dir)) as ll:
        vectors = bench.cached_vectors(ll, task.texts)
        bench.install_vectors(ll, vectors)
        tenant = f"replay-{task.name}-{int(time.time() * 1000) % 10**9}"
        ll.tenants.ensure(tenant)
        ll.items.put_many(tenant, task.items)
        labels = [row["external_id"] for row in task.items]
        found = {}
        started = time.perf_counter()
        for n, text in enumerate(texts):
            hits = ll.search.search(tenant, text, k=CANDIDATES, statuses=("active", "deprecated"))
            found[text] = [
                (labels.index(h.item.external_id), h.similarity, h.semantic_rank, h.keyword_rank)
                for h in hits
            ]
            if n % 1000 == 0:
                print(f"  searched {n:,} in {time.perf_counter() - started:.0f} s", flush=True)
        with ll.db.connection() as conn:
            rows = conn.execute(
                "SELECT external_id, embedding FROM items WHERE tenant_id = %(t)s",
                {"t": tenant},
            ).fetchall()
        by_label = {
            r["external_id"]: np.asarray(_array(r["embedding"]), dtype=np.float32) for r in rows
        }
    item_vectors = np.stack([by_label[label] for label in labels])
    item_vectors /= np.linalg.norm(item_vectors, axis=1, keepdims=True)
    return Cache(labels, item_vectors, found, {t: vectors[t] for t in texts})


def load(task: bench.Task, key: str, data_dir: Path) -> Cache:
    path = Path(f"/tmp/learnreplay-{key}.pkl")
    if path.exists():
        return Cache(**pickle.loads(path.read_bytes()))
    cache = build(task, data_dir)
    path.write_bytes(pickle.dumps(vars(cache)))
    return cache


def _hit(item: int, sim: float, sem: int | None, kw: int | None) -> SearchHit:
    fake = Item.model_construct(item_id=item, kind="faq", external_id=str(item))
    return SearchHit.model_construct(
        item=fake, score=0.0, similarity=sim, keyword_score=None, semantic_rank=sem,
        keyword_rank=kw,
    )  # fmt: skip


class Replay:
    """One tenant: its impressions' vectors, their outcomes, its adapter."""

    def __init__(self, cache: Cache, config: LearningConfig, threshold: float):
        self.cache, self.config, self.threshold = cache, config, threshold
        self.qvecs: list[np.ndarray] = []
        self.matrix = np.zeros((0, cache.item_vectors.shape[1]), dtype=np.float32)
        self.outcomes: list[list[tuple[int, int, float]]] = []  # (item, rank, reward) shown
        self.settled = 0  # impressions whose outcomes are settled
        self.pairs: list[tuple[int, int, int]] = []  # (impression, item, rank) clicked
        self.adapter: fitting.Adapter | None = None
        self.adapter_pairs = 0
        self.fits: list[str] = []
        self.single = 1.0  # always k shown (the bench's show-all variant); oos: the default
        self.aim: dict[str, Any] = {}  # --aim: exploration aimed at uncertain questions
        self.aimed = 0
        self.order: list[int] = []  # the last request's posterior order, item ids

    def neighbours(self, vector: np.ndarray) -> list[Neighbour]:
        """The outcomes of the nearest settled impressions within the window (the store
        reads only settled outcomes; the bench settles them every 100 questions)."""
        m = self.config.memory
        held = self.settled
        if held == 0:
            return []
        start = max(0, held - m.window)
        sims = self.matrix[start:held] @ vector
        k = min(m.neighbours, len(sims))
        found = []
        for j in np.argpartition(-sims, k - 1)[:k]:
            n = start + int(j)
            found += [Neighbour(str(n), float(sims[j]), i, r, w) for i, r, w in self.outcomes[n]]
        return found

    def policy(self, vector: np.ndarray, explore: bool) -> MemoryPolicy:
        memory = self.config.memory
        if not explore:
            memory = memory.model_copy(update={"exploration": 0.0})
        adapted = None
        if self.adapter is not None and self.config.adapter.enabled:
            adapted = self.adapter.probabilities(vector)
        return MemoryPolicy(
            self.neighbours(vector),
            memory,
            adapted=adapted,
            adapted_strength=self.config.adapter.strength,
        )

    def ask(self, text: str, explore: bool, rng: np.random.Generator) -> list[int]:
        vector = self.cache.vectors[text]
        raw = [_hit(*h) for h in self.cache.hits[text]]
        live = self.policy(vector, explore)
        wanted = live.suggested([h.item.item_id for h in raw])[:SUGGESTED]
        if wanted:
            sims = self.cache.item_vectors[wanted] @ vector
            extra = sorted(zip(wanted, sims, strict=True), key=lambda p: -p[1])
            raw = raw + [_hit(i, float(s), None, None) for i, s in extra]
        conf = baseline.confidences(raw)
        arms = [Arm(h.item.item_id, h.similarity, "faq", c) for h, c in zip(raw, conf, strict=True)]
        ranking = live.rank(arms, {}, text, rng, self.threshold)
        confidences = ranking.confidences or conf
        _, ranked = decide_ranked(
            raw, ranking, confidences, k=K, threshold=self.threshold, single_confidence=self.single
        )
        shown = [r.hit.item.item_id for r in ranked if r.shown]
        alpha, beta = live.posteriors(arms)
        means = alpha / (alpha + beta)
        self.order = [arms[int(n)].item_id for n in np.argsort(-means, kind="stable")]
        if explore and self.aim and (live.evidence or live.adapted):
            shown = self.aimed_at(shown, np.sort(means)[::-1], rng)
        return shown

    def aimed_at(self, shown: list[int], means: np.ndarray, rng: np.random.Generator) -> list[int]:
        """``--aim``: a candidate from ranks 4.. of the posterior order put at a position
        of an uncertain question's list."""
        a = self.aim
        unsure = means[0] < a["below"] if "below" in a else means[0] - means[1] < a["margin"]
        rest = [i for i in self.order[3 : a.get("upto", 10)] if i not in shown]
        if not unsure or not rest or len(shown) < K or rng.random() >= a.get("rate", 1.0):
            return shown
        pick = rest[0] if a.get("pick", "next") == "next" else int(rng.choice(rest))
        self.aimed += 1
        position = a.get("position", 3)
        return [*shown[: position - 1], pick, *shown[position - 1 :]][:K]

    def learn(self, text: str, shown: list[int], clicked: int | None) -> None:
        n = len(self.qvecs)
        self.qvecs.append(self.cache.vectors[text])
        self.outcomes.append(
            [(item, rank, 1.0 if rank == clicked else 0.0) for rank, item in enumerate(shown, 1)]
        )
        if clicked is not None:
            self.pairs.append((n, shown[clicked - 1], clicked))

    def settle(self) -> None:
        if len(self.matrix) < len(self.qvecs):
            self.matrix = np.stack(self.qvecs)
        self.settled = len(self.qvecs)

    def fit(self, at: int) -> bool:
        """The scheduled refit, when due (True: a fit was tried)."""
        s = self.config.adapter
        count = len(self.pairs)
        if self.adapter is not None and count < self.adapter_pairs * (1 + s.refit_growth):
            return False
        pairs = self.pairs[-s.max_pairs :]
        x = np.stack([self.qvecs[n] for n, _, _ in pairs])
        y = np.array([i for _, i, _ in pairs])
        w = np.array([1.0 / examine(r, self.config.position_bias) for _, _, r in pairs])
        ids = np.arange(len(self.cache.labels))
        verdict = fitting.fit(
            x, y, ids, self.cache.item_vectors, embedder="e", version=1,
            min_pairs=s.min_pairs, holdout=s.holdout, regularization=s.regularization,
            scale=s.prototype_scale,
            weights=w,
        )  # fmt: skip
        self.fits.append(f"{at}: {verdict.reason}")
        if verdict.adapter is not None:
            self.adapter, self.adapter_pairs = verdict.adapter, count
        return True


def place(order: list[int], item: int) -> str:
    """Where an item stands in a posterior order, as ``--where`` counts it."""
    if item not in order:
        return "not a candidate"
    rank = order.index(item) + 1
    return str(rank) if rank <= K else ("4-10" if rank <= 10 else "11+")


def run(
    task: bench.Task,
    cache: Cache,
    config: LearningConfig,
    seed: int,
    checkpoints: list[int],
    adapt: bool,
    aim: dict[str, Any] | None = None,
) -> dict[str, Any]:
    threshold = 0.5 if task.threshold is None else task.threshold
    tenant = Replay(cache, config, threshold)
    tenant.aim = aim or {}
    label = {name: n for n, name in enumerate(cache.labels)}
    stream: list[tuple[str, str, str, bool]] = []  # (text, label, place, clicked)
    if task.name == "oos":
        tenant.single = SINGLE_CONFIDENCE
    questions = bench.stream_order(task, seed, max(checkpoints))
    looks = np.random.default_rng(seed + 7).random((len(questions), K))
    rng = np.random.default_rng(seed + 100)
    out: dict[str, Any] = {"acc1": {}, "oos": {}}
    started = time.perf_counter()
    for n, q in enumerate([*questions, None]):
        if n in checkpoints:
            tenant.settle()
            lists = [[cache.labels[i] for i in tenant.ask(t.text, False, rng)] for t in task.test]
            acc, mrr = bench.score(lists, task.test)
            out["acc1"][n] = acc
            line = f"  at {n:,}: acc@1 {acc:.1%} MRR {mrr:.3f}"
            if task.name == "oos":
                out["oos"][n] = bench.scope_shares(lists, task)
                line += f" {out['oos'][n]}"
            print(line + f" ({time.perf_counter() - started:.0f} s)", flush=True)
        if q is None:
            break
        shown = tenant.ask(q.text, True, rng)
        keys = [cache.labels[i] for i in shown]
        rank = bench.user(keys, q.label, looks[n])
        right = label.get(q.label, -1)
        where = str(shown.index(right) + 1) if right in shown else place(tenant.order, right)
        stream.append((q.text, q.label, where, rank is not None))
        tenant.learn(q.text, shown, rank)
        if (n + 1) % bench.UPDATE_EVERY == 0:
            tenant.settle()
        if adapt and (n + 1) % bench.ADAPT_EVERY == 0 and tenant.fit(n + 1):
            print(f"    {tenant.fits[-1]}", flush=True)
    out["aimed"] = tenant.aimed
    out["stream"] = stream
    tenant.settle()
    test = []
    for t in task.test:
        tenant.ask(t.text, False, rng)
        test.append(place(tenant.order, label.get(t.label, -1)))
    out["test_where"] = test
    return out


def where_lines(out: dict[str, Any]) -> list[str]:
    """``--where``: the stream's impressions by where the right item stood, clicked or not,
    and the test part's questions by where it stood at the last checkpoint."""
    from collections import Counter

    tally = Counter((w, c) for _, _, w, c in out["stream"])
    places = ["1", "2", "3", "4-10", "11+", "not a candidate"]
    lines = ["  stream: right item at (clicked / not clicked)"]
    lines += [f"    {p}: {tally[(p, True)]:,} / {tally[(p, False)]:,}" for p in places]
    test = Counter(out["test_where"])
    lines.append(
        "  test part at the last checkpoint: " + ", ".join(f"{p} {test[p]:,}" for p in places)
    )
    return lines


def label_value(task: bench.Task, cache: Cache, out: dict[str, Any]) -> list[str]:
    """``--label-value``: logistic regression (C=10) on subsets of the stream questions with
    their true labels, acc@1 on the test part."""
    from sklearn.linear_model import LogisticRegression

    by_text: dict[str, tuple[str, set[str], set[str]]] = {}
    for text, label, where, clicked in out["stream"]:
        row = by_text.setdefault(text, (label, set(), set()))
        (row[1] if clicked else row[2]).add(where)
    xt = np.stack([cache.vectors[q.text] for q in task.test])
    yt = np.array([q.label for q in task.test])
    subsets = {
        "every stream question asked": lambda c, u: True,
        "those clicked": lambda c, u: bool(c),
        "clicked + not read at rank 2 or 3": lambda c, u: bool(c) or bool(u & {"2", "3"}),
        "clicked + right item at 4-10": lambda c, u: bool(c) or "4-10" in u,
        "clicked + at 11+ or not a candidate": lambda c, u: (
            bool(c) or bool(u & {"11+", "not a candidate"})
        ),
    }
    lines = ["  logistic regression (C=10) on the stream questions with their true labels:"]
    for name, keep in subsets.items():
        rows = [(t, lab) for t, (lab, c, u) in by_text.items() if keep(c, u)]
        x = np.stack([cache.vectors[t] for t, _ in rows])
        model = LogisticRegression(C=10.0, max_iter=1000).fit(x, [lab for _, lab in rows])
        acc = float((model.predict(xt) == yt).mean())
        lines.append(f"    {name} ({len(rows):,} questions): acc@1 {acc:.1%}")
    lines += other_models(task, cache, [(t, lab) for t, (lab, c, _) in by_text.items() if c])
    return lines


def other_models(task: bench.Task, cache: Cache, rows: list[tuple[str, str]]) -> list[str]:
    """``--label-value``: heads other than a linear one, on the clicked questions alone: an
    RBF-kernel SVM on the vectors, and logistic regression on the vectors beside the
    question's words (tf-idf of unigrams and bigrams)."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    texts, labels = [t for t, _ in rows], [lab for _, lab in rows]
    x = np.stack([cache.vectors[t] for t in texts])
    xt = np.stack([cache.vectors[q.text] for q in task.test])
    yt = np.array([q.label for q in task.test])
    svm = float((SVC(C=10.0, kernel="rbf").fit(x, labels).predict(xt) == yt).mean())
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(texts)
    both = hstack([csr_matrix(x), words.transform(texts)]).tocsr()
    both_t = hstack([csr_matrix(xt), words.transform([q.text for q in task.test])]).tocsr()
    model = LogisticRegression(C=10.0, max_iter=1000).fit(both, labels)
    mixed = float((model.predict(both_t) == yt).mean())
    return [
        "  other heads on the clicked questions alone:",
        f"    SVM, RBF kernel (C=10), on the vectors: acc@1 {svm:.1%}",
        f"    logistic regression (C=10), vectors + tf-idf words: acc@1 {mixed:.1%}",
    ]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--protocol", default="banking77", choices=("banking77", "oos"))
    p.add_argument("--split-seed", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--checkpoints", default="0,1000,3000,8000")
    p.add_argument("--no-adapter", action="store_true")
    p.add_argument("--set", default="{}", help='learning settings as JSON, e.g. {"memory": {}}')
    p.add_argument("--aim", default="", help="exploration aimed at uncertain questions (JSON)")
    p.add_argument("--where", action="store_true", help="where the right item stood")
    p.add_argument("--label-value", action="store_true", help="what the missing clicks are worth")
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/learnbench-data"))
    args = p.parse_args()
    task = bench.banking_task(args.protocol, args.split_seed, args.seed, args.test)
    key = f"{args.protocol}-split{args.split_seed}" + (
        f"-seed{args.seed}" if args.protocol == "oos" else ""
    )
    cache = load(task, key, args.data_dir)
    config = LearningConfig.of({"policy": "memory", **json.loads(args.set)})
    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    aim = json.loads(args.aim) if args.aim else None
    out = run(task, cache, config, args.seed, checkpoints, not args.no_adapter, aim)
    if aim:
        print(f"  aimed exploration: {out['aimed']:,} stream requests")
    if args.where:
        print("\n".join(where_lines(out)))
    if args.label_value:
        print("\n".join(label_value(task, cache, out)))


if __name__ == "__main__":
    main()

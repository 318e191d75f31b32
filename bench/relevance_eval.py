"""Relevance against simple peers, in one run: learnloop search and recommend, BM25, MiniLM, RRF.

    .venv/bin/python bench/relevance_eval.py [--data-dir /tmp/learnloop-relevance] [--tune]

Two question sets, each split by a fixed seed into a TRAIN half (used only by ``--tune``) and
a HELD-OUT half (the figures reported):

* runbooks: the 108 Markdown runbooks of ../shared/data/runbooks/prometheus_operator as
  items; the questions are the summary and the description of the 105 alerts that have a
  runbook there (bench/data/alert_questions.tsv, from the kube-prometheus and etcd alert
  rules); split by alert, so both texts of one alert fall on the same side.
* banking77: 77 FAQ items, one per intent of ../shared/data/banking77/train.csv (title: the
  intent's name; body: 5 of its questions chosen by the seed); the questions are 8 other
  questions of each intent, never one of a body.

Systems, each ranking every item for every question:

* learnloop ``search`` (k=10) and ``recommend`` (k=3, the tenant's default threshold);
* BM25: rank_bm25's BM25Okapi over lowercase word tokens of title and body;
* MiniLM: cosine between the question's vector and the item vectors learnloop stored (the
  same embedder), in numpy;
* RRF: reciprocal-rank fusion (k=60) of those two rankings.

Prints hit@1, hit@3 and MRR@10 per system and set, recommend's shown rate (something shown),
right-shown rate (first shown item right) and wrong-first rate (first shown item wrong), all
over every question, and the time per query. ``--tune`` instead searches the keyword weight of
the fusion and BM25's title weight on the TRAIN halves (constants in knowledge/search.py, bm25.py).
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from learnloop import LearnLoop, Settings  # noqa: E402
from learnloop.knowledge.markdown import parse_markdown  # noqa: E402
from learnloop.knowledge.models import SearchHit  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
RUNBOOKS = SHARED / "runbooks" / "prometheus_operator"
BANKING77 = SHARED / "banking77" / "train.csv"
ALERTS = ROOT / "bench" / "data" / "alert_questions.tsv"
SEED = 7
BODY_QUESTIONS, ASKED_PER_INTENT = 5, 8
PEER_RRF_K = 60
TOP = 10  # ranks looked at (MRR@10)


@dataclass
class QuestionSet:
    name: str
    items: list[dict[str, object]]  # rows for put_many, each with an external_id
    questions: list[tuple[str, str, bool]] = field(default_factory=list)  # text, answer, train


def runbook_set(seed: int) -> QuestionSet:
    rows = []
    for path in sorted(p for p in RUNBOOKS.rglob("*.md") if p.name != "_index.md"):
        doc = parse_markdown(path.read_text("utf-8"), fallback_title=path.stem)
        rows.append({"kind": "runbook", "external_id": path.stem, **doc})
    lines = [line for line in ALERTS.read_text("utf-8").splitlines() if not line.startswith("#")]
    alerts = list(csv.DictReader(lines, delimiter="\t"))
    names = sorted(row["alert"] for row in alerts)
    random.Random(seed).shuffle(names)
    train = set(names[: len(names) // 2])
    questions = [
        (row[column], row["alert"], row["alert"] in train)
        for row in alerts
        for column in ("summary", "description")
    ]
    return QuestionSet("runbooks", rows, questions)


def banking_set(seed: int) -> QuestionSet:
    by_intent: dict[str, list[str]] = defaultdict(list)
    with BANKING77.open(newline="") as handle:
        for row in csv.DictReader(handle):
            by_intent[row["category"]].append(row["text"])
    rng = random.Random(seed)
    rows, asked = [], []
    for intent in sorted(by_intent):
        texts = rng.sample(by_intent[intent], BODY_QUESTIONS + ASKED_PER_INTENT)
        title = intent.replace("_", " ").capitalize()
        body = "\n".join(texts[:BODY_QUESTIONS])
        rows.append({"kind": "faq", "external_id": intent, "title": title, "body": body})
        asked += [(text, intent) for text in texts[BODY_QUESTIONS:]]
    rng.shuffle(asked)
    half = len(asked) // 2
    return QuestionSet("banking77", rows, [(q, a, n < half) for n, (q, a) in enumerate(asked)])


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


class Peers:
    """BM25, MiniLM cosine and their RRF over the same items, each a full ranking."""

    def __init__(self, ll: LearnLoop, tenant: str, rows: Sequence[dict[str, object]]):
        self.ids = [str(row["external_id"]) for row in rows]
        self.bm25 = BM25Okapi([tokens(f"{row['title']} {row['body']}") for row in rows])
        with ll.db.connection() as conn:
            stored = conn.execute(
                "SELECT external_id, embedding::real[] AS embedding FROM items"
                " WHERE tenant_id = %(t)s",
                {"t": tenant},
            ).fetchall()
        vectors = {row["external_id"]: np.asarray(row["embedding"]) for row in stored}
        self.matrix = np.stack([vectors[i] for i in self.ids])

    def rankings(self, text: str, vector: np.ndarray) -> dict[str, tuple[list[str], float]]:
        """Each peer's first ids and its seconds (RRF's include both of its sides)."""
        t0 = time.perf_counter()
        keyword = np.argsort(-self.bm25.get_scores(tokens(text)), kind="stable")
        t1 = time.perf_counter()
        semantic = np.argsort(-(self.matrix @ vector), kind="stable")
        t2 = time.perf_counter()
        fused = np.zeros(len(self.ids))
        for order in (keyword, semantic):
            fused[order] += 1.0 / (PEER_RRF_K + np.arange(1, len(order) + 1))
        both = np.argsort(-fused, kind="stable")
        t3 = time.perf_counter()
        return {
            "BM25 (rank_bm25)": ([self.ids[n] for n in keyword[:TOP]], t1 - t0),
            "MiniLM cosine": ([self.ids[n] for n in semantic[:TOP]], t2 - t1),
            "RRF(BM25, MiniLM), k=60": ([self.ids[n] for n in both[:TOP]], t3 - t0),
        }


@dataclass
class Score:
    ranks: list[int | None] = field(default_factory=list)
    seconds: float = 0.0
    shown: int = 0
    right_first: int = 0

    def line(self, name: str, recommend: bool) -> str:
        n = len(self.ranks)
        hit1 = sum(r == 1 for r in self.ranks) / n
        hit3 = sum(r is not None and r <= 3 for r in self.ranks) / n
        mrr = sum(1 / r for r in self.ranks if r) / n
        text = f"| {name} | {hit1:.3f} | {hit3:.3f} | {mrr:.3f} | {1000 * self.seconds / n:.1f} |"
        if recommend:
            wrong = self.shown - self.right_first
            text += f" {self.shown / n:.3f} | {self.right_first / n:.3f} | {wrong / n:.3f} |"
        return text


def rank_of(answer: str, found: Sequence[str | None]) -> int | None:
    return found.index(answer) + 1 if answer in found[:TOP] else None


def evaluate(ll: LearnLoop, tenant: str, qs: QuestionSet, peers: Peers) -> dict[str, Score]:
    scores: dict[str, Score] = defaultdict(Score)
    for text, answer, train in qs.questions:
        if train:
            continue
        started = time.perf_counter()
        vector = ll.search.query_vector(text)  # then cached: every system below reuses it
        scores["question embedding"].seconds += time.perf_counter() - started
        started = time.perf_counter()
        hits = ll.search.search(tenant, text, k=TOP)
        scores["learnloop search"].seconds += time.perf_counter() - started
        scores["learnloop search"].ranks.append(rank_of(answer, [h.item.external_id for h in hits]))
        started = time.perf_counter()
        shown = ll.recommender.recommend(tenant, {"query": text, "k": 3}).recommendations
        rec = scores["learnloop recommend"]
        rec.seconds += time.perf_counter() - started
        rec.ranks.append(rank_of(answer, [r.item.external_id for r in shown]))
        rec.shown += bool(shown)
        rec.right_first += bool(shown) and shown[0].item.external_id == answer
        for name, (found, seconds) in peers.rankings(text, vector).items():
            scores[name].ranks.append(rank_of(answer, found))
            scores[name].seconds += seconds
    return scores


def tune(ll: LearnLoop, sets: Sequence[tuple[str, QuestionSet]]) -> None:
    """Grid over title weight and keyword weight on the TRAIN halves: mean MRR@10."""
    from learnloop.knowledge import bm25  # here: the bench also runs on a tree before BM25

    results: dict[tuple[float, float], list[float]] = defaultdict(list)
    for title_weight in (1.0, 2.0, 3.0):
        bm25.TITLE_WEIGHT = title_weight
        for tenant, qs in sets:
            hits = [
                (answer, ll.search.search(tenant, text, k=100))
                for text, answer, train in qs.questions
                if train
            ]
            for weight in (0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.7, 1.0):
                fused = [_refuse(h, weight) for _, h in hits]
                mrr = [
                    1 / r if (r := rank_of(a, f)) else 0.0
                    for (a, _), f in zip(hits, fused, strict=True)
                ]
                results[(title_weight, weight)].append(float(np.mean(mrr)))
    ordered = sorted(results.items(), key=lambda kv: -float(np.mean(kv[1])))
    print("| title weight | keyword weight | MRR@10 runbooks | MRR@10 banking77 | mean |")
    print("| --- | --- | --- | --- | --- |")
    for (title_weight, weight), mrrs in ordered[:10]:
        mean = float(np.mean(mrrs))
        print(f"| {title_weight} | {weight} | {mrrs[0]:.3f} | {mrrs[1]:.3f} | {mean:.3f} |")


def _refuse(hits: Sequence[SearchHit], weight: float) -> list[str | None]:
    """The order search would give with another keyword weight (the fusion of
    knowledge/search.py: cosine + weight * BM25 / the question's best BM25)."""
    best = max((h.keyword_score or 0.0 for h in hits), default=0.0)

    def score(h: SearchHit) -> float:
        keyword = (h.keyword_score or 0.0) / best if best > 0 else 0.0
        return (h.similarity or 0.0) + weight * keyword

    ordered = sorted(hits, key=lambda h: (-score(h), -(h.similarity or 0.0)))
    return [h.item.external_id for h in ordered]


def load(ll: LearnLoop, name: str, qs: QuestionSet) -> str:
    tenant = ll.tenants.ensure(f"relevance-{name}").tenant_id
    ll.items.put_many(tenant, qs.items)
    return tenant


def report(name: str, qs: QuestionSet, scores: dict[str, Score]) -> None:
    held = sum(not train for *_, train in qs.questions)
    print(f"\n{name}: {len(qs.items)} items, {held} held-out questions of {len(qs.questions)}")
    print("| system | hit@1 | hit@3 | MRR@10 | ms/query | shown | right-shown | wrong-first |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    embedding = scores.pop("question embedding")
    for system, score in scores.items():
        print(score.line(system, recommend=system.endswith("recommend")))
    print(f"question embedding (for all): {1000 * embedding.seconds / held:.1f} ms/query")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/learnloop-relevance"))
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--tune", action="store_true", help="tune fusion on the TRAIN halves")
    args = parser.parse_args(argv)
    if not (RUNBOOKS.is_dir() and BANKING77.is_file()):
        sys.exit(f"needs the shared data in {SHARED}")
    sets = {"runbooks": runbook_set(args.seed), "banking77": banking_set(args.seed)}
    with LearnLoop.open(Settings(data_dir=args.data_dir)) as ll:
        tenants = {name: load(ll, name, qs) for name, qs in sets.items()}
        if args.tune:
            tune(ll, [(tenants[name], qs) for name, qs in sets.items()])
            return
        for name, qs in sets.items():
            peers = Peers(ll, tenants[name], qs.items)
            report(name, qs, evaluate(ll, tenants[name], qs, peers))


if __name__ == "__main__":
    main()

"""Duplicate detection on labelled paraphrase pairs from banking77: F1 at the default
threshold and at the threshold learned from reviewers' decisions on other pairs.

Pairs (``../shared/data/banking77/train.csv``, a fixed seed): two questions of the same
intent are duplicates; two questions of different but confusable intents (each intent's
``--confusable`` nearest intents, by the cosine of their questions' mean vectors) are not.
Each intent's questions are split in two disjoint halves: pairs from the first half are the
reviewers' decisions (a duplicate pair is a ``merge``, another a ``distinct``), from which
``learnloop.proposals.threshold.fit`` learns the threshold as ``learnloop proposals
duplicates-threshold --learn`` does; pairs from the second half are the evaluation. The
similarity is the cosine of the vectors the duplicate check compares (MiniLM, the packaged
all-MiniLM-L6-v2, each question embedded as an item titled by it).

    PYTHONPATH=src python -m bench.duplicates_eval [--seed 7] [--pairs 4]
"""

from __future__ import annotations

import argparse
import itertools
import random

import numpy as np

from bench.datasets import read_banking77
from learnloop.embedders.local import LocalEmbedder
from learnloop.knowledge.duplicates import DEFAULT_THRESHOLD
from learnloop.knowledge.models import embedding_text
from learnloop.proposals.threshold import f1_at, fit

Pair = tuple[str, str, bool]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--per-intent", type=int, default=6, help="questions per intent in each half"
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=4,
        help="duplicate and non-duplicate pairs per intent in each half",
    )
    parser.add_argument(
        "--confusable",
        type=int,
        default=3,
        help="the nearest intents a non-duplicate pair is drawn from",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    halves = split(read_banking77(), rng, args.per_intent)
    texts = sorted({t for half in halves for qs in half.values() for t in qs})
    embedder = LocalEmbedder()
    vectors = dict(zip(texts, embedder.embed([embedding_text(t, "") for t in texts]), strict=True))
    near = confusable(halves, vectors, args.confusable)
    decided, evaluated = (pairs(half, near, rng, args.pairs) for half in halves)
    train = scored(decided, vectors)
    test = scored(evaluated, vectors)
    learned = fit(train, DEFAULT_THRESHOLD)
    at_default, at_learned = f1_at(test, DEFAULT_THRESHOLD), f1_at(test, learned.threshold)
    print(
        f"duplicates banking77 seed {args.seed}: {len(train)} decided pairs, {len(test)} "
        f"evaluation pairs; F1 {at_default:.3f} at the default "
        f"{DEFAULT_THRESHOLD:g} ({rates(test, DEFAULT_THRESHOLD)}), "
        f"{at_learned:.3f} at the learned {learned.threshold:g} "
        f"({rates(test, learned.threshold)}); {learned.reason}"
    )
    if at_learned < at_default:
        raise SystemExit("the learned threshold does worse than the default on these pairs")


def split(
    by_intent: dict[str, list[str]], rng: random.Random, per_intent: int
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Two disjoint samples of each intent's questions."""
    first: dict[str, list[str]] = {}
    second: dict[str, list[str]] = {}
    for intent in sorted(by_intent):
        questions = sorted(set(by_intent[intent]))
        rng.shuffle(questions)
        first[intent] = questions[:per_intent]
        second[intent] = questions[per_intent : 2 * per_intent]
    return first, second


def confusable(
    halves: tuple[dict[str, list[str]], ...], vectors: dict[str, np.ndarray], k: int
) -> dict[str, list[str]]:
    """Each intent's ``k`` nearest other intents, by the cosine of their mean vectors."""
    intents = sorted(halves[0])
    means = np.stack(
        [np.mean([vectors[t] for half in halves for t in half[i]], axis=0) for i in intents]
    )
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    sims = means @ means.T
    np.fill_diagonal(sims, -2)
    return {i: [intents[j] for j in np.argsort(-sims[n])[:k]] for n, i in enumerate(intents)}


def pairs(
    half: dict[str, list[str]], near: dict[str, list[str]], rng: random.Random, n: int
) -> list[Pair]:
    """``n`` duplicate pairs per intent and ``n`` pairs with a confusable intent."""
    out: list[Pair] = []
    for intent in sorted(half):
        same = list(itertools.combinations(half[intent], 2))
        out += [(a, b, True) for a, b in rng.sample(same, min(n, len(same)))]
        for _ in range(n):
            other = rng.choice(near[intent])
            out.append((rng.choice(half[intent]), rng.choice(half[other]), False))
    return out


def scored(found: list[Pair], vectors: dict[str, np.ndarray]) -> list[tuple[float, bool]]:
    return [(float(vectors[a] @ vectors[b]), dup) for a, b, dup in found]


def rates(pairs_: list[tuple[float, bool]], threshold: float) -> str:
    tp = sum(1 for s, d in pairs_ if d and s >= threshold)
    flagged = sum(1 for s, _ in pairs_ if s >= threshold)
    positives = sum(1 for _, d in pairs_ if d)
    precision = tp / flagged if flagged else 0.0
    return f"precision {precision:.3f}, recall {tp / positives:.3f}"


if __name__ == "__main__":
    main()

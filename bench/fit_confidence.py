"""Fit the baseline confidence (``learnloop.recommend.confidence``) and show its reliability.

    .venv/bin/python bench/fit_confidence.py [--data-dir /tmp/learnloop-confidence] [--seed 0]

Labelled questions, each with one right item:

* banking77 (../shared/data/banking77/train.csv): FAQ items, one per intent, body =
  three questions of the intent chosen by the seed, except 10 intents left without an item
  (their questions have no right answer); the questions asked are other questions of the
  same file (never a body's), 40 per intent;
* the Prometheus-operator runbooks with the hand-written paraphrases of
  tests/test_relevance.py, and the alert summaries of bench/data/alert_questions.csv
  when that file is there;
* 300 banking77 questions asked of the runbooks, and the runbook questions asked of the
  FAQ: questions from another domain, with no right answer.

Every question is searched (k=10); each hit is an example (features of
``confidence.features``, label: it is the right item). The questions are split in two
halves by the seed; a logistic regression is fitted on one half and the other half gives
the reliability diagram of the first hit (predicted confidence against how often it was
right), its expected calibration error, and the same for the coefficients in use now.
Prints COEFFICIENTS to paste into src/learnloop/recommend/confidence.py.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.datasets import banking77_faq, runbook_questions  # noqa: E402
from learnloop import LearnLoop, Settings  # noqa: E402
from learnloop.learn.calibration import reliability  # noqa: E402
from learnloop.recommend import confidence  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/learnloop-confidence"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    examples: list[tuple[str, list[list[float]], list[int]]] = []
    with LearnLoop.open(Settings(data_dir=args.data_dir)) as ll:
        tenants = {}
        sets = {}
        for name, loader in (("banking77", banking77_faq), ("runbooks", runbook_questions)):
            tenants[name] = ll.tenants.ensure(f"confidence-{name}-{args.seed}").tenant_id
            options = {"without": 10} if name == "banking77" else {}
            sets[name] = loader(ll, tenants[name], seed=args.seed, **options)
        rng = random.Random(args.seed)
        asked = [
            ("banking77", tenants["banking77"], sets["banking77"].questions),
            ("runbooks", tenants["runbooks"], sets["runbooks"].questions),
            (
                "other domain",
                tenants["runbooks"],
                [(q, None) for q, _ in rng.sample(sets["banking77"].questions, 300)],
            ),
            (
                "other domain",
                tenants["banking77"],
                [(q, None) for q, _ in sets["runbooks"].questions],
            ),
        ]
        # One batch through the model for every question (batched vectors equal the single
        # query path's to 1e-5): minutes faster than embedding each question in search.
        texts = sorted({q for _, _, questions in asked for q, _ in questions})
        vectors = dict(zip(texts, ll.embedder.embed(texts), strict=True))
        single = ll.search.query_vector
        ll.search.query_vector = lambda q: vectors[q] if q in vectors else single(q)  # type: ignore[method-assign]
        for name, tenant, questions in asked:
            for question, right in questions:
                hits = ll.search.search(tenant, question, k=10)
                labels = [int(h.item.item_id == right) for h in hits]
                examples.append((name, confidence.features(hits), labels))
            print(f"{name}: {len(questions)} questions", file=sys.stderr)
    rng = np.random.default_rng(args.seed)
    half = rng.random(len(examples)) < 0.5
    fit_on = [e for e, h in zip(examples, half, strict=True) if h]
    held = [e for e, h in zip(examples, half, strict=True) if not h]
    x = np.array([row for _, rows, _ in fit_on for row in rows])
    y = np.array([label for _, _, labels in fit_on for label in labels])
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=10.0, max_iter=2000).fit(x, y)
    fitted = [float(model.intercept_[0]), *(float(c) for c in model.coef_[0])]
    for label, coefficients in (("in use", confidence.COEFFICIENTS), ("fitted", fitted)):
        for name in ("banking77", "runbooks", "other domain", None):
            report(label, name, coefficients, held)
    print("COEFFICIENTS = (" + ", ".join(f"{c:.3f}" for c in fitted) + ")")


def report(
    label: str,
    name: str | None,
    coefficients: list[float] | tuple[float, ...],
    held: list[tuple[str, list[list[float]], list[int]]],
) -> None:
    """Reliability of the first hit's confidence on the held-out half."""
    predicted, right = [], []
    for source, rows, labels in held:
        if (name is None or source == name) and rows:
            predicted.append(confidence._logistic(coefficients, rows[0]))
            right.append(bool(labels[0]))
    bins = reliability(predicted, right, bins=10)
    ece = sum(b["count"] * abs(b["predicted"] - b["observed"]) for b in bins) / len(predicted)
    cells = " ".join(f"{b['predicted']:.2f}->{b['observed']:.2f}({int(b['count'])})" for b in bins)
    print(
        f"{label:7} {name or 'all':9} n={len(predicted)} first-hit right {np.mean(right):.3f}"
        f" mean confidence {np.mean(predicted):.3f} ECE {ece:.3f} | {cells}"
    )


if __name__ == "__main__":
    main()

"""Fit the baseline confidence (``learnloop.recommend.confidence``) and show its reliability.

    .venv/bin/python bench/fit_confidence.py [--data-dir /tmp/learnloop-confidence] [--seed 0]
        [--balance 0.5]

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
halves by the seed, except that every question held out by bench/relevance_eval.py (its
HELD-OUT halves) is held out here too, so that benchmark never reports on a fitted question.
Logistic regressions on subsets of the features (``VARIANTS``), each hit weighed by its
source (``BALANCE``), are compared by two-fold cross-validation inside the fitting half (the
same weighted log loss of every hit); the best is refitted on the whole fitting half, and
the other half gives the reliability diagram of the first hit (predicted confidence against
how often it was right), its expected calibration error and the AUC of right against wrong
first hits, with the same for the coefficients in use now.
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
from bench.relevance_eval import SEED as RELEVANCE_SEED  # noqa: E402
from bench.relevance_eval import banking_set, runbook_set  # noqa: E402
from learnloop import LearnLoop, Settings  # noqa: E402
from learnloop.learn.calibration import reliability  # noqa: E402
from learnloop.recommend import confidence  # noqa: E402

# Feature subsets tried (indices into confidence.FEATURES); coefficients outside one are 0.
VARIANTS = {
    "five (rank and similarity)": (0, 1, 2, 3, 4),
    "five + score margin": (0, 1, 2, 3, 4, 6),
    "all seven": (0, 1, 2, 3, 4, 5, 6),
    "all eight": (0, 1, 2, 3, 4, 5, 6, 7),
}
# Each hit weighs (hits of all sources / (sources x hits of its source)) ** BALANCE: 0, every
# hit alike (banking77's 77 intents outweigh the runbooks' alerts 8 to 1, and the runbooks
# came out under-confident: mean 0.63 where 0.79 were right); 1, each source alike (runbooks
# calibrated, banking77 and the other domain less); 0.5 between, the best ECE over all.
BALANCE = 0.5
Example = tuple[str, list[list[float]], list[int]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/learnloop-confidence"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--balance", type=float, default=0.5, help="BALANCE (0: hits alike)")
    args = parser.parse_args()
    global BALANCE
    BALANCE = args.balance
    examples: list[Example] = []
    held_texts: list[str] = []  # in the order of examples: the question
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
                held_texts.append(question)
            print(f"{name}: {len(questions)} questions", file=sys.stderr)
    relevance_held = {
        text
        for qs in (runbook_set(RELEVANCE_SEED), banking_set(RELEVANCE_SEED))
        for text, _, train in qs.questions
        if not train
    }
    rng = np.random.default_rng(args.seed)
    half = (rng.random(len(examples)) < 0.5) & np.array(
        [t not in relevance_held for t in held_texts]
    )
    fit_on = [e for e, h in zip(examples, half, strict=True) if h]
    held = [e for e, h in zip(examples, half, strict=True) if not h]
    print(f"fitting half: {len(fit_on)} questions, held-out half: {len(held)}", file=sys.stderr)
    folds = np.random.default_rng(args.seed + 1).random(len(fit_on)) < 0.5
    losses = {}
    for variant, columns in VARIANTS.items():
        a = [e for e, f in zip(fit_on, folds, strict=True) if f]
        b = [e for e, f in zip(fit_on, folds, strict=True) if not f]
        losses[variant] = (_log_loss(_fit(a, columns), b) + _log_loss(_fit(b, columns), a)) / 2
        print(f"cross-validated log loss {losses[variant]:.4f}: {variant}")
    best = min(losses, key=lambda v: losses[v])
    fitted = _fit(fit_on, VARIANTS[best])
    print(f"chosen: {best}")
    for label, coefficients in (("in use", confidence.COEFFICIENTS), ("fitted", fitted)):
        for name in ("banking77", "runbooks", "other domain", None):
            report(label, name, coefficients, held)
    print("COEFFICIENTS = (" + ", ".join(f"{c:.3f}" for c in fitted) + ")")


def _weights(examples: list[Example]) -> np.ndarray:
    """A weight per hit that gives each source (banking77, runbooks, other domain) the same
    total: otherwise the 77 FAQ intents' many questions outweigh the runbooks' 105 alerts."""
    sources = [source for source, rows, _ in examples for _ in rows]
    counts = {source: sources.count(source) for source in set(sources)}
    return np.array(
        [(len(sources) / (len(counts) * counts[source])) ** BALANCE for source in sources]
    )


def _fit(examples: list[Example], columns: tuple[int, ...]) -> list[float]:
    """Intercept and one coefficient per feature (0 outside ``columns``), every hit a row,
    each source weighed alike."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([row for _, rows, _ in examples for row in rows])
    y = np.array([label for _, _, labels in examples for label in labels])
    model = LogisticRegression(C=10.0, max_iter=5000)
    model.fit(x[:, list(columns)], y, sample_weight=_weights(examples))
    coefficients = [0.0] * x.shape[1]
    for column, value in zip(columns, model.coef_[0], strict=True):
        coefficients[column] = float(value)
    return [float(model.intercept_[0]), *coefficients]


def _log_loss(coefficients: list[float], examples: list[Example]) -> float:
    p = np.array(
        [confidence._logistic(coefficients, row) for _, rows, _ in examples for row in rows]
    )
    y = np.array([label for _, _, labels in examples for label in labels])
    p = np.clip(p, 1e-9, 1 - 1e-9)
    loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(np.average(loss, weights=_weights(examples)))


def report(
    label: str,
    name: str | None,
    coefficients: list[float] | tuple[float, ...],
    held: list[Example],
) -> None:
    """Reliability of the first hit's confidence on the held-out half."""
    predicted, right = [], []
    for source, rows, labels in held:
        if (name is None or source == name) and rows:
            predicted.append(confidence._logistic(coefficients, rows[0]))
            right.append(bool(labels[0]))
    bins = reliability(predicted, right, bins=10)
    ece = sum(b["count"] * abs(b["predicted"] - b["observed"]) for b in bins) / len(predicted)
    auc = _auc(predicted, right)
    cells = " ".join(f"{b['predicted']:.2f}->{b['observed']:.2f}({int(b['count'])})" for b in bins)
    print(
        f"{label:7} {name or 'all':9} n={len(predicted)} first-hit right {np.mean(right):.3f}"
        f" mean confidence {np.mean(predicted):.3f} ECE {ece:.3f} AUC {auc} | {cells}"
    )


def _auc(predicted: list[float], right: list[bool]) -> str:
    """The area under the ROC curve of right against wrong first hits ('-': one kind only)."""
    pos = [p for p, r in zip(predicted, right, strict=True) if r]
    neg = [p for p, r in zip(predicted, right, strict=True) if not r]
    if not pos or not neg:
        return "-"
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return f"{wins / (len(pos) * len(neg)):.3f}"


if __name__ == "__main__":
    main()

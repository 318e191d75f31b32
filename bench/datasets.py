"""Labelled question sets for the benchmarks, read from ../shared/data (never copied).

Each loader stores its items in a tenant and returns the questions with their right item.
The splits depend on the seed only, so every benchmark sees the same ones.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learnloop import LearnLoop
from learnloop.knowledge.markdown import parse_markdown

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
BANKING77 = SHARED / "banking77" / "train.csv"
RUNBOOKS = SHARED / "runbooks" / "prometheus_operator"
ALERTS = ROOT / "bench" / "data" / "alert_questions.tsv"


@dataclass
class Labelled:
    """Questions with the id of the item that answers each (None: none does)."""

    items: dict[str, int]  # item id by label (intent, alert name)
    questions: list[tuple[str, int | None]]
    labels: list[str] = field(default_factory=list)  # the label of each question
    stream: list[tuple[str, int | None]] = field(default_factory=list)


def read_banking77() -> dict[str, list[str]]:
    """The questions of each intent, in file order."""
    by_intent: dict[str, list[str]] = {}
    with BANKING77.open(encoding="utf-8") as file:
        for row in csv.DictReader(file):
            by_intent.setdefault(row["category"], []).append(row["text"].strip())
    return by_intent


def banking77_faq(
    ll: LearnLoop,
    tenant: str,
    *,
    seed: int = 0,
    per_intent: int = 40,
    body_questions: int = 3,
    test_share: float = 0.2,
    without: int = 0,
) -> Labelled:
    """77 FAQ items (one per intent, body = ``body_questions`` of its questions) and, for
    each intent, up to ``per_intent`` other questions from its test part; ``stream`` has
    the rest of its questions (never a body's, never a test one). ``without`` intents
    chosen by the seed get no item: their questions are out of scope (right item None)."""
    rng = random.Random(seed)
    by_intent = read_banking77()
    intents = sorted(by_intent)
    missing = set(rng.sample(intents, without)) if without else set()
    rows: list[dict[str, Any]] = []
    parts: dict[str, tuple[list[str], list[str]]] = {}
    for intent in intents:
        questions = list(by_intent[intent])
        rng.shuffle(questions)
        body, rest = questions[:body_questions], questions[body_questions:]
        cut = int(len(rest) * test_share)
        parts[intent] = (rest[cut:], rest[:cut])
        if intent not in missing:
            title = intent.replace("_", " ").capitalize()
            rows.append(
                {"kind": "faq", "external_id": intent, "title": title, "body": "\n".join(body)}
            )
    stored = ll.items.put_many(tenant, rows)
    ids = {item.external_id or "": item.item_id for item, _ in stored}
    data = Labelled(ids, [])
    for intent in intents:
        stream, test = parts[intent]
        right = ids.get(intent)
        data.questions += [(q, right) for q in test[:per_intent]]
        data.labels += [intent] * len(test[:per_intent])
        data.stream += [(q, right) for q in stream]
    return data


def load_runbooks(ll: LearnLoop, tenant: str) -> dict[str, int]:
    """Every Prometheus-operator runbook as an item; item id by alert name (file stem)."""
    files = sorted(p for p in RUNBOOKS.rglob("*.md") if p.name != "_index.md")
    rows = []
    for path in files:
        doc = parse_markdown(path.read_text("utf-8"), fallback_title=path.stem)
        rows.append({"kind": "runbook", "external_id": str(path.relative_to(RUNBOOKS)), **doc})
    stored = ll.items.put_many(tenant, rows)
    return {Path(item.external_id or "").stem: item.item_id for item, _ in stored}


def runbook_questions(ll: LearnLoop, tenant: str, *, seed: int = 0) -> Labelled:
    """The runbooks, asked with the paraphrases of tests/test_relevance.py and the alert
    summaries and descriptions of bench/data/alert_questions.tsv."""
    from tests.test_relevance import PARAPHRASES

    ids = load_runbooks(ll, tenant)
    pairs = list(PARAPHRASES.items())
    with ALERTS.open(encoding="utf-8") as file:
        lines = (line for line in file if not line.startswith("#"))
        for row in csv.DictReader(lines, delimiter="\t"):
            pairs += [(row["alert"], row["summary"]), (row["alert"], row["description"])]
    pairs = [(alert, q) for alert, q in pairs if alert in ids]
    random.Random(seed).shuffle(pairs)
    data = Labelled(ids, [(q, ids[alert]) for alert, q in pairs])
    data.labels = [alert for alert, _ in pairs]
    return data

"""Relevance on the Prometheus-operator runbooks: hybrid search against semantic alone.

    .venv/bin/python bench/relevance_eval.py [--data-dir /tmp/learnloop-relevance]

Loads the 108 runbooks of ../shared/data/runbooks/prometheus_operator as items (as
tests/test_relevance.py does) and asks the 25 paraphrased alert meanings of that test.
Prints one line per ranking: how many find their runbook in the top 3, and the mean
reciprocal rank (MRR) of the runbook among the first 40.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from learnloop import LearnLoop, Settings  # noqa: E402
from tests.test_relevance import PARAPHRASES, load_runbooks  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/learnloop-relevance"))
    args = parser.parse_args()
    with LearnLoop.open(Settings(data_dir=args.data_dir)) as ll:
        tenant = ll.tenants.ensure("relevance").tenant_id
        ids = load_runbooks(ll, tenant)
        ranks: dict[str, list[int]] = {"hybrid": [], "semantic only": []}
        for alert, question in PARAPHRASES.items():
            hits = ll.search.search(tenant, question, k=40)
            semantic = sorted(
                (h for h in hits if h.semantic_rank), key=lambda h: h.semantic_rank or 0
            )
            for name, ranked in (("hybrid", hits), ("semantic only", semantic)):
                found = [h.item.item_id for h in ranked]
                ranks[name].append(found.index(ids[alert]) + 1 if ids[alert] in found else 10**6)
    for name, found in ranks.items():
        top3 = sum(rank <= 3 for rank in found)
        mrr = sum(1 / rank for rank in found) / len(found)
        print(f"relevance {name}: top-3 {top3}/{len(found)} MRR={mrr:.3f}")


if __name__ == "__main__":
    main()

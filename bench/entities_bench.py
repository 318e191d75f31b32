"""Entity extraction speed: the patterns, a 5,000-name gazetteer, and dateparser's
search_dates (when installed; not a dependency) on the same support call. One line.

    python bench/entities_bench.py
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from typing import Any

from learnloop.entities import Gazetteer, Name, patterns

TEXT = (
    "Hi, this is Dana from Acme Corp. Our renewal is due on March 3, 2026 and the last "
    "invoice (ORD-88213) for $12,400.00 was paid on 2026-01-15. Call me at +1 415 555 0199 "
    "or mail dana@acme.example. We met last Tuesday about the churn rate."
) * 3


def best(run: Callable[[], Any], n: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(n):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    names = [Name(f"Customer {i} Holdings", "account") for i in range(5000)]
    gazetteer = Gazetteer([*names, Name("Acme Corp", "account")])
    p, found = best(lambda: patterns.find(TEXT), 20)
    g, linked = best(lambda: gazetteer.find(TEXT), 20)
    line = (
        f"chars={len(TEXT)} patterns={p * 1000:.2f}ms ({len(found)} found) "
        f"gazetteer_5000={g * 1000:.2f}ms ({len(linked)} linked)"
    )
    if importlib.util.find_spec("dateparser") is not None:
        import dateparser.search

        d, dates = best(lambda: dateparser.search.search_dates(TEXT, languages=["en"]), 3)
        line += f" dateparser={d * 1000:.1f}ms ({len(dates or [])} dates) ratio={d / p:.0f}x"
    print(line)


if __name__ == "__main__":
    main()

"""Ranking tools by meaning and by what their executions achieved. Pure functions, no I/O.

    score = similarity + SUCCESS_WEIGHT * success - SLOW_WEIGHT * slowness

``success`` is the posterior mean of the success rate under a uniform prior,
(successes + 1) / (calls + 2): an untried tool counts as 0.5, and each recorded outcome
moves it. ``slowness`` is median_ms / (median_ms + DURATION_SCALE_MS), 0 for instant and
towards 1 for slow tools, 0.5 when unknown.
"""

from __future__ import annotations

import re

SUCCESS_WEIGHT = 1.0
SLOW_WEIGHT = 0.2
DURATION_SCALE_MS = 5000.0
_NUMBER = re.compile(r"\d+")


def success(calls: int, successes: int) -> float:
    """
    >>> success(0, 0), success(8, 8), success(8, 0)
    (0.5, 0.9, 0.1)
    """
    return (successes + 1) / (calls + 2)


def slowness(median_ms: float | None) -> float:
    """
    >>> slowness(None), slowness(0.0), slowness(5000.0)
    (0.5, 0.0, 0.5)
    """
    if median_ms is None:
        return 0.5
    return median_ms / (median_ms + DURATION_SCALE_MS)


def score(similarity: float | None, calls: int, successes: int, median_ms: float | None) -> float:
    return (
        (similarity or 0.0)
        + SUCCESS_WEIGHT * success(calls, successes)
        - SLOW_WEIGHT * slowness(median_ms)
    )


def parse_pick(text: str, choices: int) -> int | None:
    """The 1-based number the model answered, 0 for none, None when it is not usable.

    >>> parse_pick("2", 3), parse_pick("Tool 3 fits best.", 3), parse_pick("0", 3)
    (2, 3, 0)
    >>> parse_pick("7", 3) is None, parse_pick("none of them", 3) is None
    (True, True)
    """
    match = _NUMBER.search(text)
    if match is None:
        return None
    number = int(match[0])
    return number if 0 <= number <= choices else None

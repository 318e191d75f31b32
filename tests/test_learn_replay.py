"""bench/learning_replay.py's tools for issue 12's exploration study: the aimed
exploration moves a lower candidate into view only on uncertain questions and never shows
an item twice; ``place`` and ``where_lines`` count where the right item stood."""

from __future__ import annotations

import numpy as np

from bench.learning_replay import Cache, Replay, place, where_lines
from learnloop.learn.config import LearningConfig


def replay(aim: dict[str, float | int | str]) -> Replay:
    cache = Cache([str(n) for n in range(8)], np.eye(8, 4, dtype=np.float32), {}, {})
    tenant = Replay(cache, LearningConfig.of({"policy": "memory"}), 0.0)
    tenant.aim = dict(aim)
    tenant.order = [10, 11, 12, 13, 14, 15]
    return tenant


def test_an_uncertain_question_shows_the_fourth_candidate_at_the_position_asked() -> None:
    rng = np.random.default_rng(0)
    tenant = replay({"below": 0.8})
    assert tenant.aimed_at([10, 11, 12], np.array([0.6, 0.3]), rng) == [10, 11, 13]
    tenant.aim["position"] = 2
    assert tenant.aimed_at([10, 11, 12], np.array([0.6, 0.3]), rng) == [10, 13, 11]
    assert tenant.aimed == 2


def test_a_sure_question_keeps_its_list_and_nothing_is_shown_twice() -> None:
    rng = np.random.default_rng(0)
    tenant = replay({"below": 0.8})
    assert tenant.aimed_at([10, 11, 12], np.array([0.9, 0.05]), rng) == [10, 11, 12]
    margin = replay({"margin": 0.2})
    assert margin.aimed_at([10, 11, 12], np.array([0.9, 0.05]), rng) == [10, 11, 12]
    assert margin.aimed_at([10, 11, 12], np.array([0.5, 0.4]), rng) == [10, 11, 13]
    explored = replay({"below": 0.8})  # a draw showed the 4th already: the next one comes
    assert explored.aimed_at([10, 13, 11], np.array([0.6, 0.3]), rng) == [10, 13, 14]
    assert tenant.aimed == 0


def test_where_the_right_item_stood() -> None:
    order = list(range(12))
    assert [place(order, i) for i in (0, 2, 3, 9, 10, 99)] == [
        "1", "3", "4-10", "4-10", "11+", "not a candidate",
    ]  # fmt: skip
    out = {
        "stream": [("q", "a", "1", True), ("r", "b", "2", False), ("s", "c", "4-10", False)],
        "test_where": ["1", "1", "not a candidate"],
    }
    lines = where_lines(out)
    assert "    1: 1 / 0" in lines and "    2: 0 / 1" in lines and "    4-10: 0 / 1" in lines
    assert lines[-1].endswith("1 2, 2 0, 3 0, 4-10 0, 11+ 0, not a candidate 1")

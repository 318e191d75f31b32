"""bench/recommend_http.py end to end on a tiny database: two `learnloop serve` processes,
a `learnloop worker` idle then busy re-embedding, recommends over HTTP, CPU from /proc."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import recommend_http as rh
from learnloop import LearnLoop
from learnloop.embedders import LocalEmbedder
from learnloop.settings import Settings
from tests.test_learn_stats import ITEMS

BASE = os.getpriority(os.PRIO_PROCESS, 0)
TOPICS = ["card", "transfer", "refund", "password", "limit", "fee", "pin", "account"]


@pytest.fixture
def own(migrated_db_url: str, settings: Settings, embedder: LocalEmbedder) -> Iterator[LearnLoop]:
    with LearnLoop.open(
        settings.model_copy(update={"database_url": migrated_db_url}), embedder
    ) as ll:
        yield ll


def test_phases_parse_and_bad_ones_are_refused() -> None:
    assert rh.parse_phases("idle, busy:nice=0,busy:threads=1:nice=3") == [
        rh.Phase(False),
        rh.Phase(True, nice=0),
        rh.Phase(True, nice=3, threads=1),
    ]
    for bad in ("lazy", "busy:nice=-1", "busy:cores=2"):
        with pytest.raises(ValueError, match=r"phase|idle"):
            rh.parse_phase(bad)


def test_recommend_over_two_servers_with_the_worker_idle_then_busy(
    own: LearnLoop, migrated_db_url: str, tmp_path: Path
) -> None:
    tenant = own.tenants.create("rh-bench").tenant_id
    own.items.put_many(tenant, ITEMS)
    own.recommender.set_threshold(tenant, 0.0)
    key = own.keys.create(tenant, "rh-bench").key
    opts = rh.Options(
        rate=6.0,
        requests=12,
        clients=2,
        warmup=1,
        low_water=8,
        busy_items=40,
        worker_env={"LEARNLOOP_EMBED_BATCH": "4"},
    )
    questions = [f"how do I change my {t} setting, case {n}" for n in range(4) for t in TOPICS]
    texts = [f"what is the {t} policy for {n} accounts" for n in range(3) for t in TOPICS]
    env = os.environ | {"DATABASE_URL": migrated_db_url, "LEARNLOOP_EMBED_QUERY_THREADS": "1"}
    phases = rh.parse_phases("idle,busy:nice=5")

    result = rh.measure(
        own,
        env,
        phases,
        n_servers=2,
        key=key,
        questions=questions,
        busy_tenant="rh-busy",
        texts=texts,
        opts=opts,
        logs=tmp_path,
    )

    idle, busy = result["phases"]
    for phase in (idle, busy):
        assert phase["statuses"] == {"200": 12}, phase
        assert 0 < phase["p50"] <= phase["p95"] <= phase["p99"]
        assert phase["cpu_s"]["servers"] > 0 and phase["cpu_s"]["postgres"] > 0
    # The idle worker ran at the default niceness and embedded nothing; the busy one at its
    # own, re-embedding the edited items the whole window, and the backlog was drained.
    assert idle["worker_niceness"] == [min(19, BASE + 10)] and idle["embedded"] == 0
    assert busy["worker_niceness"] == [min(19, BASE + 5)]
    # Its own session's scheduling group (where the kernel groups by session) is lowered too.
    assert busy["worker_group_nice"] == (5 if Path("/proc/self/autogroup").exists() else None)
    # (The backlog at the window's start is a snapshot: a worker keeping up can find it empty.)
    assert busy["waiting_before"] >= 0 and busy["cpu_s"]["worker"] > 0
    assert busy["edited"] >= busy["embedded_all"] > 0 and busy["drained"]
    assert own.indexer.status("rh-busy").queued_changes == 0
    # Every recommend, warm-up included, went through the real route: one impression each.
    with own.db.connection() as conn:
        shown = conn.execute(
            "SELECT count(*) AS n FROM impressions WHERE tenant_id = %s", (tenant,)
        ).fetchone()["n"]
    assert shown == 2 * opts.warmup + 2 * opts.requests
    lines = rh.summary(result)
    assert len(lines) == 2 and "the idle worker's p50 / p95" in lines[1]
    assert "busy:nice=5" in rh.phase_line(busy) and "embedded" in rh.phase_line(busy)


def test_too_few_questions_are_refused(own: LearnLoop, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="distinct questions needed"):
        rh.measure(
            own,
            dict(os.environ),
            [rh.Phase(False)],
            n_servers=2,
            key="unused",
            questions=["one question"],
            busy_tenant="rh-none",
            texts=["a text"],
            opts=rh.Options(requests=5, warmup=1),
            logs=tmp_path,
        )

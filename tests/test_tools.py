"""Tool selection: search narrows, recorded outcomes rank, an LLM may pick; all of it logged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from learnloop import LearnLoop
from learnloop.llm.openai import OpenAIChat
from learnloop.tools import ToolSelection, ToolSelector
from learnloop.tools.ranking import success

from .llm_servers import FakeLLM, RunningLLM

GOAL = "the pod keeps crashing, restart it"
TOOLS = {
    "restart_pod": ("Restart a Kubernetes pod", "Deletes the pod so its deployment restarts it."),
    "rollout_restart": ("Rollout restart of a deployment", "Restarts every pod of a deployment."),
    "scale": ("Scale a deployment", "Changes the number of replicas of a deployment."),
    "invoice": ("Send an invoice email", "Emails the customer's latest invoice as a PDF."),
    "csv": ("Export a report as CSV", "Writes the chosen report to a CSV file."),
    "weather": ("Weather forecast", "Tells tomorrow's weather for a city."),
}


def put_tools(ll: LearnLoop, tenant: str) -> dict[str, int]:
    rows = [
        {"kind": "tool", "title": title, "body": body, "attrs": {"name": name}}
        for name, (title, body) in TOOLS.items()
    ]
    stored = ll.items.put_many(tenant, rows)
    return {name: item.item_id for name, (item, _) in zip(TOOLS, stored, strict=True)}


def run(ll: LearnLoop, tenant: str, tool: str, item_id: int | None, ok: bool, times: int) -> None:
    for _ in range(times):
        call = {"tool": tool, "item_id": item_id, "success": ok, "duration_ms": 200.0}
        ll.tracking.execution(
            tenant, {"goal": GOAL, "success": ok, "duration_ms": 250.0, "tool_calls": [call]}
        )


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with RunningLLM("sk-tools") as state:
        yield state


def test_search_narrows_statistics_rank_and_outcomes_feed_back(ll: LearnLoop, tenant: str) -> None:
    ids = put_tools(ll, tenant)
    first = ll.tools.select(tenant, {"query": GOAL, "candidates": 3, "shortlist": 2})
    assert len(first.search) == 3 and len(first.statistics) == 2
    assert {c.tool for c in first.search} >= {"restart_pod", "rollout_restart"}
    assert first.chosen is not None and first.chosen.tool == "restart_pod"
    assert first.decided_by == "statistics" and first.llm == []
    assert all(c.calls == 0 for c in first.search)

    # The closest tool keeps failing and the runner-up keeps working: the ranking turns.
    run(ll, tenant, "restart_pod", ids["restart_pod"], ok=False, times=6)
    run(ll, tenant, "rollout_restart", None, ok=True, times=6)  # counted by name
    second = ll.tools.select(tenant, {"query": GOAL, "candidates": 3, "shortlist": 2})
    assert second.chosen is not None and second.chosen.tool == "rollout_restart"
    by_tool = {c.tool: c for c in second.statistics}
    assert (by_tool["restart_pod"].calls, by_tool["restart_pod"].successes) == (6, 0)
    assert (by_tool["rollout_restart"].calls, by_tool["rollout_restart"].successes) == (6, 6)
    assert by_tool["rollout_restart"].median_ms == 200.0
    assert second.statistics[0].score > second.statistics[1].score
    assert by_tool["restart_pod"].similarity is not None
    assert by_tool["restart_pod"].similarity > (by_tool["rollout_restart"].similarity or 0)


def test_every_stage_is_logged_and_read_back(ll: LearnLoop, tenant: str) -> None:
    put_tools(ll, tenant)
    made = ll.tools.select(tenant, {"query": GOAL, "candidates": 4, "context": {"agent": "ops"}})
    logged = ll.tools.selection(tenant, made.selection_id)
    assert logged == made
    assert [c.rank for c in logged.search] == [1, 2, 3, 4]
    other = ll.tenants.create(f"o-{uuid.uuid4().hex[:12]}").tenant_id
    with pytest.raises(Exception, match="no tool selection"):
        ll.tools.selection(other, made.selection_id)


def test_other_tenants_outcomes_do_not_count(ll: LearnLoop, tenant: str) -> None:
    ids = put_tools(ll, tenant)
    other = ll.tenants.create(f"o-{uuid.uuid4().hex[:12]}").tenant_id
    put_tools(ll, other)
    run(ll, other, "restart_pod", ids["restart_pod"], ok=False, times=3)
    run(ll, other, "restart_pod", None, ok=False, times=3)
    mine = ll.tools.select(tenant, {"query": GOAL, "candidates": 3})
    assert all(c.calls == 0 for c in mine.search)


def test_no_tools_means_no_choice(ll: LearnLoop, tenant: str) -> None:
    picked = ll.tools.select(tenant, {"query": GOAL})
    assert (picked.chosen, picked.decided_by, picked.search) == (None, "none", [])


def test_an_llm_picks_from_the_shortlist_and_a_bad_answer_falls_back(
    ll: LearnLoop, tenant: str, llm: FakeLLM
) -> None:
    put_tools(ll, tenant)
    chat = OpenAIChat(model="picker", api_key="sk-tools", base_url=llm.openai_base_url)
    selector = ToolSelector(ll.db, ll.search, chat=chat)
    try:
        llm.reply = "2"
        picked = selector.select(tenant, {"query": GOAL, "shortlist": 3})
        question = llm.bodies("/v1/chat/completions")[-1]["messages"][-1]["content"]
        llm.reply = "I would rather not say."
        fallback = selector.select(tenant, {"query": GOAL, "shortlist": 3})
        llm.reply = "0"
        refused = selector.select(tenant, {"query": GOAL, "shortlist": 3})
        unasked = selector.select(tenant, {"query": GOAL, "shortlist": 3, "use_llm": False})
    finally:
        chat.close()
    assert picked.decided_by == "llm" and picked.llm_model == "picker"
    assert picked.chosen is not None and picked.chosen.item_id == picked.statistics[1].item_id
    assert [c.item_id for c in picked.llm] == [picked.statistics[1].item_id]
    assert f"Goal: {GOAL}" in question and "2. " in question and "never used" in question
    assert ll.tools.selection(tenant, picked.selection_id).llm == picked.llm
    assert fallback.decided_by == "statistics" and fallback.chosen == fallback.statistics[0]
    assert refused.decided_by == "llm" and refused.chosen is None
    assert ll.tools.selection(tenant, refused.selection_id).chosen is None
    assert unasked.decided_by == "statistics"
    assert isinstance(picked, ToolSelection)


def test_the_success_estimate_moves_with_each_outcome() -> None:
    assert success(0, 0) == 0.5
    assert success(1, 1) > success(0, 0) > success(1, 0)
    assert success(100, 90) == pytest.approx(91 / 102)

"""The context block for an assistant's LLM, and answers, on the real database and model.

The block must stay within its budget as the real tokenizer counts it, stay inside its
tenant, cite every part by item id and version (or report id), log its items as an
impression, and include the applied corrections relevant to the question.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from learnloop import LearnLoop
from learnloop.api import create_app
from learnloop.context import ContextBlock
from learnloop.errors import InvalidInput, NotFound

from .llm_servers import FakeLLM, RunningLLM

QUERY = "how do I reset my password"
FAQ = [
    ("Reset a forgotten password", "Open Settings > Security > Reset password; we email a link. "
     "The link expires after 30 minutes; ask for a new one if it has."),
    ("Change your password", "Settings > Security > Change password: type the old, then the new."),
    ("Password requirements", "A password needs 12 characters, a digit and a symbol."),
    ("Export data as CSV", "Open Reports, pick the report and choose Export > CSV."),
]  # fmt: skip
CORRECTION = (
    "Password reset links now expire after 24 hours",
    "Corrected: reset links expire after 24 hours, not 30 minutes.",
)


def put(ll: LearnLoop, tenant: str, kind: str, title: str, body: str, **attrs: Any) -> int:
    item, _ = ll.items.put(tenant, {"kind": kind, "title": title, "body": body, "attrs": attrs})
    return item.item_id


def knowledge(ll: LearnLoop, tenant: str) -> dict[str, int]:
    """The FAQ, one applied correction, an unrelated correction and two reports for acme."""
    applied = {"source": "proposal", "proposal_source": "correction"}
    rows = [{"kind": "faq", "title": title, "body": body} for title, body in FAQ] + [
        {"kind": "correction", "title": CORRECTION[0], "body": CORRECTION[1],
         "attrs": applied | {"proposal_id": 7}},
        {"kind": "correction", "title": "Invoices are sent on the first of the month",
         "body": "Corrected: invoices go out on the 1st.", "attrs": applied | {"proposal_id": 8}},
    ]  # fmt: skip
    stored = [item.item_id for item, _ in ll.items.put_many(tenant, rows)]
    ids = dict(zip([title for title, _ in FAQ] + ["correction", "unrelated"], stored, strict=True))
    for n, (status, after) in enumerate([("completed", 41.0), ("in_progress", None)], 1):
        ll.tracking.report(
            tenant,
            {
                "external_id": f"r{n}",
                "account": "acme",
                "playbook": f"Onboarding {n}",
                "status": status,
                "steps_total": 4,
                "steps_completed": 4 if status == "completed" else 2,
                "executive_summary": f"Summary {n}: rolled out single sign-on.",
                "outcomes": [{"metric": "adoption", "before": 20.0, "after": after}],
                "next_steps": [f"Follow up {n}"],
            },
        )
    return ids


@pytest.fixture(scope="module")
def shared(ll: LearnLoop) -> tuple[str, dict[str, int]]:
    """One tenant with the knowledge, for the tests that only read it."""
    tenant = ll.tenants.create(f"t-{uuid.uuid4().hex[:12]}").tenant_id
    return tenant, knowledge(ll, tenant)


@pytest.fixture
def filled(shared: tuple[str, dict[str, int]]) -> dict[str, int]:
    return shared[1]


@pytest.fixture
def tenant(shared: tuple[str, dict[str, int]]) -> str:
    return shared[0]


def refs(block: ContextBlock) -> list[tuple[str, int | None, int | None]]:
    return [(p.citation.kind, p.citation.item_id, p.citation.report_id) for p in block.parts]


def test_the_block_cites_corrections_items_and_reports(
    ll: LearnLoop, tenant: str, filled: dict[str, int]
) -> None:
    block = ll.context.build(tenant, {"query": QUERY, "account": "acme", "token_budget": 2000})
    kinds = [p.citation.kind for p in block.parts]
    assert kinds[0] == "correction" and "item" in kinds and kinds[-1] == "report"
    assert refs(block)[0] == ("correction", filled["correction"], None)
    assert filled["unrelated"] not in [p.citation.item_id for p in block.parts]
    assert block.parts[0].citation.attrs == {
        "source": "proposal", "proposal_id": 7, "proposal_source": "correction"
    }  # fmt: skip
    # Every part is in the text under its reference, with the version it was read at.
    for part in block.parts:
        assert part.text in block.text
        citation = part.citation
        if citation.kind == "report":
            assert part.text.startswith(f"[report {citation.report_id}]")
        else:
            item = ll.items.get(tenant, citation.item_id or 0)
            assert citation.version == item.version
            assert part.text.startswith(f"[{citation.kind} {item.item_id} v{item.version}]")
    reports = [p for p in block.parts if p.citation.kind == "report"]
    assert {p.citation.title for p in reports} == {"Onboarding 1", "Onboarding 2"}
    assert "adoption 20 -> 41" in block.text and "Next steps: Follow up 1" in block.text


def test_the_items_included_are_the_ones_the_impression_logged(
    ll: LearnLoop, tenant: str, filled: dict[str, int]
) -> None:
    block = ll.context.build(tenant, {"query": QUERY, "account": "acme", "user": "ana"})
    logged = ll.recommender.impression(tenant, block.impression_id)
    shown = {(c.item_id, c.item_version) for c in logged.candidates if c.shown}
    items = {(p.citation.item_id, p.citation.version) for p in block.parts
             if p.citation.kind == "item"}  # fmt: skip
    assert items and items <= shown
    assert filled["Reset a forgotten password"] in {i for i, _ in items}
    assert logged.context == {"account": "acme", "user": "ana"}
    # The corrections are never among the recommended items (they have their own part).
    assert all(c.item_id not in (filled["correction"], filled["unrelated"])
               for c in logged.candidates)  # fmt: skip


def test_the_block_stays_within_its_budget_counted_by_the_real_tokenizer(
    ll: LearnLoop, tenant: str, filled: dict[str, int]
) -> None:
    whole = ll.context.build(tenant, {"query": QUERY, "account": "acme", "token_budget": 5000})
    assert not whole.left_out and whole.tokens < 400
    for budget in (50, 90, 160, 400):
        block = ll.context.build(
            tenant, {"query": QUERY, "account": "acme", "token_budget": budget}
        )
        assert block.tokens == ll.tokenizer.count(block.text) <= budget
        assert block.token_budget == budget and "MiniLM" in block.tokenizer
        complete = not block.left_out and not any(p.truncated for p in block.parts)
        assert complete == (budget >= whole.tokens)
        assert block.tokens > budget * 0.6 or complete  # it fills the budget, not gives up
        assert len(block.parts) + len(block.left_out) == len(whole.parts)


def test_a_part_that_does_not_fit_is_cut_to_the_room_left(ll: LearnLoop) -> None:
    tenant = ll.tenants.create(f"t-{uuid.uuid4().hex[:12]}").tenant_id
    long_body = " ".join(f"Step {n}: check the password reset queue." for n in range(200))
    put(ll, tenant, "faq", "Reset a forgotten password", long_body)
    block = ll.context.build(tenant, {"query": QUERY, "token_budget": 120})
    (part,) = block.parts
    assert part.truncated and part.text.startswith("[item ")
    assert block.tokens <= 120 and long_body.startswith(part.text.split("\n", 1)[1])


def test_the_block_stays_inside_its_tenant(
    ll: LearnLoop, tenant: str, filled: dict[str, int]
) -> None:
    other = ll.tenants.create(f"o-{uuid.uuid4().hex[:12]}").tenant_id
    theirs = knowledge(ll, other)
    mine = ll.context.build(tenant, {"query": QUERY, "account": "acme"})
    cited = {p.citation.item_id for p in mine.parts if p.citation.kind != "report"}
    assert cited and not cited & set(theirs.values())
    their_reports = {r.report_id for r in ll.tracking.reports(other, account="acme")}
    assert not {p.citation.report_id for p in mine.parts} & their_reports
    with pytest.raises(NotFound):
        ll.recommender.impression(other, mine.impression_id)


def test_a_session_names_the_account(ll: LearnLoop, tenant: str, filled: dict[str, int]) -> None:
    ll.recommender.recommend(
        tenant, {"query": "export", "context": {"session": "s-1", "account": "acme"}}
    )
    block = ll.context.build(tenant, {"query": QUERY, "session": "s-1"})
    assert block.account == "acme" and "Account: acme" in block.text
    assert any(p.citation.kind == "report" for p in block.parts)
    alone = ll.context.build(tenant, {"query": QUERY, "session": "s-unknown"})
    assert alone.account is None and all(p.citation.kind != "report" for p in alone.parts)


def test_bad_requests_say_what_to_fix(ll: LearnLoop, tenant: str) -> None:
    with pytest.raises(InvalidInput, match="token_budget"):
        ll.context.build(tenant, {"query": QUERY, "token_budget": 10})
    with pytest.raises(InvalidInput, match="query"):
        ll.context.build(tenant, {"query": ""})


def test_without_an_llm_the_answer_is_the_context_alone(
    ll: LearnLoop, tenant: str, filled: dict[str, int]
) -> None:
    assert ll.chat is None
    result = ll.context.answer(tenant, {"query": QUERY, "account": "acme"})
    assert result.response is None and result.context.parts


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with RunningLLM("sk-ctx") as state:
        yield state


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_answer_is_generated_from_the_context_and_stored_as_a_response(
    ll: LearnLoop, tenant: str, filled: dict[str, int], llm: FakeLLM, provider: str
) -> None:
    base = llm.openai_base_url if provider == "openai" else llm.anthropic_base_url
    settings = ll.settings.model_copy(
        update={"llm_provider": provider, "llm_model": "m-1", "llm_api_key": "sk-ctx",
                "llm_base_url": base}
    )  # fmt: skip
    with_llm = LearnLoop(settings, ll.db, ll.embedder)  # shares the pool; closes only its model
    llm.reply = f"Links expire after 24 hours [correction {filled['correction']} v1]."
    try:
        result = with_llm.context.answer(tenant, {"query": QUERY, "account": "acme"})
    finally:
        assert with_llm.chat is not None
        with_llm.chat.close()
    response = result.response
    assert response is not None and response.answer == llm.reply
    assert (response.provider, response.model) == (provider, "m-1")
    assert response.impression_id == result.context.impression_id
    assert response.citations == [p.citation for p in result.context.parts]
    sent = llm.bodies("/v1/chat/completions" if provider == "openai" else "/v1/messages")[-1]
    system = sent["messages"][0]["content"] if provider == "openai" else sent["system"]
    assert result.context.text in system
    assert sent["messages"][-1] == {"role": "user", "content": QUERY}
    stored = ll.context.response(tenant, response.response_id)
    assert stored.answer == response.answer and stored.citations == response.citations
    # Feedback and corrections attach to the response by its id.
    feedback, _ = ll.feedback.add(
        tenant, {"kind": "thumbs", "value": "down", "response_id": str(response.response_id)}
    )
    assert feedback.response_id == str(response.response_id)
    with pytest.raises(NotFound):
        ll.context.response(ll.tenants.create(f"o-{uuid.uuid4().hex[:12]}").tenant_id,
                            response.response_id)  # fmt: skip
    with pytest.raises(NotFound):
        ll.context.response(tenant, UUID(int=1))


def test_a_failing_llm_is_a_503_that_says_so(
    ll: LearnLoop, tenant: str, filled: dict[str, int], llm: FakeLLM
) -> None:
    settings = ll.settings.model_copy(
        update={"llm_provider": "anthropic", "llm_model": "m", "llm_api_key": "sk-wrong",
                "llm_base_url": llm.anthropic_base_url}
    )  # fmt: skip
    with_llm = LearnLoop(settings, ll.db, ll.embedder)
    try:
        key = ll.keys.create(tenant, "llm").key
        with TestClient(create_app(with_llm)) as http:
            got = http.post(
                "/v1/answer",
                json={"query": QUERY, "account": "acme"},
                headers={"Authorization": f"Bearer {key}"},
            )
    finally:
        assert with_llm.chat is not None
        with_llm.chat.close()
    assert got.status_code == 503, got.text
    error = got.json()["error"]
    assert error["code"] == "llm_unavailable" and "Anthropic" in error["message"]


def test_a_question_longer_than_the_budget_is_cut_too(ll: LearnLoop, tenant: str) -> None:
    query = "how do I reset my password " + "and also the other thing " * 60
    block = ll.context.build(tenant, {"query": query, "token_budget": 50})
    assert block.tokens <= 50 and block.parts == [] and block.text.startswith("Question: how")

"""The SDK over real HTTP (a uvicorn server in a thread) and in-process, method for method;
executions with tool calls, tool creations and playbook reports."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from learnloop import AuthError, Client, InvalidInput, LearnLoop, NotFound


@pytest.fixture(params=["http", "local"])
def client(request: pytest.FixtureRequest, ll: LearnLoop, tenant: str) -> Iterator[Client]:
    if request.param == "http":
        url = request.getfixturevalue("server_url")
        made = Client(url, api_key=ll.keys.create(tenant).key)
    else:
        made = Client.local(ll, tenant)
    with made:
        yield made


def seed(client: Client) -> int:
    item, outcome = client.put_item(
        "runbook",
        "TLS certificate close to expiry",
        body="Rotate the certificate with rotate_certificate before it expires.",
        external_id="rb-tls",
    )
    assert outcome == "created"
    return item.item_id


def test_recommend_event_feedback_correction_round_trip(
    client: Client, ll: LearnLoop, tenant: str
) -> None:
    item_id = seed(client)
    answer = client.recommend("the certificate expires next week", context={"user": "ana"})
    assert [r.item.item_id for r in answer.recommendations] == [item_id]
    stored = client.event("clicked", answer.impression_id, item_id=item_id)
    assert stored.status == "stored" and stored.event_id is not None
    with pytest.raises(InvalidInput, match="was not shown"):
        client.event("clicked", answer.impression_id, item_id=item_id + 1000)
    rating = client.feedback("thumbs", "down", impression_id=answer.impression_id, reason="old")
    assert rating.negative and rating.score == -1.0
    fix = client.correct(
        "Rotate it by hand.",
        "Run rotate_certificate.",
        priority="urgent",
        impression_id=answer.impression_id,
    )
    assert fix.priority == "urgent"
    assert ll.recommender.impression(tenant, answer.impression_id).query.startswith("the cert")


def test_item_and_pages_of_items(client: Client) -> None:
    first = seed(client)
    faq, _ = client.put_item("faq", "Opening hours", body="9 to 5", tags=["hours"])
    assert client.item(first).title == "TLS certificate close to expiry"
    page, cursor = client.items(limit=1)
    assert [i.item_id for i in page] == [faq.item_id] and cursor is not None
    rest, end = client.items(limit=1, cursor=cursor)
    assert [i.item_id for i in rest] == [first] and end is None
    assert [i.item_id for i in client.items(kind=["runbook"])[0]] == [first]
    assert [i.item_id for i in client.items(tag=["hours"])[0]] == [faq.item_id]
    with pytest.raises(NotFound, match="no item"):
        client.item(first + 10_000)
    with pytest.raises(InvalidInput, match="limit"):
        client.items(limit=0)


def test_execution_context_manager_records_the_run_and_its_tool_calls(
    client: Client, ll: LearnLoop, tenant: str
) -> None:
    with client.execution("rotate the TLS certificate", intent="remediate") as run:
        with run.tool_call("rotate_certificate", {"host": "api"}) as call:
            time.sleep(0.02)
            call.result = {"serial": "42"}
        with pytest.raises(RuntimeError), run.tool_call("notify", {"channel": "ops"}):
            raise RuntimeError("chat is down")
    assert run.execution_id is not None
    stored = ll.tracking.get_execution(tenant, run.execution_id)
    assert (stored.goal, stored.intent, stored.success) == (
        "rotate the TLS certificate",
        "remediate",
        True,
    )
    assert stored.duration_ms >= 20
    first, second = stored.tool_calls
    assert (first.tool, first.result, first.success, first.seq) == (
        "rotate_certificate",
        {"serial": "42"},
        True,
        1,
    )
    assert first.duration_ms >= 20
    assert (second.success, second.error) == (False, "RuntimeError: chat is down")


def test_a_block_that_raises_is_recorded_as_failed(
    client: Client, ll: LearnLoop, tenant: str
) -> None:
    recorder = client.execution("scale the deployment")
    with pytest.raises(ValueError, match="no quota"), recorder:
        raise ValueError("no quota")
    assert recorder.execution_id is not None
    stored = ll.tracking.get_execution(tenant, recorder.execution_id)
    assert (stored.success, stored.error) == (False, "ValueError: no quota")


def test_retried_execution_is_stored_once(client: Client) -> None:
    run = {
        "goal": "restart",
        "success": True,
        "duration_ms": 5.0,
        "idempotency_key": "run-1",
        "tool_calls": [{"tool": "restart_service", "success": True, "duration_ms": 1.0}],
    }
    assert client.record_execution(run) == client.record_execution(run)


def test_reports_upsert_by_external_id_and_list_by_account(client: Client) -> None:
    report = {
        "external_id": "r-1",
        "account": "kestrel",
        "playbook": "Renewal at risk",
        "status": "in_progress",
        "steps_completed": 2,
        "steps_total": 5,
        "executive_summary": "Sponsor re-engaged.",
        "outcomes": [{"metric": "weekly active users", "before": 40, "after": 55}],
        "next_steps": ["QBR on Friday"],
        "raci": {"responsible": ["csm"]},
        "exit_criteria": ["renewal signed"],
    }
    first = client.report(**report)
    done = client.report(**(report | {"status": "completed", "steps_completed": 5}))
    assert done.report_id == first.report_id and done.status == "completed"
    client.report(**(report | {"external_id": "r-2", "account": "oakline"}))
    listed = client.reports(account="kestrel")
    assert [(r.external_id, r.outcomes[0].after) for r in listed] == [("r-1", 55.0)]
    with pytest.raises(InvalidInput, match="steps_completed \\(6\\) is more than steps_total"):
        client.report(**(report | {"steps_completed": 6}))


def test_tool_creation_and_bad_input(client: Client, ll: LearnLoop, tenant: str) -> None:
    client.tool_created(
        "parse_invoice",
        "def parse_invoice(text): ...",
        validation_passed=False,
        validation_errors="no return value",
    )
    with ll.db.connection() as conn:
        row = conn.execute(
            "SELECT tool, validation_passed FROM tool_creations WHERE tenant_id = %s", (tenant,)
        ).fetchone()
    assert row == {"tool": "parse_invoice", "validation_passed": False}
    with pytest.raises(InvalidInput, match="duration_ms"):
        client.record_execution({"goal": "x", "success": True, "duration_ms": -1})


def test_http_client_errors_map_to_the_library_errors(
    server_url: str, ll: LearnLoop, tenant: str
) -> None:
    with Client(server_url, api_key="ll_nope_nope") as stranger, pytest.raises(AuthError):
        stranger.search("anything")
    other = ll.tenants.create(f"{tenant}-x").tenant_id
    theirs = Client.local(ll, other)
    seed(theirs)
    answer = theirs.recommend("certificate expiry")
    with Client(server_url, api_key=ll.keys.create(tenant).key) as mine:
        with pytest.raises(NotFound, match="no impression"):
            mine.feedback("stars", 5, impression_id=answer.impression_id)
        with pytest.raises(NotFound, match="no impression"):
            mine.record_execution(
                {
                    "goal": "g",
                    "success": True,
                    "duration_ms": 1,
                    "impression_id": str(answer.impression_id),
                }
            )

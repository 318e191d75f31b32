"""A bounded schemathesis run over every operation of /openapi.json (issue 14): no request,
however odd, gets a 5xx, and every answer is one the schema documents (its status, its
Content-Type, its headers, its body's schema). Then the stateful phase: chains of requests
that follow the schema's OpenAPI links (an item made, read, changed, archived, deleted; an
impression shown, read, clicked, rated; a proposal made, edited, approved or rejected, rolled
back). The seed and the example budgets are fixed, so a failure reproduces; longer runs are
for the command line (docs/api.md, "Errors").

The checks also hold the schema to the rules the server checks: a request the schema
forbids is refused (``negative_data_rejection``), a method a path does not take is a 405
with ``Allow`` (``unsupported_method``), and ``Allow`` lists the methods the schema lists
for the path (``allow_header_conformance``).

Checks left out, and why:
- ``positive_data_acceptance``: the API checks rules the schema cannot state (one field
  against another, such as ``until`` not before ``since``; ids that must exist, such as an
  event's impression, the schema's own example among them; content, such as a proposal that
  says something; no NUL in any text), and schemathesis counts each as a schema-valid
  request rejected (docs/api.md, "Errors", lists them).
- ``use_after_free`` and ``ensure_resource_availability``: they need schemathesis' own runner
  (its recorder); the stateful chains here run the checks above on every step.

The schema comes from an app that is never started (building it needs no database); the
requests go to the real API served in-process (``server_url``) on the suite's embedded
PostgreSQL, with the key of a tenant of its own, so what the fuzzer writes stays there.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.errors import Flaky
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from learnloop import LearnLoop
from learnloop.api import create_app

EXAMPLES = 3  # per operation, 88 operations
STATEFUL_SCENARIOS, STATEFUL_STEPS = 40, 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
    allow_header_conformance,
]
# No shrinking: a failure is reported as found (shrinking replays requests against a server
# whose state has moved on, and the stateful phase's choices depend on what it answered).
BOUNDED = settings(
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzz_headers(ll: LearnLoop) -> dict[str, str]:
    tenant = ll.tenants.ensure("fuzz").tenant_id
    return {"Authorization": f"Bearer {ll.keys.create(tenant, 'fuzz').key}"}


# POST /v1/traces takes protobuf: the fuzzer's bytes go as they are (application/octet-stream's
# serializer), and the route must refuse what does not decode with a 400.
schemathesis.serializer.alias("application/x-protobuf", "application/octet-stream")

# The document only: loading from the ASGI app would start it, with a database of its own.
schema = schemathesis.openapi.from_dict(create_app().openapi())
# The operations the links chain: items, impressions and their events, proposals.
linked = schema.include(path_regex=r"^/v1/(items|recommend|impressions|events|feedback|proposals)")


@schema.parametrize()
@seed(42)
@settings(BOUNDED, max_examples=EXAMPLES)
def test_every_answer_is_one_the_schema_documents(
    case: Any, server_url: str, fuzz_headers: dict[str, str]
) -> None:
    response = case.call(base_url=server_url, headers=dict(fuzz_headers), timeout=60)
    case.validate_response(response, checks=CHECKS)


def test_chains_of_linked_requests_get_documented_answers(
    server_url: str, fuzz_headers: dict[str, str]
) -> None:
    answered: set[tuple[str, int]] = set()
    # A failed check is collected, not raised: hypothesis replays a failing chain to report
    # it, and a replay against a server whose state has moved on draws other rules (which
    # links are enabled depends on what the server answered), so a raised failure ends as
    # FlakyStrategyDefinition and hides the request that failed.
    failures: list[str] = []
    steps = [0]

    class Chains(linked.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": server_url, "headers": dict(fuzz_headers), "timeout": 60}

        def validate_response(self, response: Any, case: Any, *_: Any, **__: Any) -> None:
            answered.add((case.operation.label, response.status_code))
            steps[0] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as failure:  # every check's failure is reported
                failures.append(
                    f"{case.operation.label} -> {response.status_code}: {failure}\n"
                    f"  reproduce: {case.as_curl_command()}"
                )

    # Which rules hypothesis may draw depends on what the server answered before (a link needs
    # an id an earlier answer gave), so when it replays a choice sequence against a server
    # whose state has moved on it may stop with Flaky (FlakyStrategyDefinition): a limit of
    # generating against a live server, not a failed check (schemathesis' own runner counts it
    # as a pass and goes on). The chains then go on with new draws, until the budget of steps
    # is spent.
    budget = STATEFUL_SCENARIOS * STATEFUL_STEPS // 2
    for attempt in range(4):
        try:
            Chains.run(
                settings=settings(
                    BOUNDED,
                    max_examples=STATEFUL_SCENARIOS,
                    stateful_step_count=STATEFUL_STEPS,
                    derandomize=attempt == 0,
                )
            )
        except Flaky:
            pass
        if steps[0] >= budget:
            break
    assert steps[0] >= budget, f"the chains stopped after {steps[0]} requests of {budget}"
    assert not failures, f"{len(failures)} failed checks; the first:\n" + "\n".join(failures[:3])
    # the chains reached what only a real id reaches: the link carried it
    reached = {label for label, status in answered if 200 <= status < 300}
    by_id = {
        "GET /v1/impressions/{impression_id}",
        "GET /v1/items/{item_id}",
        "PATCH /v1/items/{item_id}",
        "GET /v1/proposals/{proposal_id}",
        "PATCH /v1/proposals/{proposal_id}",
        "POST /v1/events",
        "POST /v1/feedback",
    }
    assert reached & by_id, f"no chain reached an operation by a real id: {sorted(reached)}"

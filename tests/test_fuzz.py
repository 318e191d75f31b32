"""A bounded schemathesis run over every operation of /openapi.json: no request, however odd,
gets a 5xx (issue 14). The seed and the example budget are fixed, so a failure reproduces;
longer runs are for the command line (docs/api.md, "Errors").

The schema comes from an app that is never started (building it needs no database); the
requests go to the real API served in-process (``server_url``) on the suite's embedded
PostgreSQL, with the key of a tenant of its own, so what the fuzzer writes stays there.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings
from schemathesis.checks import not_a_server_error

from learnloop import LearnLoop
from learnloop.api import create_app

EXAMPLES = 4  # per operation, 80 operations: 99 s on two shared cores (measured)

# Operations left out of the fuzzing, with why (none now: PATCH /v1/learning is back since
# every policy ranks an empty candidate list).
EXCLUDED: set[tuple[str, str]] = set()  # operations left out (none now)


@pytest.fixture(scope="module")
def fuzz_headers(ll: LearnLoop) -> dict[str, str]:
    tenant = ll.tenants.ensure("fuzz").tenant_id
    return {"Authorization": f"Bearer {ll.keys.create(tenant, 'fuzz').key}"}


# POST /v1/traces takes protobuf: the fuzzer's bytes go as they are (application/octet-stream's
# serializer), and the route must refuse what does not decode with a 400.
schemathesis.serializer.alias("application/x-protobuf", "application/octet-stream")

# The document only: loading from the ASGI app would start it, with a database of its own.
schema = schemathesis.openapi.from_dict(create_app().openapi())


@schema.parametrize()
@seed(42)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error(
    case: Any, server_url: str, fuzz_headers: dict[str, str]
) -> None:
    if (case.method.upper(), case.path) in EXCLUDED:
        pytest.skip("excluded until the bayes policy's empty-candidates fix is merged")
    response = case.call(base_url=server_url, headers=dict(fuzz_headers), timeout=60)
    case.validate_response(response, checks=[not_a_server_error])

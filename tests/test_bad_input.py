"""Bad input on imports, the learning queue, learning, analytics, context and the index
status: each gets a 4xx with the JSON error shape and a message naming what to fix, never a
500, and what was stored before (an item, an import, a proposal, settings) stays as it was.

TestClient re-raises server exceptions, so a request that crashes the server fails here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from learnloop import LearnLoop
from learnloop.validation import MAX_DURATION_MS

HUGE = 10**20  # over PostgreSQL's bigint
NUL = "a\x00b"
UUID0 = "00000000-0000-7000-8000-000000000000"
CODES = {400: {"invalid_json"}, 404: {"not_found"}, 409: {"conflict"}, 422: {"invalid_input"}}
ACCOUNTS_CSV = b"account_id,account_name,segment\nA-9,Acme,SMB\n"
MULTIPART = "multipart/form-data; boundary=xyz"
NUL_NAMED = (  # a raw NUL byte in the file's name, as a client may send it unescaped
    b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a\x00.csv"\r\n\r\n'
    + ACCOUNTS_CSV
    + b"\r\n--xyz--\r\n"
)


DEEP = b"[" * 40 + b"]" * 40  # nested past MAX_DEPTH, which json.loads still reads
TOO_DEEP = b"[" * 5000 + b"]" * 5000  # past what json.loads can read (RecursionError)
RUN = {"goal": "g", "success": True, "duration_ms": 1}
REPORT = {"account": "A-9", "playbook": "p", "status": "planned", "steps_total": 3}
BODY = "the request body: "
NOT_AN_OBJECT = BODY + "Input should be a valid dictionary"


def _nul(field: str) -> str:
    return f"{field}: text must not contain the NUL character"


def _raw(text: bytes) -> dict[str, Any]:
    return {"content": text, "headers": {"content-type": "application/json"}}


def _upload(name: str, data: bytes, **form: str) -> dict[str, Any]:
    return {"files": {"file": (name, data, "application/octet-stream")}, "data": form}


# (method, path, request arguments, status, what the message must say)
CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    # --- imports and accounts
    ("POST", "/v1/imports", {"content": ACCOUNTS_CSV}, 422, "?filename="),
    ("POST", "/v1/imports", {"files": {"other": ("a.csv", ACCOUNTS_CSV)}}, 422, "'file'"),
    ("POST", "/v1/imports", _upload("empty.csv", b""), 422, "empty"),
    ("POST", "/v1/imports", _upload("blob.csv", bytes(range(256)) * 8), 422, "blob.csv"),
    ("POST", "/v1/imports", _upload("a.csv", ACCOUNTS_CSV, kind="poem"), 422, "kind"),
    ("POST", "/v1/imports", _upload("a.csv", ACCOUNTS_CSV, mapping="{"), 422, "mapping"),
    ("POST", "/v1/imports", _upload("a.csv", ACCOUNTS_CSV, mapping="[1]"), 422, "mapping"),
    ("POST", "/v1/imports", _upload("a.csv", ACCOUNTS_CSV, mapping='{"a": 1}'), 422, "mapping"),
    ("POST", "/v1/imports", _upload("a.md", b"# T\n", item_kind="poem"), 422, "item_kind"),
    ("POST", "/v1/imports", _upload("a.csv", ACCOUNTS_CSV, account=NUL), 422, _nul("account")),
    ("POST", "/v1/imports", _upload("a.csv", ACCOUNTS_CSV, account="x" * 301), 422, "account"),
    (
        "POST",
        "/v1/imports",
        {"content": NUL_NAMED, "headers": {"content-type": MULTIPART}},
        422,
        "file name: must not contain the NUL character",
    ),
    (
        "POST",
        "/v1/imports",
        {"content": ACCOUNTS_CSV, "params": {"filename": "a\x00.csv"}},
        422,
        "filename: text must not contain the NUL character",
    ),
    ("POST", "/v1/imports", {"content": b"", "params": {"filename": "a.csv"}}, 422, "empty"),
    (
        "POST",
        "/v1/imports",
        {"content": ACCOUNTS_CSV, "params": {"filename": "a.csv", "skip_bad_rows": "maybe"}},
        422,
        "skip_bad_rows",
    ),
    ("POST", "/v1/imports", _upload("tool.exe", b"MZ\x90\x00\x03\x00"), 422, "tool.exe: "),
    ("POST", "/v1/imports", _upload("book.xlsx", b"not a zip"), 422, "book.xlsx: not a readable"),
    ("POST", "/v1/imports", _upload("faq.json", b'{"a": '), 422, "faq.json: not valid JSON"),
    (
        "POST",
        "/v1/imports",
        _upload("bom.csv", b"\xff\xfe\x00"),
        422,
        "bom.csv: starts with a utf-16 byte-order mark, but is not utf-16 text",
    ),
    ("GET", "/v1/imports", {"params": {"limit": -1}}, 422, "limit"),
    ("GET", "/v1/imports", {"params": {"limit": "ten"}}, 422, "limit"),
    ("GET", "/v1/imports", {"params": {"cursor": "x"}}, 422, "cursor"),
    ("GET", "/v1/imports", {"params": {"cursor": HUGE}}, 422, "cursor"),
    ("GET", "/v1/imports/abc", {}, 422, "import_id"),
    ("GET", "/v1/imports/-1", {}, 404, "no import -1"),
    ("GET", "/v1/imports/987654321", {}, 404, "no import 987654321"),
    ("GET", f"/v1/imports/{HUGE}", {}, 404, f"no import {HUGE}"),
    ("GET", "/v1/accounts", {"params": {"limit": 0}}, 422, "limit"),
    ("GET", "/v1/accounts/nobody", {}, 404, "nobody"),
    ("GET", "/v1/accounts/nobody/kpis", {}, 404, "nobody"),
    ("GET", "/v1/accounts/a%00b", {}, 422, _nul("account_id")),
    ("GET", "/v1/accounts/a%00b/kpis", {}, 422, _nul("account_id")),
    # --- the learning queue
    ("PUT", "/v1/proposals/settings", {"json": {}}, 422, "duplicate_threshold: Field required"),
    (
        "PUT",
        "/v1/proposals/settings",
        {"json": {"duplicate_threshold": "high"}},
        422,
        "duplicate_threshold",
    ),
    (
        "PUT",
        "/v1/proposals/settings",
        {"json": {"duplicate_threshold": 0}},
        422,
        "duplicate_threshold",
    ),
    (
        "PUT",
        "/v1/proposals/settings",
        _raw(b'{"duplicate_threshold": 1e400}'),
        422,
        "duplicate_threshold",
    ),
    (
        "PUT",
        "/v1/proposals/settings",
        _raw(b'{"duplicate_threshold": NaN}'),
        422,
        "duplicate_threshold",
    ),
    (
        "PUT",
        "/v1/proposals/settings",
        {"json": {"duplicate_threshold": 0.9, "x": 1}},
        422,
        "x: Extra inputs are not permitted",
    ),
    ("PUT", "/v1/proposals/settings", {"json": [0.9]}, 422, NOT_AN_OBJECT),
    ("PUT", "/v1/proposals/settings", _raw(b'{"duplicate_threshold": '), 400, "not valid JSON"),
    ("POST", "/v1/proposals", {"json": {}}, 422, "a new item needs a title"),
    ("POST", "/v1/proposals", {"json": {"title": "T", "body": NUL}}, 422, _nul("body")),
    ("POST", "/v1/proposals", {"json": {"title": NUL, "body": "b"}}, 422, _nul("title")),
    ("POST", "/v1/proposals", {"json": {"body": "b"}}, 422, "title"),
    ("POST", "/v1/proposals", {"json": {"item_id": "one", "body": "b"}}, 422, "item_id"),
    ("POST", "/v1/proposals", {"json": {"item_id": -1, "body": "b"}}, 422, "item_id"),
    ("POST", "/v1/proposals", {"json": {"item_id": HUGE, "body": "b"}}, 422, "item_id"),
    ("POST", "/v1/proposals", {"json": {"item_id": 987654321, "body": "b"}}, 404, "987654321"),
    ("POST", "/v1/proposals", {"json": {"title": "T", "body": "b", "kind": "poem"}}, 422, "kind"),
    (
        "POST",
        "/v1/proposals",
        {"json": {"title": "T", "body": "b", "confidence": 101}},
        422,
        "confidence",
    ),
    (
        "POST",
        "/v1/proposals",
        {"json": {"title": "T", "body": "b", "confidence": -1}},
        422,
        "confidence",
    ),
    ("POST", "/v1/proposals", {"json": {"title": "T", "body": "b", "tags": "x"}}, 422, "tags"),
    ("POST", "/v1/proposals", {"json": {"title": "T", "body": ["b"]}}, 422, "body"),
    ("POST", "/v1/proposals", {"json": {"title": "T", "body": "b", "owner": "x"}}, 422, "owner"),
    ("GET", "/v1/proposals", {"params": {"status": "bogus"}}, 422, "status"),
    ("GET", "/v1/proposals", {"params": {"source": "bogus"}}, 422, "source"),
    ("GET", "/v1/proposals", {"params": {"min_confidence": -1}}, 422, "min_confidence"),
    ("GET", "/v1/proposals", {"params": {"min_confidence": 101}}, 422, "min_confidence"),
    ("GET", "/v1/proposals", {"params": {"order": "random"}}, 422, "order"),
    ("GET", "/v1/proposals", {"params": {"limit": -5}}, 422, "limit"),
    ("GET", "/v1/proposals", {"params": {"offset": -1}}, 422, "offset"),
    ("GET", "/v1/proposals", {"params": {"offset": HUGE}}, 422, "offset"),
    ("GET", "/v1/proposals", {"params": {"duplicates": "maybe"}}, 422, "duplicates"),
    ("GET", "/v1/proposals/abc", {}, 422, "proposal_id"),
    ("GET", "/v1/proposals/987654321", {}, 404, "987654321"),
    ("GET", "/v1/proposals/-3", {}, 404, "-3"),
    ("GET", f"/v1/proposals/{HUGE}", {}, 404, f"no proposal {HUGE}"),
    ("GET", "/v1/proposals/abc/audit", {}, 422, "proposal_id"),
    ("GET", "/v1/proposals/987654321/audit", {}, 404, "987654321"),
    ("GET", f"/v1/proposals/{HUGE}/audit", {}, 404, f"no proposal {HUGE}"),
    ("PATCH", "/v1/proposals/{proposal}", {"json": {"body": "new"}}, 422, "reviewer"),
    ("PATCH", "/v1/proposals/{proposal}", {"json": {"reviewer": "", "body": "n"}}, 422, "reviewer"),
    ("PATCH", "/v1/proposals/{proposal}", {"json": {"reviewer": "r", "body": ""}}, 422, "body"),
    ("PATCH", "/v1/proposals/{proposal}", {"json": {"reviewer": "r", "title": ""}}, 422, "title"),
    (
        "PATCH",
        "/v1/proposals/{proposal}",
        {"json": {"reviewer": "r", "confidence": HUGE}},
        422,
        "confidence",
    ),
    (
        "PATCH",
        "/v1/proposals/{proposal}",
        {"json": {"reviewer": "r", "status": "applied"}},
        422,
        "status",
    ),
    (
        "PATCH",
        "/v1/proposals/{proposal}",
        {"json": {"reviewer": "r", "note": NUL}},
        422,
        _nul("note"),
    ),
    (
        "PATCH",
        "/v1/proposals/987654321",
        {"json": {"reviewer": "r", "body": "n"}},
        404,
        "987654321",
    ),
    (
        "PATCH",
        f"/v1/proposals/{HUGE}",
        {"json": {"reviewer": "r", "body": "n"}},
        404,
        f"no proposal {HUGE}",
    ),
    ("POST", "/v1/proposals/{proposal}/approve", {}, 422, BODY + "Field required"),
    ("POST", "/v1/proposals/{proposal}/approve", {"json": {"reviewer": ""}}, 422, "reviewer"),
    ("POST", "/v1/proposals/{proposal}/approve", {"json": {"reviewer": 5}}, 422, "reviewer"),
    ("POST", "/v1/proposals/{proposal}/reject", {"json": {"reviewer": NUL}}, 422, _nul("reviewer")),
    (
        "POST",
        "/v1/proposals/{proposal}/reject",
        {"json": {"reviewer": "r", "why": "x"}},
        422,
        "why",
    ),
    ("POST", "/v1/proposals/{proposal}/rollback", {"json": {"reviewer": "r"}}, 409, "pending"),
    (
        "POST",
        "/v1/proposals/{proposal}/rollback",
        {"json": {"reviewer": "r", "note": 5}},
        422,
        "note: Input should be a valid string",
    ),
    ("POST", "/v1/proposals/987654321/approve", {"json": {"reviewer": "r"}}, 404, "987654321"),
    (
        "POST",
        f"/v1/proposals/{HUGE}/reject",
        {"json": {"reviewer": "r"}},
        404,
        f"no proposal {HUGE}",
    ),
    ("POST", "/v1/proposals/apply", {"params": {"batch": 0}}, 422, "batch"),
    ("POST", "/v1/proposals/apply", {"params": {"batch": "all"}}, 422, "batch"),
    ("POST", "/v1/proposals/apply", {"params": {"batch": HUGE}}, 422, "batch"),
    ("GET", "/v1/learning/metrics", {"params": {"days": -1}}, 422, "days"),
    ("GET", "/v1/learning/metrics", {"params": {"days": "week"}}, 422, "days"),
    ("GET", "/v1/learning/responses", {"params": {"days": 0}}, 422, "days"),
    # --- learning
    ("PATCH", "/v1/learning", {"json": {"policy": "magic"}}, 422, "policy"),
    ("PATCH", "/v1/learning", {"json": {"exploration": 2}}, 422, "exploration"),
    ("PATCH", "/v1/learning", {"json": {"rewards": "high"}}, 422, "rewards"),
    ("PATCH", "/v1/learning", {"json": {"rewards": {"clicked": "x"}}}, 422, "rewards.clicked"),
    ("PATCH", "/v1/learning", {"json": {"knob": 1}}, 422, "knob"),
    ("PATCH", "/v1/learning", {"json": {"rewards": {"bogus": 1}}}, 422, "rewards.bogus"),
    (
        "PATCH",
        "/v1/learning",
        _raw(b'{"rewards": {"clicked": Infinity}}'),
        422,
        "rewards.clicked: numbers must be finite",
    ),
    ("PATCH", "/v1/learning", {"json": {"segment_by": [NUL]}}, 422, _nul("segment_by.0")),
    ("PATCH", "/v1/learning", {"json": {"segment_by": list("abcdef")}}, 422, "segment_by"),
    ("PATCH", "/v1/learning", {"json": {"prior_strength": 0}}, 422, "prior_strength"),
    ("PATCH", "/v1/learning", {"json": ["bayes"]}, 422, NOT_AN_OBJECT),
    ("PATCH", "/v1/learning", _raw(b"{policy: bayes}"), 400, "not valid JSON"),
    ("GET", "/v1/learning/stats", {"params": {"limit": 0}}, 422, "limit"),
    ("GET", "/v1/learning/stats", {"params": {"dimension": NUL}}, 422, _nul("dimension")),
    ("GET", "/v1/learning/evaluate", {"params": {"policy": "magic"}}, 422, "policy"),
    ("GET", "/v1/learning/evaluate", {"params": {"policy": NUL}}, 422, _nul("policy")),
    ("GET", "/v1/learning/evaluate", {"params": {"limit": -1}}, 422, "limit"),
    ("POST", "/v1/learning/calibration", {"json": {"method": "magic"}}, 422, "method"),
    ("POST", "/v1/learning/calibration", {"json": {"bins": 3}}, 422, "bins"),
    ("POST", "/v1/learning/calibration", {}, 422, BODY + "Field required"),
    ("GET", "/v1/learning/reliability", {"params": {"bins": 1}}, 422, "bins"),
    ("GET", "/v1/learning/reliability", {"params": {"bins": "ten"}}, 422, "bins"),
    ("POST", "/v1/learning/threshold", {"json": {}}, 422, "precision: Field required"),
    ("POST", "/v1/learning/threshold", {"json": {"precision": "high"}}, 422, "precision"),
    ("POST", "/v1/learning/threshold", {"json": {"precision": 2, "apply": True}}, 422, "precision"),
    (
        "POST",
        "/v1/learning/threshold",
        _raw(b'{"precision": NaN, "apply": true}'),
        422,
        "precision",
    ),
    (
        "POST",
        "/v1/learning/threshold",
        {"json": {"precision": 0.9, "apply": "maybe"}},
        422,
        "apply",
    ),
    ("POST", "/v1/learning/experiments", {"json": {"variants": []}}, 422, "name"),
    (
        "POST",
        "/v1/learning/experiments",
        {"json": {"name": "no spaces", "variants": [{"name": "a"}, {"name": "b"}]}},
        422,
        "name",
    ),
    (
        "POST",
        "/v1/learning/experiments",
        {"json": {"name": "e", "variants": [{"name": "a"}]}},
        422,
        "variants",
    ),
    (
        "POST",
        "/v1/learning/experiments",
        {"json": {"name": "e", "variants": [{"name": "a"}, {"name": "a"}]}},
        422,
        "differ",
    ),
    (
        "POST",
        "/v1/learning/experiments",
        {"json": {"name": "e", "unit": "tenant", "variants": [{"name": "a"}, {"name": "b"}]}},
        422,
        "unit",
    ),
    (
        "POST",
        "/v1/learning/experiments",
        {"json": {"name": "e", "variants": [{"name": "a", "weight": -1}, {"name": "b"}]}},
        422,
        "variants.0.weight",
    ),
    (
        "POST",
        "/v1/learning/experiments",
        {"json": {"name": "e", "variants": [{"name": "a", "policy": "magic"}, {"name": "b"}]}},
        422,
        "variants.0.policy",
    ),
    (
        "POST",
        "/v1/learning/experiments",
        _raw(b'{"name": "e", "variants": [{"name": "a", "weight": 1e400}, {"name": "b"}]}'),
        422,
        "variants.0.weight: numbers must be finite",
    ),
    ("GET", "/v1/learning/experiments/none-such", {}, 404, "none-such"),
    ("GET", "/v1/learning/experiments/a%00b", {}, 422, _nul("name")),
    ("POST", "/v1/learning/experiments/none-such/stop", {}, 404, "none-such"),
    ("POST", "/v1/learning/experiments/a%00b/stop", {}, 422, _nul("name")),
    # --- analytics
    ("GET", "/v1/analytics/metrics", {"params": {"period": "month"}}, 422, "period"),
    ("GET", "/v1/analytics/metrics", {"params": {"since": "yesterday"}}, 422, "since"),
    ("GET", "/v1/analytics/metrics", {"params": {"since": "2026-13-01"}}, 422, "since"),
    (
        "GET",
        "/v1/analytics/metrics",
        {"params": {"since": "2026-11-20", "until": "2026-11-01"}},
        422,
        "since",
    ),
    ("GET", "/v1/analytics/metrics", {"params": {"policy": NUL}}, 422, _nul("policy")),
    ("GET", "/v1/analytics/metrics", {"params": {"segment": "s" * 201}}, 422, "segment"),
    ("GET", "/v1/analytics/funnel", {"params": {"until": "2026-02-30"}}, 422, "until"),
    ("GET", "/v1/analytics/strategies", {"params": {"strategy": NUL}}, 422, _nul("strategy")),
    ("GET", "/v1/analytics/policies", {"params": {"since": "-1"}}, 422, "since"),
    ("GET", "/v1/analytics/experiments", {"params": {"experiment": NUL}}, 422, _nul("experiment")),
    ("GET", "/v1/analytics/items", {"params": {"limit": 0}}, 422, "limit"),
    ("GET", "/v1/analytics/items", {"params": {"min_shown": -1}}, 422, "min_shown"),
    ("GET", "/v1/analytics/items", {"params": {"min_shown": HUGE}}, 422, "min_shown"),
    ("GET", "/v1/analytics/items", {"params": {"kind": NUL}}, 422, _nul("kind")),
    ("GET", "/v1/analytics/tools", {"params": {"min_runs": 0}}, 422, "min_runs"),
    ("GET", "/v1/analytics/playbooks", {"params": {"variant": NUL}}, 422, _nul("variant")),
    ("POST", "/v1/analytics/lifecycle/report", {"json": {"unused_days": 0}}, 422, "unused_days"),
    ("POST", "/v1/analytics/lifecycle/report", {"json": {"unused_days": HUGE}}, 422, "unused_days"),
    ("POST", "/v1/analytics/lifecycle/report", {"json": {"kinds": ["faq"]}}, 422, "kinds"),
    ("POST", "/v1/analytics/lifecycle/report", _raw(b""), 422, BODY + "Field required"),
    (
        "POST",
        "/v1/analytics/lifecycle/report",
        _raw(b'{"deprecate_below": NaN}'),
        422,
        "deprecate_below",
    ),
    (
        "POST",
        "/v1/analytics/lifecycle/apply",
        {"json": {"deprecate_below": 2}},
        422,
        "deprecate_below",
    ),
    (
        "POST",
        "/v1/analytics/lifecycle/apply",
        {"json": {"deprecate_below": 0.9, "promote_above": 0.1}},
        422,
        "promote_above",
    ),
    ("POST", "/v1/analytics/lifecycle/apply", {"json": {"min_runs": "many"}}, 422, "min_runs"),
    ("POST", "/v1/analytics/lifecycle/apply", {"json": {"rules": 1}}, 422, "rules"),
    ("POST", "/v1/analytics/refresh", {"params": {"full": "maybe"}}, 422, "full"),
    # --- context, answers, tools, playbooks
    ("POST", "/v1/context", {"json": {}}, 422, "query: Field required"),
    ("POST", "/v1/context", {"json": {"query": ""}}, 422, "query"),
    ("POST", "/v1/context", {"json": ["q"]}, 422, NOT_AN_OBJECT),
    ("POST", "/v1/context", {"json": {"query": 42}}, 422, "query"),
    ("POST", "/v1/context", {"json": {"query": NUL}}, 422, _nul("query")),
    ("POST", "/v1/context", {"json": {"query": "q", "token_budget": 10}}, 422, "token_budget"),
    ("POST", "/v1/context", {"json": {"query": "q", "k": HUGE}}, 422, "k"),
    ("POST", "/v1/context", {"json": {"query": "q", "kinds": ["poem"]}}, 422, "kinds.0"),
    ("POST", "/v1/context", {"json": {"query": "q", "account": ""}}, 422, "account"),
    ("POST", "/v1/context", {"json": {"query": "q", "tenant": "other"}}, 422, "tenant"),
    ("POST", "/v1/answer", {"json": {"query": "q", "max_tokens": 0}}, 422, "max_tokens"),
    (
        "POST",
        "/v1/answer",
        {"json": {"query": "q", "instructions": NUL}},
        422,
        _nul("instructions"),
    ),
    ("GET", "/v1/responses/not-a-uuid", {}, 422, "response_id"),
    ("GET", f"/v1/responses/{UUID0}", {}, 404, UUID0),
    ("POST", "/v1/tools/select", {"json": {"query": ""}}, 422, "query"),
    ("POST", "/v1/tools/select", {"json": {"query": "q", "candidates": 0}}, 422, "candidates"),
    ("POST", "/v1/tools/select", {"json": {"query": "q", "context": "x"}}, 422, "context"),
    (
        "POST",
        "/v1/tools/select",
        {"json": {"query": "q", "context": {NUL: 1}}},
        422,
        _nul("context"),
    ),
    ("POST", "/v1/tools/select", {"json": {"query": "q", "use_llm": "yes"}}, 422, "use_llm"),
    (
        "POST",
        "/v1/tools/select",
        _raw(b'{"query": "q", "context": {"x": NaN}}'),
        422,
        "context.x: numbers must be finite",
    ),
    ("GET", "/v1/tools/selections/123", {}, 422, "selection_id"),
    ("GET", f"/v1/tools/selections/{UUID0}", {}, 404, UUID0),
    ("POST", "/v1/playbooks/recommend", {"json": {}}, 422, "account: Field required"),
    ("POST", "/v1/playbooks/recommend", {"json": {"account": "A-9", "k": 0}}, 422, "k"),
    ("POST", "/v1/playbooks/recommend", {"json": {"account": NUL}}, 422, _nul("account")),
    (
        "POST",
        "/v1/playbooks/recommend",
        {"json": {"account": "A-9", "neighbours": -1}},
        422,
        "neighbours",
    ),
    ("POST", "/v1/playbooks/recommend", {"json": {"account": "nobody"}}, 404, "nobody"),
    # --- what the fuzzer found (issues 14 and 19): numbers a column, a sum or a timedelta
    # cannot hold, floats that underflow, lone surrogates, JSON nested too deep, odd ids
    (
        "POST",
        "/v1/executions",
        {"json": RUN | {"duration_ms": 6.4e307}},
        422,
        "duration_ms: numbers must be 0 or between 1e-30 and 1e+18 in size, not 6.4e+307",
    ),
    (
        "POST",
        "/v1/executions",
        {"json": RUN | {"duration_ms": 1e15}},
        422,
        "duration_ms: Input should be less than or equal to 31622400000",
    ),
    (
        "POST",
        "/v1/executions",
        {"json": RUN | {"tool_calls": [{"tool": "t", "success": True, "duration_ms": 1.7e308}]}},
        422,
        "tool_calls.0.duration_ms: numbers must be 0 or between",
    ),
    (
        "POST",
        "/v1/executions",
        {"json": RUN | {"tool_calls": [{"tool": "t", "success": True, "duration_ms": 1e12}]}},
        422,
        "tool_calls.0.duration_ms: Input should be less than or equal to",
    ),
    (
        "POST",
        "/v1/executions",
        _raw(b'{"goal": "\\ud800", "success": true, "duration_ms": 1}'),
        422,
        "goal: ",
    ),
    (
        "POST",
        "/v1/executions",
        _raw(
            b'{"goal": "g", "success": true, "duration_ms": 1, "metadata": {"note": "a\\udfffb"}}'
        ),
        422,
        "metadata.note: text must be valid Unicode, not a lone surrogate (\\udfff)",
    ),
    (
        "POST",
        "/v1/executions",
        {"json": RUN | {"metadata": {"n": -HUGE}}},
        422,
        "metadata.n: integers must be between -2**63 and 2**63 - 1",
    ),
    (
        "POST",
        "/v1/executions",
        _raw(b'{"goal": "g", "success": true, "duration_ms": 1, "metadata": {"a": ' + DEEP + b"}}"),
        422,
        "metadata.a.0...: JSON must not be nested more than 32 levels deep",
    ),
    ("POST", "/v1/executions", _raw(TOO_DEEP), 400, "nested too deep"),
    (
        "POST",
        "/v1/reports",
        {"json": REPORT | {"steps_total": 287648252882}},
        422,
        "steps_total: Input should be less than or equal to 2147483647",
    ),
    (
        "POST",
        "/v1/reports",
        {"json": REPORT | {"steps_completed": 2, "steps_total": HUGE}},
        422,
        "steps_total",
    ),
    ("POST", "/v1/reports", {"json": REPORT | {"playbook_item_id": HUGE}}, 422, "playbook_item_id"),
    (
        "POST",
        "/v1/reports",
        {"json": REPORT | {"outcomes": [{"metric": "m", "before": 1e300}]}},
        422,
        "outcomes.0.before: numbers must be 0 or between",
    ),
    # --- each field of the JSON type its schema names: no text for numbers or booleans,
    # no number of seconds for a date (pydantic's lax mode took them)
    (
        "POST",
        "/v1/recommend",
        {"json": {"query": "q", "k": "3"}},
        422,
        "k: Input should be a valid integer",
    ),
    (
        "POST",
        "/v1/recommend",
        {"json": {"query": "q", "dry_run": 1}},
        422,
        "dry_run: Input should be a valid boolean",
    ),
    (
        "POST",
        "/v1/proposals",
        {"json": {"body": "b", "confidence": "5"}},
        422,
        "confidence: Input should be a valid integer",
    ),
    (
        "POST",
        "/v1/tool-creations",
        {"json": {"tool": "t", "code": "c", "validation_passed": "false"}},
        422,
        "validation_passed: Input should be a valid boolean",
    ),
    (
        "POST",
        "/v1/transcripts",
        {"json": {"text": "hello", "duration_s": "3"}},
        422,
        "duration_s: Input should be a valid number",
    ),
    (
        "POST",
        "/v1/reports",
        {"json": REPORT | {"outcomes": [{"metric": "m", "after": "5"}]}},
        422,
        "outcomes.0.after: Input should be a valid number",
    ),
    (
        "POST",
        "/v1/reports",
        {"json": REPORT | {"started_at": 1764000000}},
        422,
        "started_at: Input should be a date and time as ISO 8601 text",
    ),
    (
        "GET",
        "/v1/analytics/metrics",
        {"params": {"until": "0"}},
        422,
        "until: Input should be a date as text, YYYY-MM-DD, not the text '0'",
    ),
    (
        "GET",
        "/v1/accounts/A-9/health",
        {"params": {"until": "0.5"}},
        422,
        "until: Input should be a date and time as ISO 8601 text",
    ),
    (
        "PATCH",
        "/v1/learning",
        {"json": {"memory": {"neighbours": "40"}}},
        422,
        "memory.neighbours: Input should be a valid integer",
    ),
    (
        "PUT",
        "/v1/tenant/settings",
        {"json": {"confidence_threshold": 2}},
        422,
        "confidence_threshold",
    ),
    ("POST", "/v1/transcripts", {"json": {"text": "hello", "duration_s": 1e20}}, 422, "duration_s"),
    ("POST", "/v1/learning/threshold", {"json": {"precision": 1e-300}}, 422, "precision"),
    ("POST", "/v1/context", {"json": {"query": "q", "token_budget": 10**12}}, 422, "token_budget"),
    ("POST", "/v1/context", {"json": {"query": "q", "token_budget": HUGE}}, 422, "token_budget"),
    ("POST", "/v1/answer", {"json": {"query": "q", "max_tokens": 10**12}}, 422, "max_tokens"),
    ("POST", "/v1/answer", {"json": {"query": "q", "token_budget": HUGE}}, 422, "token_budget"),
    (
        "POST",
        "/v1/recommend",
        _raw(b'{"query": "q", "context": {"x": "\\ud800"}}'),
        422,
        "context.x: text must be valid Unicode, not a lone surrogate (\\ud800)",
    ),
    ("POST", "/v1/recommend", _raw(b'{"query": "q", "context": {"\\ud800": 1}}'), 422, "context"),
    (
        "POST",
        "/v1/recommend",
        {"json": {"query": "q", "context": {"x": 10**30}}},
        422,
        "context.x: integers must be between",
    ),
    (
        "POST",
        "/v1/recommend",
        {"json": {"query": "q", "context": {"x": [[1e308]]}}},
        422,
        "context.x.0.0: numbers must be 0 or between",
    ),
    (
        "POST",
        "/v1/recommend",
        {"json": {"query": "q", "context": {"user": 5}}},
        422,
        "context.user",
    ),
    (
        "POST",
        "/v1/beacon",
        {"content": b'{"events": ' + TOO_DEEP + b"}"},
        422,
        "the beacon body is JSON nested too deep",
    ),
    (
        "POST",
        "/v1/beacon",
        {"content": b'{"events": [{"metadata": ' + DEEP + b"}]}"},
        422,
        "events.0.metadata...: JSON must not be nested more than 32 levels deep",
    ),
    (
        "POST",
        "/v1/beacon",
        {"content": b'{"events": [{"type": "\\ud800"}]}'},
        422,
        "events.0.type: text must be valid Unicode",
    ),
    ("GET", "/v1/imports", {"params": {"cursor": -HUGE}}, 422, "cursor"),
    ("GET", "/v1/imports", {"params": {"cursor": 0}}, 422, "cursor"),
    ("GET", "/v1/learning/experiments/6L", {}, 404, "no experiment '6L'"),
    ("POST", "/v1/learning/experiments/6L/stop", {}, 404, "6L"),
    ("GET", "/v1/items/6L", {}, 422, "item_id"),
    ("GET", "/v1/items/{item}/versions/99999999999", {}, 404, "no version 99999999999"),
    ("GET", "/v1/items/{item}/versions/6L", {}, 422, "version"),
    ("GET", "/v1/proposals/6L", {}, 422, "proposal_id"),
    ("GET", "/v1/analytics/tools", {"params": {"min_runs": HUGE}}, 422, "min_runs"),
]


def _id(case: tuple[str, str, dict[str, Any], int, str]) -> str:
    method, path, kwargs, _, expected = case
    return f"{method} {path} {sorted(kwargs)} {expected}"


@dataclass
class Stored:
    """A tenant with an item, an import (with its account) and a pending proposal."""

    client: TestClient
    headers: dict[str, str]
    ids: dict[str, int]
    before: dict[str, Any] = field(default_factory=dict)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**kwargs.pop("headers", {}), **self.headers}
        return self.client.request(method, path.format(**self.ids), headers=headers, **kwargs)

    def snapshot(self) -> dict[str, Any]:
        """What must not change (a refused import is recorded as failed, so the list of
        imports grows by design; the stored import itself must not change)."""
        item, imported, proposal = self.ids["item"], self.ids["import"], self.ids["proposal"]
        paths = [
            f"/v1/items/{item}",
            f"/v1/items/{item}/versions",
            f"/v1/imports/{imported}",
            f"/v1/proposals/{proposal}",
            f"/v1/proposals/{proposal}/audit",
            "/v1/accounts",
            "/v1/items",
            "/v1/learning",
            "/v1/proposals/settings",
            "/v1/learning/experiments",
            "/v1/imports/mappings",
        ]
        state = {}
        for path in paths:
            response = self.request("GET", path)
            assert response.status_code == 200, (path, response.text)
            state[path] = response.json()
        return state


def _store(client: TestClient, headers: dict[str, str]) -> Stored:
    stored = Stored(client, headers, {})
    item = stored.request(
        "POST",
        "/v1/items",
        json={
            "kind": "runbook",
            "title": "Disk full",
            "body": "Remove old logs.",
            "tags": ["disk"],
        },
    )
    assert item.status_code == 201, item.text
    imported = stored.request("POST", "/v1/imports", **_upload("accounts.csv", ACCOUNTS_CSV))
    assert imported.status_code == 201, imported.text
    item_id = item.json()["item"]["item_id"]
    proposal = stored.request(
        "POST", "/v1/proposals", json={"item_id": item_id, "body": "Rotate logs."}
    )
    assert proposal.status_code == 201, proposal.text
    stored.ids = {
        "item": item_id,
        "import": imported.json()["import_id"],
        "proposal": proposal.json()["proposal_id"],
    }
    stored.before = stored.snapshot()
    return stored


@pytest.fixture(scope="module")
def stored(app_client: TestClient, ll: LearnLoop) -> Stored:
    """One tenant for every bad request of the table: each is refused, so its data never
    changes, and each case checks that against the snapshot taken once."""
    tenant = ll.tenants.create(f"bad-{uuid.uuid4().hex[:12]}").tenant_id
    return _store(app_client, {"Authorization": f"Bearer {ll.keys.create(tenant).key}"})


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_bad_input_gets_a_clear_4xx_and_changes_nothing(
    stored: Stored, case: tuple[str, str, dict[str, Any], int, str]
) -> None:
    method, path, kwargs, status, expected = case
    response = stored.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"} and error["code"] in CODES[status], error
    assert expected in error["message"], error["message"]
    assert stored.snapshot() == stored.before


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/v1/imports", "GET, POST"),
    ("POST", "/v1/items/1", "GET, PATCH, DELETE"),
    ("GET", "/v1/beacon", "POST"),
    ("DELETE", "/v1/tenant/settings", "PUT"),
    # a path named as it is takes only its own methods, not a template's beside it
    ("DELETE", "/v1/keys/current", "GET"),
    ("OPTIONS", "/v1/keys/current", "GET"),
    ("PATCH", "/v1/proposals/settings", "GET, PUT"),
    ("PATCH", "/v1/proposals/apply", "POST"),
    ("GET", "/v1/imports/log", "POST"),
    # the most specific template: a conversation id may hold a slash
    ("OPTIONS", "/v1/conversations/support/42/messages", "POST"),
    ("OPTIONS", "/v1/conversations/support/42", "GET"),
])  # fmt: skip
def test_a_method_a_path_does_not_take_gets_405_with_allow(
    api: TestClient, method: str, path: str, allowed: str
) -> None:
    response = api.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allowed
    assert response.json()["error"]["message"] == f"{method} is not allowed here; use {allowed}"


def test_numbers_too_small_to_matter_are_read_as_zero(api: TestClient) -> None:
    """Below 1e-30 in size a number is 0 to every computation here: it is read as 0, where
    it once was refused (and before that underflowed a sum into a 500)."""
    settings = api.put("/v1/tenant/settings", json={"confidence_threshold": 1.1e-274})
    assert settings.status_code == 200, settings.text
    assert settings.json() == {"confidence_threshold": 0.0}
    run = api.post("/v1/executions", json=RUN | {"duration_ms": 5e-324, "metadata": {"x": 1e-300}})
    assert run.status_code == 201, run.text
    # a field that must be above 0 takes at least 1e-30, as the schema says
    refused = api.post("/v1/learning/threshold", json={"precision": 1e-31})
    assert refused.status_code == 422
    assert "precision: Input should be greater than 0" in refused.json()["error"]["message"]


def test_integers_written_with_a_point_are_integers(api: TestClient) -> None:
    """JSON Schema counts 3.0 as an integer, so the API does; 3.5 is not one."""
    answer = api.post("/v1/recommend", json={"query": "q", "k": 3.0, "dry_run": True})
    assert answer.status_code == 200, answer.text
    refused = api.post("/v1/recommend", json={"query": "q", "k": 3.5, "dry_run": True})
    assert refused.status_code == 422
    assert "k: Input should be a valid integer" in refused.json()["error"]["message"]


@pytest.mark.parametrize("query", [{"experiment": "6L"}, {"variant": "6L"}, {"policy": "6L"}])
def test_analytics_answer_odd_filters_with_nothing_found(
    api: TestClient, query: dict[str, str]
) -> None:
    for path in ("/v1/analytics/tools", "/v1/analytics/metrics", "/v1/analytics/experiments"):
        response = api.get(path, params=query)
        assert response.status_code == 200, (path, response.text)


def test_the_longest_tool_call_allowed_never_breaks_the_tools_report(api: TestClient) -> None:
    """Issue 19: a 1.7e308 ms tool call was stored and /v1/analytics/tools answered 500 from
    then on. It is refused now; the longest duration allowed, many times, still sums."""
    longest = MAX_DURATION_MS
    call = {"tool": "slow-tool", "success": True, "duration_ms": longest}
    for _ in range(5):
        stored = api.post("/v1/executions", json=RUN | {"tool_calls": [call] * 50})
        assert stored.status_code == 201, stored.text
    refused = api.post("/v1/executions", json=RUN | {"tool_calls": [
        call | {"duration_ms": 1.7e308}]})  # fmt: skip
    assert refused.status_code == 422
    assert "tool_calls.0.duration_ms: numbers" in refused.json()["error"]["message"]
    assert api.post("/v1/analytics/refresh", params={"full": True}).status_code == 200
    report = api.get("/v1/analytics/tools", params={"min_runs": 1})
    assert report.status_code == 200, report.text
    (tool,) = report.json()["tools"]
    assert tool["tool"] == "slow-tool" and tool["executions"] == 250


def test_a_csv_with_a_nul_byte_imports_without_it(api: TestClient) -> None:
    stored = _store(api, {})
    data = b"question,answer\nWhy\x00 is the disk full?,Old logs\x00.\n"
    response = api.post("/v1/imports", **_upload("nul.csv", data))
    assert response.status_code == 201, response.text
    assert response.json()["counts"]["created"] == 1
    titles = {i["title"]: i["body"] for i in api.get("/v1/items").json()["items"]}
    assert titles["Why is the disk full?"] == "Old logs."
    after = stored.snapshot()
    assert after.pop("/v1/items") != stored.before.pop("/v1/items")
    assert after == stored.before


def test_index_status_ignores_junk_parameters(api: TestClient) -> None:
    items = len(_store(api, {}).before["/v1/items"]["items"])
    response = api.get("/v1/index/status", params={"limit": -1, "since": "x", "q": "z"})
    assert response.status_code == 200, response.text
    assert response.json()["items"] == items > 0
    refused = api.get("/v1/index/status", params={"q": NUL})
    assert refused.status_code == 422
    assert _nul("q") in refused.json()["error"]["message"]

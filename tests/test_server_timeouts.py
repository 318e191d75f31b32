"""The served API's timeouts and limits (issue 19): a silent connection is closed, a slow body
is cut with 408, an idle keep-alive connection is closed, and a chunked body over the limit
is a 413, as documented; the server keeps answering meanwhile."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from learnloop.api import create_app
from learnloop.api.server import config
from learnloop.service import LearnLoop
from tests.conftest import free_port, running

TIMEOUTS = {"request_header_timeout_seconds": 1.0, "request_body_timeout_seconds": 1.0,
            "keep_alive_seconds": 1.0}  # fmt: skip


@pytest.fixture(scope="module")
def served(ll: LearnLoop) -> Iterator[tuple[str, int]]:
    """The real API served with short timeouts on a free loopback port."""
    settings = ll.settings.model_copy(update=TIMEOUTS)
    port = free_port()
    server = uvicorn.Server(
        config(create_app(ll, settings), settings, host="127.0.0.1", port=port, log_level="warning")
    )
    with running(server):
        yield "127.0.0.1", port


def _closed_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sends before it closes ``sock``; fails if it is still open."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"still open after {seconds} s; received {received[:200]!r}")
    return received


def _key(ll: LearnLoop) -> str:
    tenant = ll.tenants.create(f"t-timeouts-{time.monotonic_ns()}").tenant_id
    return ll.keys.create(tenant, "test").key


def test_a_connection_that_sends_nothing_is_closed(served: tuple[str, int]) -> None:
    silent = [socket.create_connection(served) for _ in range(20)]
    half = socket.create_connection(served)
    half.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the rest of the head
    start = time.monotonic()
    for sock in [*silent, half]:
        with sock:
            assert _closed_within(sock, 5.0) == b""
    assert time.monotonic() - start < 5.0
    assert httpx.get(f"http://{served[0]}:{served[1]}/health").status_code == 200


def test_an_idle_keep_alive_connection_is_closed(served: tuple[str, int]) -> None:
    with socket.create_connection(served) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _closed_within(sock, 5.0)
    assert answer.startswith(b"HTTP/1.1 200")


def test_a_slow_body_is_cut_with_408(served: tuple[str, int], ll: LearnLoop) -> None:
    head = (
        "POST /v1/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {_key(ll)}\r\nContent-Length: 100\r\n\r\n"
    )
    with socket.create_connection(served) as sock:
        sock.sendall(head.encode())
        start = time.monotonic()
        for byte in b'{"kind": ':  # a byte every 0.3 s: each in time, the whole not
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break  # closed on us: the answer is waiting
            time.sleep(0.3)
        answer = _closed_within(sock, 5.0)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert time.monotonic() - start < 4.0
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "request_timeout"


def test_a_chunked_body_over_the_limit_is_413(served: tuple[str, int], ll: LearnLoop) -> None:
    chunk = b"[" + b'"x", ' * (1024 * 1024 // 5)
    size = 0

    def chunks() -> Iterator[bytes]:
        nonlocal size
        for _ in range(6):  # 6 MB, no Content-Length
            size += len(chunk)
            yield chunk

    answer = httpx.post(
        f"http://{served[0]}:{served[1]}/v1/items",
        content=chunks(),
        headers={"Authorization": f"Bearer {_key(ll)}", "content-type": "application/json"},
    )
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["code"] == "body_too_large"
    assert "5 MB limit" in answer.json()["error"]["message"]

"""A local HTTP server that speaks the OpenAI embeddings API, for testing OpenAIEmbedder.

``POST /v1/embeddings`` takes ``{"model", "input", "dimensions"?, "encoding_format"?}`` and
answers the way api.openai.com does. The vectors are a deterministic hashed bag of words,
deliberately *not* unit length, and the ``data`` entries come back in a shuffled order of
``index``, so a client must normalise and re-order them itself.

A test can make the server misbehave with :meth:`FakeOpenAI.fail`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

DEFAULT_DIMENSIONS = 8
MAX_DIMENSIONS = 3072
WORD = re.compile(r"[a-z0-9]+")

Failure = Literal["500", "malformed_json", "wrong_count", "wrong_dimension", "no_data"]


def raw_vector(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The vector the server sends for ``text``: a hashed bag of words, not normalised.

    Every word adds 1.5 to one coordinate (chosen by its hash) with a sign also from the
    hash; a constant 0.25 is added everywhere so no text maps to the zero vector.
    """
    vector = [0.25] * dimensions
    for word in WORD.findall(text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        slot = int.from_bytes(digest[:4], "big") % dimensions
        sign = 1.0 if digest[4] % 2 else -1.0
        vector[slot] += 1.5 * sign
    return vector


def count_tokens(text: str) -> int:
    return max(1, len(WORD.findall(text.lower())))


@dataclass
class Recorded:
    """One request the server received."""

    path: str
    authorization: str | None
    body: dict[str, Any] | None


@dataclass
class FakeOpenAI:
    """The server's state: the key it accepts, what it received, and how it should fail."""

    api_key: str
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    failure: Failure | None = None
    response_orders: list[list[int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        """What an OpenAI client is configured with (the API root, ending in /v1)."""
        return f"{self.url}/v1"

    def fail(self, failure: Failure | None) -> None:
        """Misbehave on every request from now on (``None``: behave again)."""
        self.failure = failure

    def embedding_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the authorised embeddings requests, in arrival order."""
        with self._lock:
            return [
                r.body
                for r in self.requests
                if r.body is not None and r.authorization == f"Bearer {self.api_key}"
            ]

    def record(self, entry: Recorded) -> None:
        with self._lock:
            self.requests.append(entry)


def _error(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _shuffled(n: int, seed: str) -> list[int]:
    """A permutation of range(n), never the identity when n > 1."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    if n > 1 and order == sorted(order):
        order.reverse()
    return order


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # an idle keep-alive connection is dropped, so shutdown never hangs
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: dict[str, Any] | bytes) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_json(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def do_GET(self) -> None:
        self.server.state.record(Recorded(self.path, self.headers.get("Authorization"), None))
        self._send(404, _error(f"Unknown request URL: GET {self.path}.", "invalid_request_error"))

    def do_POST(self) -> None:
        state = self.server.state
        body = self._read_json()
        state.record(Recorded(self.path, self.headers.get("Authorization"), body))
        if self.path != "/v1/embeddings":
            self._send(
                404, _error(f"Unknown request URL: POST {self.path}.", "invalid_request_error")
            )
            return
        auth = self.headers.get("Authorization")
        if auth is None:
            self._send(
                401,
                _error(
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    "invalid_request_error",
                ),
            )
            return
        if auth != f"Bearer {state.api_key}":
            given = auth.removeprefix("Bearer ")
            self._send(
                401,
                _error(
                    f"Incorrect API key provided: {given[:3]}***{given[-4:]}.",
                    "invalid_request_error",
                    "invalid_api_key",
                ),
            )
            return
        if body is None:
            self._send(
                400,
                _error(
                    "We could not parse the JSON body of your request.", "invalid_request_error"
                ),
            )
            return
        self._embeddings(body, state.failure)

    def _embeddings(self, body: dict[str, Any], failure: Failure | None) -> None:
        model = body.get("model")
        texts = body.get("input")
        dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
        encoding = body.get("encoding_format", "float")
        if not isinstance(model, str) or not model:
            self._send(400, _error("you must provide a model parameter", "invalid_request_error"))
            return
        if isinstance(texts, str):
            texts = [texts]
        if (
            not isinstance(texts, list)
            or not texts
            or not all(isinstance(t, str) and t for t in texts)
        ):
            self._send(
                400,
                _error(
                    "'input' must be a non-empty string or array of strings",
                    "invalid_request_error",
                ),
            )
            return
        if not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_DIMENSIONS:
            self._send(
                400, _error(f"Invalid 'dimensions': {dimensions!r}", "invalid_request_error")
            )
            return
        if encoding not in ("float", "base64"):
            self._send(
                400, _error(f"Invalid 'encoding_format': {encoding!r}", "invalid_request_error")
            )
            return

        if failure == "500":
            self._send(
                500,
                _error(
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                ),
            )
            return
        if failure == "malformed_json":
            self._send(200, b'{"object": "list", "data": [{"object": "embedding", "ind')
            return

        if failure == "wrong_dimension":
            dimensions += 1
        vectors = [raw_vector(text, dimensions) for text in texts]
        if failure == "wrong_count":
            vectors = vectors[:-1] if len(vectors) > 1 else [*vectors, vectors[0]]
        order = _shuffled(len(vectors), "\x00".join(texts))
        self.server.state.response_orders.append(order)
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": _encode(vectors[i], encoding),
            }
            for i in order
        ]
        tokens = sum(count_tokens(t) for t in texts)
        answer: dict[str, Any] = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        if failure == "no_data":
            del answer["data"]
        self._send(200, answer)


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads
    block_on_close = True

    def __init__(self, state: FakeOpenAI) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class RunningServer:
    """The server on a free port of 127.0.0.1, serving from a background thread."""

    def __init__(self, api_key: str) -> None:
        self.state = FakeOpenAI(api_key=api_key)
        self._server = _Server(self.state)
        host, port = self._server.server_address[:2]
        self.state.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self.state

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

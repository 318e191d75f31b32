"""Local HTTP servers that speak the OpenAI chat completions and the Anthropic messages APIs.

``POST /v1/chat/completions`` (OpenAI: ``Authorization: Bearer KEY``) and ``POST /v1/messages``
(Anthropic: ``x-api-key: KEY`` or a bearer token, and an ``anthropic-version`` header) answer
the way the real services do, with the text :attr:`FakeLLM.reply` gives (a fixed string, or a
function of the request). Both refuse what the real services refuse: a wrong key (401), a
missing model or max_tokens (400), and, on the Anthropic side, a message with role ``system``
(400): its system prompt belongs in the top-level ``system`` parameter.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | Callable[[dict[str, Any]], str]


@dataclass
class FakeLLM:
    api_key: str
    reply: Reply = "An answer."
    url: str = ""
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [body for p, body in self.requests if p == path]

    def text_for(self, body: dict[str, Any]) -> str:
        return self.reply(body) if callable(self.reply) else self.reply


def _words(value: Any) -> int:
    return len(json.dumps(value).split())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            body = None
        state = self.server.state
        with state._lock:
            state.requests.append((self.path, body if isinstance(body, dict) else {}))
        if self.path == "/v1/chat/completions":
            self._openai(state, body)
        elif self.path == "/v1/messages":
            self._anthropic(state, body)
        else:
            self._send(404, {"error": {"message": f"Unknown request URL: POST {self.path}."}})

    def _openai(self, state: FakeLLM, body: Any) -> None:
        def error(status: int, message: str) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error",
                                          "param": None, "code": None}})  # fmt: skip

        if self.headers.get("Authorization") != f"Bearer {state.api_key}":
            return error(401, "Incorrect API key provided.")
        if not isinstance(body, dict) or not body.get("model"):
            return error(400, "you must provide a model parameter")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return error(400, "'messages' must be a non-empty array")
        text = state.text_for(body)
        self._send(200, {
            "id": "chatcmpl-local", "object": "chat.completion", "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": text, "refusal": None}}],
            "usage": {"prompt_tokens": _words(messages), "completion_tokens": len(text.split()),
                      "total_tokens": _words(messages) + len(text.split())},
        })  # fmt: skip
        return None

    def _anthropic(self, state: FakeLLM, body: Any) -> None:
        def error(status: int, kind: str, message: str) -> None:
            self._send(status, {"type": "error", "error": {"type": kind, "message": message}})

        keys = (self.headers.get("x-api-key"), self.headers.get("Authorization"))
        if state.api_key not in keys and f"Bearer {state.api_key}" not in keys:
            return error(401, "authentication_error", "invalid x-api-key")
        if not self.headers.get("anthropic-version"):
            return error(400, "invalid_request_error", "anthropic-version: header is required")
        if not isinstance(body, dict) or not body.get("model"):
            return error(400, "invalid_request_error", "model: Field required")
        if not isinstance(body.get("max_tokens"), int):
            return error(400, "invalid_request_error", "max_tokens: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return error(400, "invalid_request_error", "messages: at least one message is required")
        for n, message in enumerate(messages):
            if message.get("role") not in ("user", "assistant"):
                return error(
                    400,
                    "invalid_request_error",
                    f"messages.{n}.role: Input should be 'user' or 'assistant'; put a system "
                    "prompt in the top-level system parameter",
                )
        text = state.text_for(body)
        self._send(200, {
            "id": "msg_local", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": _words(messages) + _words(body.get("system", "")),
                      "output_tokens": len(text.split())},
        })  # fmt: skip
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, state: FakeLLM) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class RunningLLM:
    """Both APIs on a free port of 127.0.0.1, served from a background thread."""

    def __init__(self, api_key: str = "sk-local-test") -> None:
        self.state = FakeLLM(api_key=api_key)
        self._server = _Server(self.state)
        host, port = self._server.server_address[:2]
        self.state.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self.state

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

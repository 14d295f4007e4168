"""A small fake of the Gemini API's ``generateContent`` endpoint, on 127.0.0.1 (no network).

It answers ``POST /{version}/models/{model}:generateContent`` from a script of steps, one step per
request, with the real reply shape (``candidates[0].content.parts[0].text``, ``finishReason``,
``usageMetadata``, ``modelVersion``, ``responseId``) or the real error shape
(``{"error": {"code", "message", "status"}}``). It is used to record the vcrpy cassettes under
``tests/cassettes/gemini`` and, live, for the client-side timeout test. It never checks the key
beyond its presence, and never echoes it.

Steps::

    reply(text)              200 with ``text`` as the model's output
    error(429 | 503 | 504)   the API's error body for that status
    hang(seconds)            sleep before answering 200 (the client should time out first)
    blocked(reason)          200 with no candidates and ``promptFeedback.blockReason``
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    429: ("RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing "
                                "details."),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report in "
                      "https://developers.generativeai.google/guide/troubleshooting"),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}


@dataclass
class Step:
    kind: str  # "reply" | "error" | "hang"
    text: str = ""
    status: int = 200
    seconds: float = 0.0
    finish_reason: str = "STOP"


def reply(text: str, finish_reason: str = "STOP") -> Step:
    return Step("reply", text=text, finish_reason=finish_reason)


def error(status: int) -> Step:
    return Step("error", status=status)


def hang(seconds: float, text: str = "{}") -> Step:
    return Step("hang", seconds=seconds, text=text)


def blocked(reason: str = "SAFETY") -> Step:
    return Step("blocked", text=reason)


def reply_body(text: str, model: str, finish_reason: str = "STOP", prompt_chars: int = 0) -> dict[str, Any]:
    """The ``generateContent`` reply shape of the Gemini API (v1beta)."""
    prompt_tokens = max(1, prompt_chars // 4)
    out_tokens = max(1, len(text) // 4)
    thoughts = 128
    return {
        "candidates": [{
            "content": {"parts": [{"text": text}], "role": "model"},
            "finishReason": finish_reason,
            "index": 0,
        }],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": out_tokens,
            "totalTokenCount": prompt_tokens + out_tokens + thoughts,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
            "thoughtsTokenCount": thoughts,
        },
        "modelVersion": model,
        "responseId": uuid.uuid4().hex[:22],
    }


def error_body(status: int) -> dict[str, Any]:
    name, message = ERRORS.get(status, ("UNKNOWN", "error"))
    body: dict[str, Any] = {"error": {"code": status, "message": message, "status": name}}
    if status == 429:
        body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]
    return body


@dataclass
class FakeGemini:
    """``with FakeGemini([steps]) as fake:`` serves on ``fake.base_url`` until the block ends."""

    steps: list[Step] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *steps: Step) -> None:
        with self._lock:
            self.steps.extend(steps)

    def _next(self) -> Step | None:
        with self._lock:
            return self.steps.pop(0) if self.steps else None

    def __enter__(self) -> FakeGemini:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return None

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Fake-Gemini", "1")
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                if not path.endswith(":generateContent") or "/models/" not in path:
                    self._send(404, {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}})
                    return
                if not (self.headers.get("x-goog-api-key") or "key=" in self.path):
                    msg = "Method doesn't allow unregistered callers. Please use an API key."
                    self._send(403, {"error": {"code": 403, "message": msg, "status": "PERMISSION_DENIED"}})
                    return
                model = path.rsplit("/models/", 1)[1].split(":", 1)[0]
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                fake.requests.append({"path": path, "body": body})
                step = fake._next()
                if step is None:
                    self._send(500, error_body(500))
                    return
                if step.kind == "error":
                    self._send(step.status, error_body(step.status))
                    return
                if step.kind == "blocked":
                    body = reply_body("", model, prompt_chars=len(raw))
                    del body["candidates"]
                    body["promptFeedback"] = {"blockReason": step.text}
                    self._send(200, body)
                    return
                if step.kind == "hang":
                    time.sleep(step.seconds)
                self._send(200, reply_body(step.text, model, step.finish_reason, prompt_chars=len(raw)))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-gemini", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

"""A small fake of the Gemini API's ``generateContent`` endpoint, on 127.0.0.1 (no network).

It answers ``POST /{version}/models/{model}:generateContent`` from a script of steps, one step per
request, with the real reply shape (``candidates[0].content.parts[0].text``, ``finishReason``,
``usageMetadata``, ``modelVersion``, ``responseId``) or the real error shape
(``{"error": {"code", "message", "status"}}``). It is used to record the vcrpy cassettes under
``tests/cassettes/gemini`` and, live, for the client-side timeout test. It never checks the key
beyond its presence, and never echoes it.

It is as strict as the live API on what the public record shows the API rejecting, and answers
each with 400 INVALID_ARGUMENT in the API's shape (``message`` lines "Invalid JSON payload
received. Unknown name ... Cannot find field." and a ``google.rpc.BadRequest`` with
``fieldViolations``), before any scripted step is used:

* an unknown field in the request, in ``generationConfig`` or in a ``responseSchema`` (the API's
  OpenAPI ``Schema`` message: ``additional_properties`` / ``additionalProperties`` there are the
  live API's 400 of googleapis/python-genai #1815);
* ``responseSchema`` and ``responseJsonSchema`` both set;
* a response schema without ``responseMimeType: application/json``;
* a ``responseJsonSchema`` keyword outside the list the API documents for it.

Steps::

    reply(text)              200 with ``text`` as the model's output
    error(429 | 503 | 504)   the API's error body for that status
    hang(seconds)            sleep before answering 200 (the client should time out first)
    trickle(text, n, s)      a 200 reply sent in ``n`` pieces ``s`` seconds apart (each read is quick,
                             the whole reply is slow: only a per-call deadline stops it)
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


#: the fields of a generateContent request (v1beta), as JSON names; the API also takes the proto names
REQUEST_FIELDS = {"contents", "tools", "toolConfig", "safetySettings", "systemInstruction", "generationConfig",
                  "cachedContent", "model"}
#: v1beta GenerationConfig
GENERATION_CONFIG_FIELDS = {
    "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "_responseJsonSchema",
    "responseModalities", "candidateCount", "maxOutputTokens", "temperature", "topP", "topK", "seed",
    "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers",
    "speechConfig", "thinkingConfig", "imageConfig", "mediaResolution", "routingConfig",
}
#: the API's OpenAPI-subset Schema message (what ``responseSchema`` may hold)
SCHEMA_FIELDS = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
                 "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
                 "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum"}
#: the JSON Schema keywords the API documents for ``responseJsonSchema``
JSON_SCHEMA_KEYWORDS = {"$id", "$defs", "$ref", "$anchor", "type", "format", "title", "description", "enum",
                        "items", "prefixItems", "minItems", "maxItems", "minimum", "maximum", "anyOf", "oneOf",
                        "properties", "additionalProperties", "required", "propertyOrdering"}


def _camel(name: str) -> str:
    """The proto JSON mapping accepts both names: ``property_ordering`` is ``propertyOrdering``."""
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _unknown(name: str, where: str) -> str:
    return f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field."


def _schema_violations(schema: Any, where: str) -> list[tuple[str, str]]:
    """(field path, message) for every unknown name in a ``responseSchema`` (recursively)."""
    if not isinstance(schema, dict):
        return []
    out = [(where, _unknown(k, where)) for k in schema if _camel(k) not in SCHEMA_FIELDS]
    for k, v in schema.items():
        key = _camel(k)
        if key == "properties" and isinstance(v, dict):
            for i, sub in enumerate(v.values()):
                out += _schema_violations(sub, f"{where}.properties[{i}].value")
        elif key == "items":
            out += _schema_violations(v, f"{where}.items")
        elif key == "anyOf" and isinstance(v, list):
            for i, sub in enumerate(v):
                out += _schema_violations(sub, f"{where}.any_of[{i}]")
    return out


def _json_schema_violations(schema: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(schema, dict):
        return [] if isinstance(schema, bool) else [(where, f"{where} must be a JSON Schema object")]
    out = [(where, f"Unsupported JSON Schema keyword \"{k}\" at '{where}'.") for k in schema
           if k not in JSON_SCHEMA_KEYWORDS]
    for k, v in schema.items():
        if k in ("properties", "$defs") and isinstance(v, dict):
            for name, sub in v.items():
                out += _json_schema_violations(sub, f"{where}.{k}.{name}")
        elif k in ("items", "additionalProperties") and isinstance(v, dict):
            out += _json_schema_violations(v, f"{where}.{k}")
        elif k in ("anyOf", "oneOf", "prefixItems") and isinstance(v, list):
            for i, sub in enumerate(v):
                out += _json_schema_violations(sub, f"{where}.{k}[{i}]")
    enum = schema.get("enum")
    if enum is not None and (not isinstance(enum, list) or not enum):
        out.append((where, f"enum at '{where}' must be a non-empty list"))
    return out


def request_violations(body: Any) -> list[tuple[str, str]]:
    """What the live API would answer 400 INVALID_ARGUMENT for in this request body ([] if none)."""
    if not isinstance(body, dict):
        return [("", "Invalid JSON payload received. Expected an object.")]
    out = [(_camel(k), _unknown(k, "")) for k in body if _camel(k) not in REQUEST_FIELDS]
    gen = body.get("generationConfig", body.get("generation_config"))
    if gen is None:
        return out
    if not isinstance(gen, dict):
        return out + [("generation_config", "Invalid value at 'generation_config'")]
    out += [("generation_config", _unknown(k, "generation_config")) for k in gen
            if _camel(k) not in GENERATION_CONFIG_FIELDS]
    names = {_camel(k): v for k, v in gen.items()}
    schema, json_schema = names.get("responseSchema"), names.get("responseJsonSchema")
    if schema is not None:
        out += _schema_violations(schema, "generation_config.response_schema")
    if json_schema is not None:
        out += _json_schema_violations(json_schema, "generation_config.response_json_schema")
    if schema is not None and json_schema is not None:
        out.append(("generation_config", "response_schema and response_json_schema are mutually exclusive: "
                                         "set only one of them."))
    if (schema is not None or json_schema is not None) and names.get("responseMimeType") != "application/json":
        out.append(("generation_config.response_mime_type",
                    "A response schema requires response_mime_type 'application/json'."))
    return out


def invalid_argument_body(violations: list[tuple[str, str]]) -> dict[str, Any]:
    """The API's 400 body: the messages joined by newlines, and a BadRequest with fieldViolations."""
    return {"error": {
        "code": 400, "status": "INVALID_ARGUMENT", "message": "\n".join(m for _, m in violations),
        "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                     "fieldViolations": [{"field": f, "description": m} for f, m in violations]}],
    }}


@dataclass
class Step:
    kind: str  # "reply" | "error" | "hang" | "trickle" | "blocked"
    text: str = ""
    status: int = 200
    seconds: float = 0.0
    finish_reason: str = "STOP"
    pieces: int = 1


def reply(text: str, finish_reason: str = "STOP") -> Step:
    return Step("reply", text=text, finish_reason=finish_reason)


def error(status: int) -> Step:
    return Step("error", status=status)


def hang(seconds: float, text: str = "{}") -> Step:
    return Step("hang", seconds=seconds, text=text)


def trickle(text: str, pieces: int, seconds: float) -> Step:
    return Step("trickle", text=text, pieces=pieces, seconds=seconds)


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
    rejected: list[dict[str, Any]] = field(default_factory=list)  # the 400 bodies sent for invalid requests
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

            def _send(self, status: int, body: dict[str, Any], pieces: int = 1, gap_s: float = 0.0) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Fake-Gemini", "1")
                self.end_headers()
                size = -(-len(data) // max(1, pieces))
                for i in range(0, len(data), size):
                    if i:
                        time.sleep(gap_s)
                    try:
                        self.wfile.write(data[i:i + size])
                        self.wfile.flush()
                    except OSError:  # the client gave up (its deadline): nothing to tell
                        return

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
                violations = request_violations(body)
                if violations:  # as the live API: 400 before the model sees anything
                    bad = invalid_argument_body(violations)
                    fake.rejected.append(bad)
                    self._send(400, bad)
                    return
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
                reply_ = reply_body(step.text, model, step.finish_reason, prompt_chars=len(raw))
                if step.kind == "trickle":
                    self._send(200, reply_, pieces=step.pieces, gap_s=step.seconds)
                    return
                self._send(200, reply_)

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

"""The LLM planner: asks Gemini for one side's plan with structured output.

Needs: a ``google.genai.Client`` from the composition root (:func:`make_client`), the
:class:`adapters.config.GeminiSettings` (``Settings.gemini()``) and the fee model. Gives: a
:class:`Plan` whose ``meta`` records the attempt (model id, API version, prompt and reply capped
at ``record_limit_bytes``, token usage, latency, every transport attempt), or a
:class:`PlanningError` with a reason the next attempt's prompt carries back;
``last_meta`` then holds the same record, since no plan exists.

Transport retries: the client is built WITHOUT the SDK's ``retry_options`` (so it makes one HTTP
attempt per call) and :meth:`GeminiPlanner._call` retries itself under a frozen
:class:`adapters.retry_policy.RetryPolicy` (the KIS client's type too): at most ``attempts``
calls, on :data:`RETRY_STATUSES` (408/429/5xx) and on timeouts/connection errors only, with
exponential backoff capped at ``max_s`` (a 429's ``RetryInfo`` delay is honoured within that
cap). Doing it here, not in the SDK, lets each attempt be counted and recorded; one bounded
loop, never two stacked. Exhausting the policy raises one PlanningError listing every attempt's
error.

Deadlines (wall clock, on the injected Clock): each HTTP call must be complete within
``timeout_ms`` (:mod:`adapters.gemini.deadline`; the SDK's own timeout is per read only, so a
trickled reply would pass it), and one planning step (this ``plan()`` call: every HTTP attempt
and backoff wait) within ``step_timeout_ms``. A call past its deadline is a retried timeout; a
step past its deadline is a failed attempt (``reason="deadline"``) without further calls.

Secrets: the API key lives only in the client. Everything that leaves this module (meta, error
messages, logs) passes through :mod:`adapters.gemini.redaction`, which removes the client's key
and anything that looks like a Google API key, on the WHOLE text before anything is cut from it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import SecretStr

from adapters.clock import SystemClock
from adapters.config import GEMINI_DEFAULT_API_VERSION, GEMINI_DEFAULT_MODEL, GeminiSettings
from adapters.gemini.cost import attempt_cost
from adapters.gemini.deadline import CallDeadlineExceeded, call_with_deadline
from adapters.gemini.prompt import SYSTEM_INSTRUCTION, build_prompt
from adapters.gemini.redaction import API_KEY_RE, cap, redact, redacted_cap
from adapters.gemini.schema import parse_reply, response_json_schema
from statemachine.errors import PlanningError
from statemachine.fees import FeeModel
from statemachine.models import Plan, PlanningContext, PlanOrder
from statemachine.ports import Clock

try:  # the SDK's default HTTP stack is the httpx2 fork; plain httpx with GOOGLE_GENAI_HTTP_CLIENT=httpx
    import httpx2
except ImportError:  # pragma: no cover - depends on the installed SDK
    httpx2 = None  # type: ignore[assignment]

log = logging.getLogger("rebalance.gemini")

DEFAULT_MODEL = GEMINI_DEFAULT_MODEL
DEFAULT_API_VERSION = GEMINI_DEFAULT_API_VERSION
__all__ = ["API_KEY_RE", "DEFAULT_API_VERSION", "DEFAULT_MODEL", "RETRY_STATUSES", "GeminiPlanner", "GeminiSettings",
           "cap", "make_client", "redact"]

_TIMEOUTS: tuple[type[BaseException], ...] = (httpx.TimeoutException,) + (
    (httpx2.TimeoutException,) if httpx2 is not None else ())
_TRANSPORT: tuple[type[BaseException], ...] = (httpx.TransportError,) + (
    (httpx2.TransportError,) if httpx2 is not None else ())


#: HTTP statuses worth another call (timeouts, rate limits, 5xx); anything else fails the attempt.
RETRY_STATUSES: tuple[int, ...] = (408, 429, 500, 502, 503, 504)


def make_client(api_key: str | SecretStr, base_url: str | None = None, timeout_ms: int = 120_000,
                api_version: str = DEFAULT_API_VERSION) -> genai.Client:
    """A Gemini Developer API client: one HTTP attempt per call (the planner retries), explicit timeout."""
    key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    if not key:
        raise ValueError("make_client needs an API key")
    return genai.Client(api_key=key, http_options=types.HttpOptions(
        base_url=base_url, api_version=api_version, timeout=timeout_ms))


def _retry_hint(details: Any) -> float | None:
    """A 429's ``google.rpc.RetryInfo`` delay ("17s") in seconds, if the error carries one."""
    try:
        for d in details["error"].get("details", []):
            if str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
                return float(str(d["retryDelay"]).rstrip("s"))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return None


class GeminiPlanner:
    name = "gemini"

    def __init__(self, client: genai.Client, settings: GeminiSettings,
                 fees: FeeModel | None = None, *, clock: Clock | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        """``clock`` measures the deadlines and latencies; ``sleep`` is the backoff wait between
        transport attempts (default ``clock.sleep``; tests record the delays instead)."""
        self.client = client
        self.settings = settings
        self.fees = fees or FeeModel()
        self.policy = self.settings.retry_policy()
        self.clock: Clock = clock or SystemClock()
        self.sleep = sleep if sleep is not None else self.clock.sleep
        self.monotonic = self.clock.monotonic
        self.last_meta: dict[str, Any] = {}
        key = getattr(getattr(client, "_api_client", None), "api_key", None)
        self._secrets = [key] if isinstance(key, str) and key else []

    # ------------------------------------------------------------------ the Planner protocol
    def plan(self, ctx: PlanningContext) -> Plan:
        prompt = build_prompt(ctx, self.fees)
        meta = self._meta(ctx, prompt)
        self.last_meta = meta
        t0 = self.monotonic()
        try:
            response = self._call(prompt, ctx, meta, step_deadline=t0 + self.settings.step_timeout_ms / 1000)
            self._record_reply(meta, response)
            orders = self._orders(ctx, response)
        except PlanningError as exc:
            message = redact(exc.message, self._secrets)
            meta["error"] = message
            meta["call_latency_ms"] = int((self.monotonic() - t0) * 1000)
            meta["cost"] = attempt_cost(meta["usage"], self.settings.model, self.settings.prices)
            log.warning("gemini %s attempt %d failed: %s", ctx.side.value, ctx.attempt, message)
            raise PlanningError(message, planner=self.name, model=self.settings.model,
                                reason=exc.fields.get("reason", "error")) from None
        meta["call_latency_ms"] = int((self.monotonic() - t0) * 1000)
        meta["cost"] = attempt_cost(meta["usage"], self.settings.model, self.settings.prices)
        return Plan(side=ctx.side, orders=orders, planner=self.name, meta=meta)

    # ------------------------------------------------------------------ steps
    def _meta(self, ctx: PlanningContext, prompt: str) -> dict[str, Any]:
        limit = self.settings.record_limit_bytes
        return {
            "planner": self.name, "model": self.settings.model, "api_version": self.settings.api_version,
            "side": ctx.side.value, "attempt": ctx.attempt, "timeout_ms": self.settings.timeout_ms,
            "step_timeout_ms": self.settings.step_timeout_ms,
            "prompt": redacted_cap(prompt, limit, self._secrets),
            "prompt_bytes": len(prompt.encode("utf-8")),
            "prompt_sha256": hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
            "reply": None, "usage": None, "transport_attempts": [], "transport_retries": 0,
        }

    def _config(self, ctx: PlanningContext) -> types.GenerateContentConfig:
        """Structured output as a plain JSON Schema (``responseJsonSchema``), never ``response_schema``."""
        return types.GenerateContentConfig(
            system_instruction=SYSTEM_INSTRUCTION, response_mime_type="application/json",
            response_json_schema=response_json_schema(ctx), temperature=self.settings.temperature)

    def _call(self, prompt: str, ctx: PlanningContext, meta: dict[str, Any],
              step_deadline: float) -> types.GenerateContentResponse:
        """One generateContent call under the retry policy and the deadlines; every HTTP attempt is
        recorded."""
        rows: list[dict[str, Any]] = meta["transport_attempts"]
        config = self._config(ctx)
        step_ms = self.settings.step_timeout_ms
        for n in range(1, self.policy.attempts + 1):
            t0 = self.monotonic()
            left = step_deadline - t0
            if left <= 0:
                raise self._step_over(rows, step_ms)
            limit_s = min(self.settings.timeout_ms / 1000, left)
            hint = None
            try:
                response = call_with_deadline(
                    lambda: self.client.models.generate_content(model=self.settings.model, contents=prompt,
                                                                config=config),
                    limit_s, self.clock, name="gemini-call")
            except CallDeadlineExceeded:
                retryable = True
                error = f"timed out after {int(limit_s * 1000)} ms (no complete reply by the call's deadline)"
            except genai_errors.APIError as exc:
                retryable = exc.code in RETRY_STATUSES
                hint = _retry_hint(exc.details)
                error = f"HTTP {exc.code} {exc.status or ''}: {exc.message or ''}".strip()
            except _TIMEOUTS:
                retryable, error = True, f"timed out after {self.settings.timeout_ms} ms"
            except _TRANSPORT as exc:
                retryable, error = True, f"transport error: {type(exc).__name__}: {exc}"
            except Exception as exc:  # noqa: BLE001 - an unreadable reply is a failed attempt, not a crash
                retryable, error = False, f"{type(exc).__name__}: {exc}"
            else:
                rows.append({"attempt": n, "outcome": "ok", "ms": int((self.monotonic() - t0) * 1000)})
                meta["transport_retries"] = n - 1
                return response
            error = redact(error, self._secrets)[:500]
            row: dict[str, Any] = {"attempt": n, "outcome": "error", "error": error,
                                   "ms": int((self.monotonic() - t0) * 1000)}
            rows.append(row)
            meta["transport_retries"] = n - 1
            if not retryable:
                raise PlanningError(f"the Gemini call failed and is not retryable: {error}",
                                    reason="transport")
            if n < self.policy.attempts:
                delay = self.policy.delay(n, hint)
                if self.monotonic() + delay >= step_deadline:
                    raise self._step_over(rows, step_ms)
                row["retry_in_s"] = delay
                log.info("gemini call attempt %d failed (%s); retrying in %.1fs", n, error, delay)
                self.sleep(delay)
        listing = "; ".join(f"#{r['attempt']}: {r['error']}" for r in rows)
        raise PlanningError(f"the Gemini call failed {len(rows)} times (retries exhausted): {listing}",
                            reason="transport")

    @staticmethod
    def _step_over(rows: list[dict[str, Any]], step_ms: int) -> PlanningError:
        listing = "; ".join(f"#{r['attempt']}: {r['error']}" for r in rows) or "no call made"
        return PlanningError(f"the planning step's deadline ({step_ms} ms) passed after {len(rows)} Gemini "
                             f"call(s): {listing}", reason="deadline")

    def _record_reply(self, meta: dict[str, Any], response: types.GenerateContentResponse) -> None:
        meta["reply"] = redacted_cap(_reply_text(response) or "", self.settings.record_limit_bytes, self._secrets)
        meta["model_version"] = response.model_version
        meta["response_id"] = response.response_id
        cand = response.candidates[0] if response.candidates else None
        meta["finish_reason"] = str(cand.finish_reason.value) if cand and cand.finish_reason else None
        u = response.usage_metadata
        if u is not None:
            counts = {"prompt_token_count": u.prompt_token_count,
                      "candidates_token_count": u.candidates_token_count,
                      "thoughts_token_count": u.thoughts_token_count,
                      "total_token_count": u.total_token_count}
            meta["usage"] = {k: v for k, v in counts.items() if v is not None}

    def _orders(self, ctx: PlanningContext, response: types.GenerateContentResponse) -> list[PlanOrder]:
        if not response.candidates:
            feedback = response.prompt_feedback
            block = getattr(feedback.block_reason, "value", None) if feedback else None
            why = f" (prompt blocked: {block})" if block else ""
            raise PlanningError(f"the model returned no candidates{why}", reason="empty")
        raw = _reply_text(response)
        text = None if raw is None else redact(raw, self._secrets)  # before any part of it is quoted
        known = set(ctx.targets.tickers()) | {h.ticker for h in ctx.snapshot.holdings}
        known |= set(ctx.snapshot.prices)
        try:
            orders = parse_reply(text, ctx.side, known, lambda t: redact(t, self._secrets))
        except PlanningError as exc:
            finish = response.candidates[0].finish_reason
            if finish and finish.value not in ("STOP", "FINISH_REASON_UNSPECIFIED"):
                raise PlanningError(f"{exc.message} (finish reason {finish.value})", **exc.fields) from None
            raise
        return orders


def _reply_text(response: types.GenerateContentResponse) -> str | None:
    """The model's answer: the text parts of the first candidate, thoughts left out."""
    if not response.candidates or response.candidates[0].content is None:
        return None
    parts = response.candidates[0].content.parts or []
    texts = [p.text for p in parts if p.text and not p.thought]
    return "".join(texts) if texts else None

"""KIS Open API over HTTP, the wire: one request, the envelope, retries, paging, order sends.

The caller (the composition root) builds the ``httpx.Client`` and passes it in, so tests swap the
transport (``httpx.MockTransport``, a cassette, the simulator) without touching this code.

Reads (GET): rate-limited, timed out, retried with backoff (:class:`RetryPolicy`, the loop of
:mod:`adapters.kis.retry`) on transport errors, timeouts, 5xx pages without an envelope and the
rate-limit codes EGW00201/EGW00215. An expired or invalid token (EGW00123/EGW00121) is reissued
once and the read tried once more. A malformed reply (HTML, empty body, missing field, non-numeric amount) is a
:class:`KisMalformedReply`, never an empty answer. Paged TRs are walked to the last page
(``tr_cont`` D/E); only then is the answer complete.

Order sends (POST order-cash, order-rvsecncl) are never retried blindly:

* timeout, dropped connection, unreadable reply, or a 5xx -> :class:`OrderOutcomeUnknown`
  (the order may exist; the engine reconciles with inquire-daily-ccld);
* ``rt_cd != "0"`` with a business code -> :class:`OrderRejected` (``code`` = msg_cd);
* EGW00123/EGW00121 (token expired/invalid) -> the gateway refused the request before it reached
  the trading system, so the order was *not* accepted: the token is reissued and the order sent
  once more. A second auth refusal is an :class:`OrderRejected`. This is the one re-send allowed;
* definite gateway refusals (bad key, TR not on paper) -> :class:`OrderRejected`;
* ``rt_cd == "0"`` without an order number -> :class:`OrderOutcomeUnknown` (accepted, number unknown).

EGW00201 on an order arrives as an HTTP 500 and is treated like any 5xx (unknown): the engine then
finds no such order at the broker and sends it again through the limiter. inquire-daily-ccld's
"no rows" code KIOK0560 on the first page is an empty day; on balance it is never accepted.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from adapters.kis.auth import TokenProvider
from adapters.kis.config import KisConfig
from adapters.kis.envelope import MaskAccountFilter, envelope, json_dict
from adapters.kis.errors import (
    AUTH_CODES,
    NO_ROWS_CODE,
    TOKEN_CODES,
    KisMalformedReply,
    KisRetryable,
    KisTokenExpired,
    order_rejected,
)
from adapters.kis.rate_limit import FileRateLimiter, RateLimiter, shared_limiter
from adapters.kis.retry import retrying
from adapters.kis.shared_limits import PgRateLimiter, PgTokenStore, is_postgres, key_fingerprint
from statemachine.errors import BrokerError, OrderOutcomeUnknown

log = logging.getLogger("rebalance.kis")
__all__ = ["KisClient", "MaskAccountFilter"]


# ============================================================================== the wire
class KisClient:
    def __init__(
        self,
        config: KisConfig,
        http: httpx.Client,
        *,
        limiter: RateLimiter | None = None,
        tokens: TokenProvider | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        config.check_safety()
        self.config = config
        self.http = http
        key = config.appkey.get_secret_value()
        shared = is_postgres(config.limits_db_url)
        if limiter is None and shared:
            assert config.limits_db_url is not None
            limiter = PgRateLimiter(config.rps, config.limits_db_url, key_fingerprint(config.url, key),
                                    config.rate_margin)
        if limiter is None and config.rate_limit_path is not None:
            limiter = FileRateLimiter(config.rps, config.rate_limit_path, config.rate_margin)
        self.limiter = limiter or shared_limiter(
            config.env, f"{config.url}|{_key_id(key)}", config.rps, config.rate_margin
        )
        self.tokens = tokens or TokenProvider(
            http,
            config.url,
            key,
            config.appsecret.get_secret_value(),
            config.token_cache_path,
            min_issue_interval_s=config.token_min_issue_interval_s,
            max_wait_s=config.token_max_wait_s,
            timeout_s=config.timeout_s,
            clock=wall_clock,
            store=PgTokenStore(config.limits_db_url, config.appsecret.get_secret_value())
            if shared and config.limits_db_url else None,
        )
        self._sleep = sleep
        self.calls: Counter[str] = Counter()  # by tr_id, every HTTP request sent

    # -- one request -------------------------------------------------------------------------------
    def _headers(self, tr_id: str, token: str, tr_cont: str) -> dict[str, str]:
        return {
            "content-type": "application/json; charset=utf-8",
            "authorization": f"Bearer {token}",
            "appkey": self.config.appkey.get_secret_value(),
            "appsecret": self.config.appsecret.get_secret_value(),
            "tr_id": tr_id,
            "custtype": self.config.custtype,
            "tr_cont": tr_cont,
        }

    def _send(
        self,
        method: str,
        path: str,
        tr_id: str,
        token: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, str] | None = None,
        tr_cont: str = "",
        timeout: float,
    ) -> httpx.Response:
        self.limiter.acquire()
        self.calls[tr_id] += 1
        return self.http.request(
            method,
            self.config.url + path,
            params=params,
            json=body,
            headers=self._headers(tr_id, token, tr_cont),
            timeout=timeout,
        )

    # -- reads -------------------------------------------------------------------------------------
    def get(
        self, path: str, tr_id: str, params: dict[str, str], *, what: str, tr_cont: str = ""
    ) -> tuple[dict[str, Any], str]:
        """One GET with retries; returns the successful body and the response's ``tr_cont``.
        A token refusal is answered by one reissue, which does not count as an attempt."""
        policy = self.config.retry
        reissued = False

        def once() -> tuple[dict[str, Any], str]:
            nonlocal reissued
            while True:
                token = self.tokens.token()
                try:
                    try:
                        r = self._send(
                            "GET",
                            path,
                            tr_id,
                            token,
                            params=params,
                            tr_cont=tr_cont,
                            timeout=self.config.timeout_s,
                        )
                    except httpx.TimeoutException as exc:
                        raise KisRetryable(
                            f"{what}: no reply within {self.config.timeout_s:g}s", code="TIMEOUT"
                        ) from exc
                    except httpx.TransportError as exc:
                        raise KisRetryable(
                            f"{what}: transport error {type(exc).__name__}", code="TRANSPORT"
                        ) from exc
                    return envelope(r, what), r.headers.get("tr_cont", "")
                except KisTokenExpired:
                    if reissued:
                        raise
                    reissued = True
                    log.warning("%s: token refused by the broker; reissuing once", what)
                    self.tokens.invalidate(token)

        def retrying_in(exc: KisRetryable, delay: float, attempt: int) -> None:
            log.warning("%s; retrying in %.2fs (attempt %d/%d)", exc.message, delay, attempt, policy.attempts)

        return retrying(
            policy,
            self._sleep,
            once,
            retry_on=KisRetryable,
            gave_up=lambda n, exc: f"{what}: gave up after {n} attempts; last: {exc.message}",
            retrying_in=retrying_in,
        )

    def paged(
        self, path: str, tr_id: str, params: dict[str, str], *, what: str, no_rows_ok: bool = False
    ) -> list[dict[str, Any]]:
        """Every page of a paged TR: ``tr_cont`` F/M -> next page with ``tr_cont: N`` and the
        CTX_AREA values passed back unchanged; D/E -> done. Anything else is an error."""
        q = {**params, "CTX_AREA_FK100": "", "CTX_AREA_NK100": ""}
        pages: list[dict[str, Any]] = []
        cont = ""
        for n in range(1, self.config.max_pages + 1):
            try:
                body, rcont = self.get(path, tr_id, q, what=f"{what} (page {n})", tr_cont=cont)
            except BrokerError as exc:
                if no_rows_ok and n == 1 and exc.code == NO_ROWS_CODE:
                    return []
                raise
            pages.append(body)
            rcont = rcont.strip().upper()
            if rcont in ("D", "E"):
                return pages
            if rcont not in ("F", "M"):
                raise KisMalformedReply(
                    f"{what} (page {n}): response header tr_cont={rcont!r} is neither "
                    f"F/M (more) nor D/E (last); the answer may be incomplete"
                )
            fk, nk = body.get("ctx_area_fk100"), body.get("ctx_area_nk100")
            if not isinstance(fk, str) or not isinstance(nk, str):
                raise KisMalformedReply(
                    f"{what} (page {n}): more pages announced but no ctx_area_* in the body"
                )
            q = {**q, "CTX_AREA_FK100": fk, "CTX_AREA_NK100": nk}
            cont = "N"
        raise KisMalformedReply(f"{what}: more than {self.config.max_pages} pages; giving up")

    # -- order sends -------------------------------------------------------------------------------
    def send_order(
        self, path: str, tr_id: str, body: dict[str, str], *, what: str, **fields: Any
    ) -> dict[str, Any]:
        """POST an order or a cancel. Never retried, except once after a token refusal (see module doc)."""
        for attempt in (1, 2):
            token = self.tokens.token()
            try:
                r = self._send("POST", path, tr_id, token, body=body, timeout=self.config.order_timeout_s)
            except httpx.TimeoutException as exc:
                raise OrderOutcomeUnknown(
                    f"{what}: no reply within {self.config.order_timeout_s:g}s; the order "
                    f"may exist - reconcile, do not resend",
                    code="TIMEOUT",
                    **fields,
                ) from exc
            except httpx.TransportError as exc:
                raise OrderOutcomeUnknown(
                    f"{what}: connection failed ({type(exc).__name__}); the order may "
                    f"exist - reconcile, do not resend",
                    code="TRANSPORT",
                    **fields,
                ) from exc
            env = json_dict(r)
            if env is None or not isinstance(env.get("rt_cd"), str):
                raise OrderOutcomeUnknown(
                    f"{what}: unreadable reply (HTTP {r.status_code}); the order may exist",
                    code=f"HTTP{r.status_code}",
                    **fields,
                )
            if env["rt_cd"] == "0":
                if r.status_code != 200:
                    raise OrderOutcomeUnknown(f"{what}: rt_cd 0 with HTTP {r.status_code}", **fields)
                return env
            code, msg = str(env.get("msg_cd", "")), str(env.get("msg1", "")).strip()
            if code in TOKEN_CODES and attempt == 1:
                log.warning(
                    "%s: token refused [%s] before the order reached the broker; reissuing and "
                    "sending once more",
                    what,
                    code,
                )
                self.tokens.invalidate(token)
                continue
            if code in TOKEN_CODES or code in AUTH_CODES:
                raise order_rejected(code, msg, what=what, status=r.status_code, **fields)
            if r.status_code >= 500:
                raise OrderOutcomeUnknown(
                    f"{what}: KIS [{code}] {msg} (HTTP {r.status_code}); the order may "
                    f"exist - reconcile, do not resend",
                    code=code,
                    **fields,
                )
            raise order_rejected(code, msg, what=what, status=r.status_code, **fields)
        raise AssertionError("unreachable")


def _key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]

"""KIS Open API over HTTP: the wire (:class:`KisClient`) and the Broker port on top (:class:`KisBroker`).

The caller (the composition root) builds the ``httpx.Client`` and passes it in, so tests swap the
transport (``httpx.MockTransport``, a cassette, the simulator) without touching this code.

Reads (GET): rate-limited, timed out, retried with backoff (:class:`RetryPolicy`) on transport
errors, timeouts, 5xx pages without an envelope and the rate-limit codes EGW00201/EGW00215. An
expired or invalid token (EGW00123/EGW00121) is reissued once and the read tried once more. A
malformed reply (HTML, empty body, missing field, non-numeric amount) is a
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
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx

from statemachine.errors import BrokerError, OrderOutcomeUnknown, OrderRejected
from statemachine.models import BrokerOrder, Holding, PlaceResult, Side, Snapshot
from statemachine.ports import Broker

from .kis_auth import TokenProvider
from .kis_config import KisConfig
from .kis_errors import (
    AUTH_CODES,
    NO_ROWS_CODE,
    TOKEN_CODES,
    KisMalformedReply,
    KisRetryable,
    KisRetryExhausted,
    KisTokenExpired,
    envelope_error,
    order_rejected,
)
from .rate_limit import RateLimiter, shared_limiter

log = logging.getLogger("rebalance.kis")


class MaskAccountFilter(logging.Filter):
    """httpx logs every request URL at INFO, query string included: mask the CANO parameter."""

    _re = re.compile(r"(CANO=)\d{4}\d*")

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "CANO=" in msg:
            record.msg, record.args = self._re.sub(r"\g<1>****", msg), ()
        return True


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, MaskAccountFilter) for f in _httpx_log.filters):
    _httpx_log.addFilter(MaskAccountFilter())
KST = timezone(timedelta(hours=9))
TICKER_RE = re.compile(r"^[0-9A-Z]{6,7}$")

P_BALANCE = "/uapi/domestic-stock/v1/trading/inquire-balance"
P_PSBL = "/uapi/domestic-stock/v1/trading/inquire-psbl-order"
P_ORDER = "/uapi/domestic-stock/v1/trading/order-cash"
P_CCLD = "/uapi/domestic-stock/v1/trading/inquire-daily-ccld"
P_RVSE = "/uapi/domestic-stock/v1/trading/order-rvsecncl"
P_PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"


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
    ) -> None:
        config.check_safety()
        self.config = config
        self.http = http
        key = config.appkey.get_secret_value()
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
        """One GET with retries; returns the successful body and the response's ``tr_cont``."""
        policy = self.config.retry
        errors: list[Exception] = []
        reissued = False
        attempt = 0
        while True:
            attempt += 1
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
                return _envelope(r, what), r.headers.get("tr_cont", "")
            except KisTokenExpired:
                if reissued:
                    raise
                reissued = True
                attempt -= 1
                log.warning("%s: token refused by the broker; reissuing once", what)
                self.tokens.invalidate(token)
            except KisRetryable as exc:
                errors.append(exc)
                if attempt >= policy.attempts:
                    raise KisRetryExhausted(
                        f"{what}: gave up after {attempt} attempts; last: {exc.message}", errors
                    ) from exc
                delay = policy.delay(attempt)
                log.warning(
                    "%s; retrying in %.2fs (attempt %d/%d)",
                    exc.message,
                    delay,
                    attempt,
                    policy.attempts,
                )
                self._sleep(delay)

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
            env = _json_dict(r)
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
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _json_dict(r: httpx.Response) -> dict[str, Any] | None:
    if not r.content:
        return None
    try:
        body = r.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _envelope(r: httpx.Response, what: str) -> dict[str, Any]:
    """The successful body of a read, or the typed error its envelope names."""
    body = _json_dict(r)
    if body is None or not isinstance(body.get("rt_cd"), str):
        kind = "empty body" if not r.content else ("no rt_cd envelope" if body is not None else "not JSON")
        if r.status_code >= 500:
            raise KisRetryable(f"{what}: HTTP {r.status_code} with {kind}", code=f"HTTP{r.status_code}")
        raise KisMalformedReply(
            f"{what}: malformed reply, {kind} (HTTP {r.status_code}, {r.headers.get('content-type', '?')})",
            status=r.status_code,
        )
    if body["rt_cd"] != "0":
        raise envelope_error(
            str(body.get("msg_cd", "")), str(body.get("msg1", "")).strip(), what=what, status=r.status_code
        )
    if r.status_code != 200:
        raise KisMalformedReply(f"{what}: rt_cd 0 with HTTP {r.status_code}", status=r.status_code)
    return body


# ============================================================================== field parsing
_INT_RE = re.compile(r"^\s*-?\d+(\.0*)?\s*$")
_NUM_RE = re.compile(r"^\s*-?\d+(\.\d*)?\s*$")


def _field(row: Any, key: str, what: str) -> Any:
    if not isinstance(row, dict) or key not in row:
        raise KisMalformedReply(f"{what}: field {key!r} missing")
    return row[key]


def num_int(row: Any, key: str, what: str) -> int:
    v = _field(row, key, what)
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if not isinstance(v, str) or not _INT_RE.match(v):
        raise KisMalformedReply(f"{what}: field {key!r} is not an integer: {str(v)[:20]!r}")
    return int(float(v)) if "." in v else int(v)


def num_float(row: Any, key: str, what: str) -> float:
    v = _field(row, key, what)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    if not isinstance(v, str) or not _NUM_RE.match(v):
        raise KisMalformedReply(f"{what}: field {key!r} is not a number: {str(v)[:20]!r}")
    return float(v)


def text(row: Any, key: str, what: str) -> str:
    v = _field(row, key, what)
    if not isinstance(v, str):
        raise KisMalformedReply(f"{what}: field {key!r} is not a string")
    return v.strip()


def rows_of(body: dict[str, Any], key: str, what: str) -> list[dict[str, Any]]:
    v = body.get(key)
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise KisMalformedReply(f"{what}: {key!r} missing or not a list of rows")
    return v


def object_of(body: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    v = body.get(key)
    if isinstance(v, list) and len(v) >= 1 and isinstance(v[0], dict):
        return v[0]
    if isinstance(v, dict) and v:
        return v
    raise KisMalformedReply(f"{what}: {key!r} missing or empty")


def kst_time(day: date, hhmmss: str) -> datetime | None:
    if not re.fullmatch(r"\d{6}", hhmmss or ""):
        return None
    t = datetime(day.year, day.month, day.day, int(hhmmss[:2]), int(hhmmss[2:4]), int(hhmmss[4:]), tzinfo=KST)
    return t.astimezone(UTC)


# ============================================================================== the port
class KisBroker(Broker):
    """The Broker port over the KIS REST API (real or paper, or the simulator)."""

    def __init__(
        self,
        config: KisConfig,
        http: httpx.Client,
        *,
        alias: str | None = None,
        limiter: RateLimiter | None = None,
        tokens: TokenProvider | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = KisClient(config, http, limiter=limiter, tokens=tokens, sleep=sleep)
        self.config = config
        self.alias = alias or config.masked_account
        self._now = now

    @property
    def calls(self) -> Counter[str]:
        return self.client.calls

    def _acct(self) -> dict[str, str]:
        return {"CANO": self.config.cano, "ACNT_PRDT_CD": self.config.product}

    def _tr(self, current: str, legacy: str | None = None) -> str:
        return self.config.tr(legacy if self.config.legacy_tr and legacy else current)

    # -- reads -------------------------------------------------------------------------------------
    def balance(self) -> Snapshot:
        what = "inquire-balance"
        params = {
            **self._acct(),
            "AFHR_FLPR_YN": "N",
            "OFL_YN": "",
            "INQR_DVSN": "02",
            "UNPR_DVSN": "01",
            "FUND_STTL_ICLD_YN": "N",
            "FNCG_AMT_AUTO_RDPT_YN": "N",
            "PRCS_DVSN": "00",
        }
        pages = self.client.paged(P_BALANCE, self._tr("TTTC8434R"), params, what=what)
        qty: dict[str, int] = {}
        sellable: dict[str, int] = {}
        price: dict[str, int] = {}
        names: dict[str, str] = {}
        for body in pages:
            for row in rows_of(body, "output1", what):
                t = text(row, "pdno", what)
                w = f"{what} row {t}"
                qty[t] = qty.get(t, 0) + num_int(row, "hldg_qty", w)
                sellable[t] = sellable.get(t, 0) + num_int(row, "ord_psbl_qty", w)
                price[t] = num_int(row, "prpr", w)
                names[t] = str(row.get("prdt_name", "")).strip()
        summary = object_of(pages[-1], "output2", what)
        cash = num_int(summary, "prvs_rcdl_excc_amt", f"{what} output2")
        if cash < 0:
            raise BrokerError(
                f"{what}: D+2 cash is negative ({cash:,} KRW): margin debt; refusing to plan",
                code="NEGATIVE_CASH",
            )
        holdings = [
            Holding(
                ticker=t,
                name=names[t],
                quantity=q,
                orderable_quantity=max(0, min(q, sellable[t])),
                price=max(0, price[t]),
            )
            for t, q in qty.items()
            if q > 0
        ]
        return Snapshot(holdings=holdings, cash=cash)

    def prices(self, tickers: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in tickers:
            what = f"inquire-price {t}"
            body, _ = self.client.get(
                P_PRICE, "FHKST01010100", {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": t}, what=what
            )
            p = num_int(object_of(body, "output", what), "stck_prpr", what)
            if p <= 0:
                raise BrokerError(f"{what}: no current price (stck_prpr={p})", code="NO_PRICE", ticker=t)
            out[t] = p
        return out

    def orderable_cash(self) -> int:
        what = "inquire-psbl-order"
        params = {
            **self._acct(),
            "PDNO": "",
            "ORD_UNPR": "",
            "ORD_DVSN": "01",
            "CMA_EVLU_AMT_ICLD_YN": "N",
            "OVRS_ICLD_YN": "N",
        }
        body, _ = self.client.get(P_PSBL, self._tr("TTTC8908R"), params, what=what)
        return max(0, num_int(object_of(body, "output", what), "nrcvb_buy_amt", what))

    def daily_orders(
        self,
        day: date,
        ticker: str | None = None,
        side: Side | None = None,
        odno: str | None = None,
        unfilled_only: bool = False,
    ) -> list[BrokerOrder]:
        what = "inquire-daily-ccld"
        d = day.strftime("%Y%m%d")
        params = {
            **self._acct(),
            "INQR_STRT_DT": d,
            "INQR_END_DT": d,
            "SLL_BUY_DVSN_CD": {None: "00", Side.SELL: "01", Side.BUY: "02"}[side],
            "INQR_DVSN": "00",
            "PDNO": ticker or "",
            "CCLD_DVSN": "02" if unfilled_only else "00",
            "ORD_GNO_BRNO": "",
            "ODNO": odno or "",
            "INQR_DVSN_3": "00",
            "INQR_DVSN_1": "",
            "EXCG_ID_DVSN_CD": "KRX" if self.config.env == "paper" else "ALL",
        }
        pages = self.client.paged(
            P_CCLD, self._tr("TTTC0081R", "TTTC8001R"), params, what=what, no_rows_ok=True
        )
        out: list[BrokerOrder] = []
        for body in pages:
            for row in rows_of(body, "output1", what):
                o = self._order_row(row, what)
                if o is not None:
                    out.append(o)
        return out

    def _order_row(self, row: dict[str, Any], what: str) -> BrokerOrder | None:
        no = text(row, "odno", what)
        w = f"{what} order {no}"
        if str(row.get("orgn_odno", "")).strip().strip("0") and str(row.get("cncl_yn", "")).strip() == "Y":
            return None  # a cancel request's own row; the original row carries the cancelled quantity
        sb = text(row, "sll_buy_dvsn_cd", w)
        if sb not in ("01", "02"):
            raise KisMalformedReply(f"{w}: sll_buy_dvsn_cd {sb!r} is neither 01 nor 02")
        ord_dt = text(row, "ord_dt", w)
        try:
            day = datetime.strptime(ord_dt, "%Y%m%d").date()
        except ValueError as exc:
            raise KisMalformedReply(f"{w}: ord_dt {ord_dt!r} is not YYYYMMDD") from exc
        placed = kst_time(day, text(row, "ord_tmd", w))
        if placed is None:
            raise KisMalformedReply(f"{w}: ord_tmd is not HHMMSS")
        return BrokerOrder(
            odno=no.zfill(10),
            ticker=text(row, "pdno", w),
            side=Side.SELL if sb == "01" else Side.BUY,
            quantity=num_int(row, "ord_qty", w),
            order_type=str(row.get("ord_dvsn_cd", "01")).strip() or "01",
            filled_quantity=num_int(row, "tot_ccld_qty", w),
            avg_price=num_float(row, "avg_prvs", w),
            amount=num_int(row, "tot_ccld_amt", w),
            remaining=num_int(row, "rmn_qty", w),
            rejected=num_int(row, "rjct_qty", w),
            cancelled=num_int(row, "cncl_cfrm_qty", w),
            placed_at=placed,
            org_no=str(row.get("ord_gno_brno", "")).strip(),
        )

    # -- sends -------------------------------------------------------------------------------------
    def place_order(
        self, side: Side, ticker: str, quantity: int, order_type: str = "01", price: int = 0
    ) -> PlaceResult:
        if not TICKER_RE.match(ticker) or quantity <= 0 or order_type not in ("00", "01"):
            raise OrderRejected(
                f"order not sent: bad ticker/quantity/type ({ticker!r}, {quantity}, {order_type!r})",
                code="LOCAL",
                ticker=ticker,
            )
        if order_type == "00" and price <= 0:
            raise OrderRejected(
                f"order not sent: a limit order for {ticker} needs a price", code="LOCAL", ticker=ticker
            )
        tr = self._tr("TTTC0011U", "TTTC0801U") if side is Side.SELL else self._tr("TTTC0012U", "TTTC0802U")
        body = {
            **self._acct(),
            "PDNO": ticker,
            "ORD_DVSN": order_type,
            "ORD_QTY": str(int(quantity)),
            "ORD_UNPR": str(int(price)) if order_type == "00" else "0",
            "EXCG_ID_DVSN_CD": "KRX",
        }
        if side is Side.SELL:
            body["SLL_TYPE"] = "01"
        what = f"order-cash {side.value} {ticker} x{quantity}"
        env = self.client.send_order(P_ORDER, tr, body, what=what, ticker=ticker)
        return self._place_result(env, what, ticker)

    def cancel_order(self, odno: str, org_no: str, quantity: int) -> PlaceResult:
        body = {
            **self._acct(),
            "KRX_FWDG_ORD_ORGNO": org_no,
            "ORGN_ODNO": odno,
            "ORD_DVSN": "00",
            "RVSE_CNCL_DVSN_CD": "02",
            "ORD_QTY": str(max(0, int(quantity))),
            "ORD_UNPR": "0",
            "QTY_ALL_ORD_YN": "Y",
            "EXCG_ID_DVSN_CD": "KRX",
        }
        what = f"order-rvsecncl cancel {odno}"
        env = self.client.send_order(P_RVSE, self._tr("TTTC0013U", "TTTC0803U"), body, what=what, odno=odno)
        return self._place_result(env, what, None)

    def _place_result(self, env: dict[str, Any], what: str, ticker: str | None) -> PlaceResult:
        out = env.get("output")
        no = out.get("ODNO") if isinstance(out, dict) else None
        if not isinstance(no, str) or not no.strip().isdigit():
            raise OrderOutcomeUnknown(
                f"{what}: accepted (rt_cd 0) but no order number in the reply; reconcile",
                code="NO_ODNO",
                ticker=ticker,
            )
        assert isinstance(out, dict)
        placed = kst_time(self._now().astimezone(KST).date(), str(out.get("ORD_TMD", "")))
        log.info("%s accepted: order %s [%s]", what, no.strip().zfill(10), env.get("msg_cd", ""))
        return PlaceResult(
            odno=no.strip().zfill(10), org_no=str(out.get("KRX_FWDG_ORD_ORGNO", "")).strip(), placed_at=placed
        )

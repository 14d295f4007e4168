"""A KIS Open API simulator: the broker's REST protocol in front of :class:`SimAccount`.

The ASGI app (:class:`KisSimulator`, request parsing by Starlette) speaks what ``KIS_API.md``
describes: paths, request headers (app key, secret, ``Bearer`` token, ``tr_id``, ``tr_cont``),
real and paper TR ids (current and legacy), string-typed fields, pagination (balance 50 rows real
/ 20 paper, daily-ccld 100 / 15), the ``rt_cd``/``msg_cd``/``msg1`` envelope, the token endpoint
with its 403 shapes, revoke and hashkey. Response headers go out as the broker sends them:
``tr_id``, ``tr_cont``, ``gt_uid`` lowercase, ``Content-Type``/``Content-Length`` capitalised
(raw header bytes through uvicorn's h11 server, which keeps the casing it is given).

Faults (:class:`SimulatorConfig`, plus one-shot :meth:`KisSimulator.inject`): latency, a rate
limit of N requests per second answered with EGW00201, 5xx pages, timeouts (sleeping past the
client's timeout), dropped order replies (the order is applied, then the connection closed),
empty / HTML bodies, expired tokens. Partial fills, rejects (insufficient cash, market closed),
lost order replies, delayed acceptance (the reply is dropped), a lagging order list, a skewed
broker clock and a balance answered without its rows (``balance_rows_missing``) are shared across
processes in the account file's ``faults`` (:meth:`SimAccount.set_faults`).

Run it in a background thread with :class:`SimulatorServer` (``start()`` returns the base URL),
in the foreground with :func:`serve_simulator`, or as ``python -m adapters.kis_sim.simulator ACCOUNT``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import json
import random
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

import uvicorn
from pydantic import BaseModel, Field
from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.sim.account import SimAccount, SimRejected, SimSession

TEST_APPKEY = "PSsimTESTkey0000KisSimulatorAppKey01"
TEST_APPSECRET = "SIMsecret" + "0123456789abcdefXYZ" * 9 + "END"
TEST_ACCOUNT = "50001234-01"

P = "/uapi/domestic-stock/v1"
BALANCE, PSBL, ORDER = (
    f"{P}/trading/inquire-balance",
    f"{P}/trading/inquire-psbl-order",
    f"{P}/trading/order-cash",
)
CCLD, RVSE, PRICE = (
    f"{P}/trading/inquire-daily-ccld",
    f"{P}/trading/order-rvsecncl",
    f"{P}/quotations/inquire-price",
)
# real TR ids per path; paper = the same with a leading V (quotes identical on both hosts)
TRS: dict[str, tuple[str, set[str]]] = {
    BALANCE: ("GET", {"TTTC8434R"}),
    PSBL: ("GET", {"TTTC8908R"}),
    ORDER: ("POST", {"TTTC0011U", "TTTC0012U", "TTTC0801U", "TTTC0802U"}),
    CCLD: ("GET", {"TTTC0081R", "TTTC8001R", "CTSC9215R", "CTSC9115R"}),
    RVSE: ("POST", {"TTTC0013U", "TTTC0803U"}),
    PRICE: ("GET", {"FHKST01010100"}),
}
SELL_TRS = {"TTTC0011U", "TTTC0801U"}
Fault = Literal["http500", "timeout", "drop", "empty", "html", "rate_limit", "ledger_limit", "token_expired"]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class SimulatorConfig(BaseModel):
    env: Literal["paper", "real"] = "paper"
    appkey: str = TEST_APPKEY
    appsecret: str = TEST_APPSECRET
    rate_limit_per_s: float | None = Field(None, ge=0, description="None: 2/s paper, 20/s real; 0: off")
    latency_s: float = Field(0.0, ge=0)
    error_5xx_rate: float = Field(0.0, ge=0, le=1, description="share of /uapi calls answered by a 500 page")
    timeout_rate: float = Field(0.0, ge=0, le=1, description="share of /uapi calls that stall")
    timeout_sleep_s: float = Field(12.0, ge=0, description="how long a stalled call sleeps")
    seed: int = 0
    token_ttl_s: int = Field(86400, gt=0)
    token_reuse_s: float = Field(6 * 3600, ge=0, description="tokenP returns the same token within this")
    token_issue_min_interval_s: float = Field(60.0, ge=0, description="EGW00133 inside this interval")
    balance_page_size: int | None = Field(None, gt=0, description="None: 50 real, 20 paper")
    ccld_page_size: int | None = Field(None, gt=0, description="None: 100 real, 15 paper")

    @property
    def rate(self) -> float:
        return (
            self.rate_limit_per_s
            if self.rate_limit_per_s is not None
            else (2.0 if self.env == "paper" else 20.0)
        )


class _Drop(Exception):
    """Close the connection without a complete reply."""


class KisSimulator:
    def __init__(self, account: SimAccount, config: SimulatorConfig | None = None) -> None:
        self.account = account
        self.config = config or SimulatorConfig()
        self.calls: collections.Counter[str] = collections.Counter()  # by tr_id (or path), every request
        self.rate_limited = 0
        self._faults: list[tuple[Fault, str | None]] = []
        self._window: collections.deque[float] = collections.deque()
        self._tokens: dict[str, dict[str, float | bool]] = {}
        self._last_issue = 0.0
        self._rng = random.Random(self.config.seed)
        self._lock = threading.Lock()

    def _now(self) -> float:
        """The simulated broker's wall time (its account's clock), as a POSIX timestamp."""
        return self.account.clock().timestamp()

    # -- control from tests ------------------------------------------------------------------------
    def inject(self, fault: Fault, times: int = 1, path: str | None = None) -> None:
        """Answer the next ``times`` /uapi calls (to ``path`` if given) with ``fault``."""
        with self._lock:
            self._faults.extend([(fault, path)] * times)

    def reset(self, config: SimulatorConfig | None = None) -> None:
        """Forget faults, counters and the rate window (tokens stay valid); optionally a new config."""
        with self._lock:
            if config is not None:
                self.config = config
            self._faults.clear()
            self._window.clear()
            self.calls.clear()
            self.rate_limited = 0
            self._last_issue = 0.0
            self._rng = random.Random(self.config.seed)

    def expire_tokens(self) -> None:
        with self._lock:
            for t in self._tokens.values():
                t["expired"] = True

    def reset_counters(self) -> None:
        with self._lock:
            self.calls.clear()
            self.rate_limited = 0

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, (f, p) in enumerate(self._faults):
                if p is None or p == path:
                    del self._faults[i]
                    return f
        if self.config.error_5xx_rate and self._rng.random() < self.config.error_5xx_rate:
            return "http500"
        if self.config.timeout_rate and self._rng.random() < self.config.timeout_rate:
            return "timeout"
        return None

    # -- ASGI ----------------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                pass
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        req = Request(scope, receive)
        path = scope["path"]
        try:
            if path == "/oauth2/tokenP":
                await self._token(req, send)
            elif path == "/oauth2/revokeP":
                await self._revoke(req, send)
            elif path == "/uapi/hashkey":
                await self._hashkey(req, send)
            elif path in TRS:
                await self._uapi(req, send, path)
            else:
                await _reply(send, 404, R.envelope("1", "OPSQ0001", f"없는 경로입니다 ({path})"))
        except _Drop:
            return  # uvicorn closes a connection whose response was started but never completed

    # -- auth ----------------------------------------------------------------------------------------
    async def _token(self, req: Request, send: Send) -> None:
        body = await _json_body(req)
        if req.method != "POST" or body.get("grant_type") != "client_credentials":
            return await _reply(
                send,
                403,
                {"error_code": "EGW00002", "error_description": "grant_type 오류"},
                kis_headers=False,
            )
        if body.get("appkey") != self.config.appkey:
            return await _reply(
                send,
                403,
                {"error_code": "EGW00103", "error_description": "유효하지 않은 AppKey입니다."},
                kis_headers=False,
            )
        if body.get("appsecret") != self.config.appsecret:
            return await _reply(
                send,
                403,
                {"error_code": "EGW00105", "error_description": "유효하지 않은 AppSecret입니다."},
                kis_headers=False,
            )
        now = self._now()
        with self._lock:
            if now - self._last_issue < self.config.token_issue_min_interval_s:
                throttled = True
            else:
                throttled = False
                self._last_issue = now
                reuse = [
                    (tok, t)
                    for tok, t in self._tokens.items()
                    if not t["expired"]
                    and float(t["expires_at"]) > now
                    and now - float(t["issued_at"]) < self.config.token_reuse_s
                ]
                if reuse:
                    token, info = reuse[-1]
                else:
                    token = _jwt(now, self.config.token_ttl_s)
                    info = {"issued_at": now, "expires_at": now + self.config.token_ttl_s, "expired": False}
                    self._tokens[token] = info
        if throttled:
            return await _reply(
                send,
                403,
                {
                    "error_code": "EGW00133",
                    "error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)",
                },
                kis_headers=False,
            )
        exp = datetime.fromtimestamp(float(info["expires_at"]), R.KST)
        await _reply(
            send,
            200,
            {
                "access_token": token,
                "access_token_token_expired": f"{exp:%Y-%m-%d %H:%M:%S}",
                "token_type": "Bearer",
                "expires_in": int(float(info["expires_at"]) - now),
            },
            kis_headers=False,
        )

    async def _revoke(self, req: Request, send: Send) -> None:
        body = await _json_body(req)
        if body.get("appkey") != self.config.appkey or body.get("appsecret") != self.config.appsecret:
            return await _reply(
                send,
                403,
                {"error_code": "EGW00103", "error_description": "유효하지 않은 AppKey입니다."},
                kis_headers=False,
            )
        with self._lock:
            self._tokens.pop(str(body.get("token", "")), None)
        await _reply(send, 200, {"code": 200, "message": "접근토큰 폐기에 성공하였습니다"}, kis_headers=False)

    async def _hashkey(self, req: Request, send: Send) -> None:
        if (
            req.headers.get("appkey") != self.config.appkey
            or req.headers.get("appsecret") != self.config.appsecret
        ):
            return await _reply(send, 500, R.envelope("1", "EGW00103", "유효하지 않은 AppKey입니다."))
        raw = await req.body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        await _reply(send, 200, {"BODY": body, "HASH": hashlib.sha256(raw).hexdigest()}, kis_headers=False)

    def _auth_error(self, req: Request) -> tuple[str, str] | None:
        if req.headers.get("appkey") != self.config.appkey:
            return "EGW00103", "유효하지 않은 AppKey입니다."
        if req.headers.get("appsecret") != self.config.appsecret:
            return "EGW00105", "유효하지 않은 AppSecret입니다."
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return "EGW00121", "유효하지 않은 token 입니다."
        info = self._tokens.get(auth[len("Bearer ") :])
        if info is None:
            return "EGW00121", "유효하지 않은 token 입니다."
        if info["expired"] or float(info["expires_at"]) <= self._now():
            return "EGW00123", "기간이 만료된 token 입니다."
        return None

    def _rate_ok(self) -> bool:
        rate = self.config.rate
        if not rate:
            return True
        now = time.monotonic()
        with self._lock:
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= rate:
                self.rate_limited += 1
                return False
            self._window.append(now)
            return True

    # -- /uapi -------------------------------------------------------------------------------------
    async def _uapi(self, req: Request, send: Send, path: str) -> None:
        tr_id = req.headers.get("tr_id", "")
        with self._lock:
            self.calls[tr_id or path] += 1
        hdr = {"tr_id": tr_id, "tr_cont": ""}
        if self.config.latency_s:
            await asyncio.sleep(self.config.latency_s)
        if not self._rate_ok():
            return await _reply(
                send, 500, R.envelope("1", "EGW00201", "초당 거래건수를 초과하였습니다."), **hdr
            )
        fault = self._take_fault(path)
        if fault == "http500":
            return await _raw(
                send, 500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html"
            )
        if fault == "empty":
            return await _raw(send, 200, b"", "application/json; charset=UTF-8")
        if fault == "html":
            return await _raw(send, 200, b"<!DOCTYPE html><html><body>maintenance</body></html>", "text/html")
        if fault == "rate_limit":
            return await _reply(
                send, 500, R.envelope("1", "EGW00201", "초당 거래건수를 초과하였습니다."), **hdr
            )
        if fault == "ledger_limit":
            return await _reply(
                send, 500, R.envelope("1", "EGW00215", "초당 거래건수를 초과하였습니다.(원장)"), **hdr
            )
        bad = (
            ("EGW00123", "기간이 만료된 token 입니다.") if fault == "token_expired" else self._auth_error(req)
        )
        if bad:
            return await _reply(send, 500, R.envelope("1", *bad), **hdr)
        method, trs = TRS[path]
        real_tr = ("T" + tr_id[1:]) if tr_id[:1] == "V" and not tr_id.startswith("VTSC") else tr_id
        if tr_id.startswith("VTSC"):
            real_tr = "C" + tr_id[1:]
        if real_tr not in trs:
            return await _reply(send, 500, R.envelope("1", "OPSQ0002", "없는 서비스 코드 입니다"), **hdr)
        paper_tr = tr_id != real_tr
        if path != PRICE and self.config.env == "paper" and not paper_tr:
            return await _reply(send, 500, R.envelope("1", "EGW02006", "모의투자 TR 이 아닙니다."), **hdr)
        if self.config.env == "real" and paper_tr:
            return await _reply(send, 500, R.envelope("1", "OPSQ0002", "없는 서비스 코드 입니다"), **hdr)
        if req.method != method:
            return await _reply(
                send, 405, R.envelope("1", "OPSQ0001", f"{req.method} 은(는) 허용되지 않습니다"), **hdr
            )
        q = {k: v[0] for k, v in parse_qs(req.url.query, keep_blank_values=True).items()}
        body = await _json_body(req) if method == "POST" else {}
        handler = {
            BALANCE: self._balance,
            PSBL: self._psbl,
            ORDER: self._order,
            CCLD: self._ccld,
            RVSE: self._cancel,
            PRICE: self._price,
        }[path]
        status, payload, cont = handler(q if method == "GET" else body, req, real_tr)
        if fault == "timeout":
            await asyncio.sleep(self.config.timeout_sleep_s)
        if fault == "drop" or payload.pop("_drop", False):
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"Content-Type", b"application/json; charset=UTF-8"),
                        (b"Content-Length", b"512"),
                    ],
                }
            )
            raise _Drop()
        await _reply(send, status, payload, tr_id=tr_id, tr_cont=cont)

    def _account_error(self, data: dict[str, str]) -> dict[str, Any] | None:
        s = self.account.read()
        if data.get("CANO") != s["cano"] or data.get("ACNT_PRDT_CD") != s["product"]:
            return R.envelope("1", "OPSQ2000", "ERROR : INPUT INVALID_CHECK_ACNO")
        return None

    def _page(
        self, rows: list[Any], size: int, q: dict[str, str], req: Request, key: Callable[[Any], str]
    ) -> tuple[list[Any], str, dict[str, str]] | None:
        offset = 0
        if req.headers.get("tr_cont", "").strip() == "N":
            nk = q.get("CTX_AREA_NK100", "").strip()
            try:
                offset = int(nk.split("^")[-1])
            except ValueError:
                return None
        chunk = rows[offset : offset + size]
        more = offset + size < len(rows)
        cont = ("F" if offset == 0 else "M") if more else ("D" if offset == 0 else "E")
        last = key(chunk[-1]) if chunk else ""
        fk = (q.get("CANO", "") + "^" + q.get("ACNT_PRDT_CD", "") + "^").ljust(100)
        nk = (f"{last}^{offset + size}" if more else "").ljust(100)
        return chunk, cont, {"ctx_area_fk100": fk, "ctx_area_nk100": nk}

    def _balance(self, q: dict[str, str], req: Request, tr: str) -> tuple[int, dict[str, Any], str]:
        if err := self._account_error(q):
            return 500, err, ""
        s = self.account.read()
        holdings = self.account.holdings()
        today = R.today_orders(s["orders"], self.account.clock().astimezone(R.KST).date())
        size = self.config.balance_page_size or (50 if self.config.env == "real" else 20)
        page = self._page(holdings, size, q, req, key=lambda h: h["ticker"])
        if page is None:
            return 500, R.envelope("1", "OPSQ1002", "연속조회 키가 올바르지 않습니다"), ""
        chunk, cont, ctx = page
        if self._take_balance_fault():
            # success, no rows, "last page" - while the summary still counts the securities
            chunk, cont = [], "D"
            ctx = {**ctx, "ctx_area_nk100": "".ljust(100)}
        msg = (
            ("KIOK0510", "조회가 완료되었습니다")
            if cont in ("D", "E")
            else ("KIOK0500", "조회가 계속됩니다..")
        )
        return (
            200,
            R.envelope(
                "0",
                *msg,
                **ctx,
                output1=[R.balance_row(h, today) for h in chunk],
                output2=[R.balance_summary(s, holdings, today)],
            ),
            cont,
        )

    def _take_balance_fault(self) -> bool:
        """The account file's ``balance_rows_missing`` fault: N balance reads answer without rows."""
        hit = False

        def take(st: dict[str, Any]) -> None:
            nonlocal hit
            n = int(st["faults"].get("balance_rows_missing", 0) or 0)
            if n > 0:
                st["faults"]["balance_rows_missing"] = n - 1
                hit = True

        if int(self.account.read()["faults"].get("balance_rows_missing", 0) or 0) > 0:
            self.account.update(take)
        return hit

    def _psbl(self, q: dict[str, str], req: Request, tr: str) -> tuple[int, dict[str, Any], str]:
        if err := self._account_error(q):
            return 500, err, ""
        pdno = q.get("PDNO", "")
        price = int(q["ORD_UNPR"]) if q.get("ORD_UNPR", "").isdigit() else (self.account.price(pdno) or 0)
        out = R.psbl_output(self.account.orderable_cash(), price if pdno else 0)
        return 200, R.envelope("0", "KIOK0510", "조회가 완료되었습니다", output=out), ""

    def _price(self, q: dict[str, str], req: Request, tr: str) -> tuple[int, dict[str, Any], str]:
        code = q.get("FID_INPUT_ISCD", "")
        if q.get("FID_COND_MRKT_DIV_CODE") not in ("J", "NX", "UN"):
            return 200, R.envelope("1", "OPSQ2001", "ERROR : INPUT FIELD FID_COND_MRKT_DIV_CODE"), ""
        out = R.price_output(code, self.account.price(code) or 0, self.account.name(code))
        return 200, R.envelope("0", "MCA00000", "정상처리 되었습니다.", output=out), ""

    def _ccld(self, q: dict[str, str], req: Request, tr: str) -> tuple[int, dict[str, Any], str]:
        if err := self._account_error(q):
            return 500, err, ""
        start, end = q.get("INQR_STRT_DT", ""), q.get("INQR_END_DT", "")
        if not (start.isdigit() and end.isdigit() and len(start) == len(end) == 8):
            return 200, R.envelope("1", "OPSQ2001", "ERROR : INPUT FIELD INQR_STRT_DT"), ""
        side = {"01": "sell", "02": "buy"}.get(q.get("SLL_BUY_DVSN_CD", "00"))
        pdno, odno, ccld = q.get("PDNO", ""), q.get("ODNO", "").strip(), q.get("CCLD_DVSN", "00")
        rows = []
        for o in self.account.listed_orders():  # list_lag_s applies
            d = R.kst(o["placed_at"]).strftime("%Y%m%d")
            if not start <= d <= end or side and o["side"] != side or pdno and o["ticker"] != pdno:
                continue
            if odno and o["odno"] != odno.zfill(10):
                continue
            if ccld == "01" and o["filled_qty"] <= 0 or ccld == "02" and o["remaining"] <= 0:
                continue
            rows.append(o)
        if q.get("INQR_DVSN", "00") == "00":
            rows.reverse()
        size = self.config.ccld_page_size or (100 if self.config.env == "real" else 15)
        page = self._page(rows, size, q, req, key=lambda o: o["odno"])
        if page is None:
            return 500, R.envelope("1", "OPSQ1002", "연속조회 키가 올바르지 않습니다"), ""
        chunk, cont, ctx = page
        return (
            200,
            R.envelope(
                "0",
                "KIOK0510" if cont in ("D", "E") else "KIOK0500",
                "조회가 완료되었습니다",
                **ctx,
                output1=[R.ccld_row(o) for o in chunk],
                output2=R.ccld_summary(rows),
            ),
            cont,
        )

    def _order(self, b: dict[str, str], req: Request, tr: str) -> tuple[int, dict[str, Any], str]:
        if err := self._account_error(b):
            return 500, err, ""
        need = ("PDNO", "ORD_DVSN", "ORD_QTY", "ORD_UNPR")
        if (
            any(not isinstance(b.get(k), str) for k in need)
            or not b["ORD_QTY"].isdigit()
            or not b["ORD_UNPR"].isdigit()
        ):
            return 200, R.envelope("1", "OPSQ2001", "ERROR : INPUT FIELD (문자열 숫자 필드 확인)"), ""
        if b["ORD_DVSN"] not in ("00", "01"):
            return 200, R.envelope("1", "APBK1234", "시뮬레이터는 지정가(00)/시장가(01)만 지원합니다"), ""
        side = "sell" if tr in SELL_TRS else "buy"
        try:
            out = self.account.place(side, b["PDNO"], int(b["ORD_QTY"]), b["ORD_DVSN"], int(b["ORD_UNPR"]))
        except SimRejected as exc:
            return 200, R.envelope("1", exc.code, exc.message), ""
        o = out.order
        paper = self.config.env == "paper"
        odno = str(int(o["odno"])) if paper else o["odno"]
        kind = "매도" if side == "sell" else "매수"
        msg = (
            ("40600000", f"모의투자 {kind}주문이 완료 되었습니다.")
            if paper
            else ("APBK0013", "주문 전송 완료 되었습니다.")
        )
        env = R.envelope(
            "0",
            *msg,
            output={
                "KRX_FWDG_ORD_ORGNO": o["org_no"],
                "ODNO": odno,
                "ORD_TMD": R.kst(o["placed_at"]).strftime("%H%M%S"),
            },
        )
        if out.reply_lost:
            env["_drop"] = True
        return 200, env, ""

    def _cancel(self, b: dict[str, str], req: Request, tr: str) -> tuple[int, dict[str, Any], str]:
        if err := self._account_error(b):
            return 500, err, ""
        if b.get("RVSE_CNCL_DVSN_CD") != "02":
            return 200, R.envelope("1", "APBK1234", "시뮬레이터는 취소(02)만 지원합니다"), ""
        qty = None if b.get("QTY_ALL_ORD_YN", "Y") == "Y" else int(b.get("ORD_QTY") or 0)
        try:
            o = self.account.cancel(str(b.get("ORGN_ODNO", "")), qty)
        except SimRejected as exc:
            return 200, R.envelope("1", exc.code, exc.message), ""
        holder: dict[str, str] = {}

        def new_no(s: dict[str, Any]) -> None:
            holder["odno"] = f"{s['next_odno']:010d}"
            s["next_odno"] += 1

        self.account.update(new_no)
        msg = (
            ("40640000", "모의투자 취소주문이 완료 되었습니다.")
            if self.config.env == "paper"
            else ("APBK0013", "주문 전송 완료 되었습니다.")
        )
        return (
            200,
            R.envelope(
                "0",
                *msg,
                output={
                    "KRX_FWDG_ORD_ORGNO": o["org_no"],
                    "ODNO": holder["odno"],
                    "ORD_TMD": self.account.clock().astimezone(R.KST).strftime("%H%M%S"),
                },
            ),
            "",
        )


# ------------------------------------------------------------------------------ wire helpers
def _jwt(now: float, ttl: int) -> str:
    def b64(d: bytes) -> str:
        return base64.urlsafe_b64encode(d).rstrip(b"=").decode()

    head = b64(json.dumps({"typ": "JWT", "alg": "HS512"}).encode())
    claims = b64(
        json.dumps(
            {
                "sub": "token",
                "aud": secrets.token_hex(16),
                "prdt_cd": "",
                "iss": "unogw",
                "exp": int(now + ttl),
                "iat": int(now),
                "jti": secrets.token_hex(8),
            }
        ).encode()
    )
    return f"{head}.{claims}.{b64(secrets.token_bytes(64))}"


async def _json_body(req: Request) -> dict[str, Any]:
    try:
        body = json.loads(await req.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _raw(
    send: Send, status: int, body: bytes, ctype: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"Content-Type", ctype.encode()),
        (b"Content-Length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _reply(
    send: Send,
    status: int,
    payload: dict[str, Any],
    *,
    kis_headers: bool = True,
    tr_id: str = "",
    tr_cont: str = "",
) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    extra = (
        [
            (b"tr_id", tr_id.encode()),
            (b"tr_cont", tr_cont.encode()),
            (b"gt_uid", secrets.token_hex(16).encode()),
        ]
        if kis_headers
        else []
    )
    await _raw(send, status, body, "application/json; charset=UTF-8", extra)


# ------------------------------------------------------------------------------ running it
class SimulatorServer:
    """The simulator under uvicorn (h11, so header casing survives) on a loopback port, in a thread."""

    def __init__(
        self,
        account_path: str | Path,
        config: SimulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "critical",
        clock: Callable[[], datetime] | None = None,
        session: SimSession = "always-open",
    ) -> None:
        self.account = SimAccount(account_path, clock=clock, session=session)
        self.simulator = KisSimulator(self.account, config)
        self._config = uvicorn.Config(
            self.simulator,
            host=host,
            port=port,
            http="h11",
            lifespan="off",
            log_level=log_level,
            access_log=False,
            server_header=False,
            date_header=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.run, name="kis-simulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the KIS simulator did not start")
            time.sleep(0.01)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_simulator(
    account_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    config: SimulatorConfig | None = None,
    ready: Callable[[str, SimulatorConfig], None] | None = None,
    *,
    session: SimSession = "always-open",
    clock: Callable[[], datetime] | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C). ``ready(url, config)`` is called once it listens."""
    cfg = config or SimulatorConfig()
    server = SimulatorServer(account_path, cfg, host=host, port=port, log_level="warning", session=session,
                             clock=clock)
    url = server.start()
    if ready:
        ready(url, cfg)
    try:
        while server._thread and server._thread.is_alive():
            server._thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def main(account_path: str, port: int = 0, env: str = "paper", session: SimSession = "always-open",
         clock: Callable[[], datetime] | None = None) -> None:
    """Start the simulator standalone, print its URL and the (fake) test credentials."""
    if not Path(account_path).exists():
        SimAccount.demo(account_path)
    cfg = SimulatorConfig(env="real" if env == "real" else "paper")

    def ready(url: str, c: SimulatorConfig) -> None:
        acct = SimAccount(account_path).read()
        print(f"KIS simulator ({c.env}) listening on {url}  (Ctrl-C to stop)")
        print(
            f"  appkey    {c.appkey}\n  appsecret {c.appsecret}\n  account   {acct['cano']}-{acct['product']}"
        )
        print(f"  rate limit {c.rate:g} req/s; account file {account_path}")
        market = ("always open" if session == "always-open"
                  else "the KRX session (XKRX calendar, 09:00-15:30 KST) on its own clock")
        print(f"  market    {market} (--session always-open|krx)", flush=True)

    serve_simulator(account_path, port=port, config=cfg, ready=ready, session=session, clock=clock)


if __name__ == "__main__":  # pragma: no cover
    import sys

    main(
        sys.argv[1] if len(sys.argv) > 1 else "sim_account.json", int(sys.argv[2]) if len(sys.argv) > 2 else 0
    )

"""The Broker port over the KIS REST API (:class:`KisBroker`), real or paper, or the simulator.

The caller (the composition root) builds the ``httpx.Client`` and passes it in, so tests swap the
transport (``httpx.MockTransport``, a cassette, the simulator) without touching this code. The wire
rules - retries, token reissue, paging, and why an order send is never retried - are in
:mod:`adapters.kis.client`; reading replies into models in :mod:`adapters.kis.parse`; the error
types in :mod:`adapters.kis.errors`.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import httpx

from adapters.clock import SystemClock
from adapters.kis.auth import TokenProvider
from adapters.kis.client import KisClient
from adapters.kis.config import KisConfig
from adapters.kis.errors import KisRetryable
from adapters.kis.fields import KST, kst_time, num_int, object_of, rows_of
from adapters.kis.parse import KisInconsistentBalance, order_of, snapshot_of
from adapters.kis.rate_limit import RateLimiter
from adapters.kis.retry import retrying
from statemachine.errors import BrokerError, OrderOutcomeUnknown, OrderRejected
from statemachine.models import BrokerOrder, PlaceResult, Quote, Side, Snapshot
from statemachine.ports import Broker

__all__ = ["KST", "KisBroker", "KisClient", "KisInconsistentBalance"]
log = logging.getLogger("rebalance.kis")
TICKER_RE = re.compile(r"^[0-9A-Z]{6,7}$")

P_BALANCE = "/uapi/domestic-stock/v1/trading/inquire-balance"
P_PSBL = "/uapi/domestic-stock/v1/trading/inquire-psbl-order"
P_ORDER = "/uapi/domestic-stock/v1/trading/order-cash"
P_CCLD = "/uapi/domestic-stock/v1/trading/inquire-daily-ccld"
P_RVSE = "/uapi/domestic-stock/v1/trading/order-rvsecncl"
P_ASKING_PRICE = "/uapi/domestic-stock/v1/quotations/inquire-asking-price-exp-ccn"
P_PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"


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
        now: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._now = now or SystemClock().now
        self.client = KisClient(config, http, limiter=limiter, tokens=tokens, sleep=sleep,
                                wall_clock=lambda: self._now().timestamp())
        self.config = config
        self.alias = alias or config.masked_account
        self._sleep = sleep

    @property
    def calls(self) -> Counter[str]:
        return self.client.calls

    def _acct(self) -> dict[str, str]:
        return {"CANO": self.config.cano, "ACNT_PRDT_CD": self.config.product}

    def _tr(self, current: str, legacy: str | None = None) -> str:
        return self.config.tr(legacy if self.config.legacy_tr and legacy else current)

    # -- reads -------------------------------------------------------------------------------------
    def balance(self) -> Snapshot:
        """Holdings and cash, every page, and only a snapshot that adds up: the rows must match the
        reply's own summary (docs/domain.md section 8). One that does not (say, success with no rows while
        ``output2`` counts 79,960,000 KRW of securities) is read again under the read retry policy,
        and never returned as an emptier account."""
        policy = self.client.config.retry

        def reading_again(exc: KisRetryable, delay: float, attempt: int) -> None:
            log.warning("%s; reading again (attempt %d/%d)", exc.message, attempt, policy.attempts)

        return retrying(
            policy,
            self._sleep,
            self._balance_once,
            retry_on=KisInconsistentBalance,
            gave_up=lambda n, exc: f"inquire-balance: gave up after {n} reads; last: {exc.message}",
            retrying_in=reading_again,
        )

    def _balance_once(self) -> Snapshot:
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
        return snapshot_of(pages, what)

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

    def quote(self, ticker: str) -> Quote:
        """Best bid/ask from the order-book TR (FHKST01010200, ``askp1``/``bidp1``) and the day's
        limits from inquire-price (``stck_mxpr``/``stck_llam``/``stck_sdpr``): two calls."""
        what = f"inquire-asking-price-exp-ccn {ticker}"
        params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": ticker}
        body, _ = self.client.get(P_ASKING_PRICE, "FHKST01010200", params, what=what)
        book = object_of(body, "output1", what)
        bid, ask = num_int(book, "bidp1", what), num_int(book, "askp1", what)
        what = f"inquire-price {ticker}"
        body, _ = self.client.get(P_PRICE, "FHKST01010100", params, what=what)
        px = object_of(body, "output", what)
        q = Quote(ticker=ticker, bid=bid, ask=ask, last=num_int(px, "stck_prpr", what),
                  upper=num_int(px, "stck_mxpr", what), lower=num_int(px, "stck_llam", what),
                  base=num_int(px, "stck_sdpr", what))
        if q.bid <= 0 and q.ask <= 0 and q.last <= 0:
            raise BrokerError(f"{what}: no bid, ask or last price", code="NO_PRICE", ticker=ticker)
        return q

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
                o = order_of(row, what)
                if o is not None:
                    out.append(o)
        return out

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

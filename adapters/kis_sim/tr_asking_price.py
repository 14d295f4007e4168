"""The order-book TR (``inquire-asking-price-exp-ccn``, FHKST01010200 on both hosts): ten ask and ten
bid levels of the simulated book (:mod:`adapters.sim.book`) with their sizes, and the expected-match
block.

Field names are the broker's published list (``koreainvestment/open-trading-api``,
``examples_llm/domestic_stock/inquire_asking_price_exp_ccn/chk_inquire_asking_price_exp_ccn.py``,
"주식현재가 호가/예상체결 [v1_국내주식-011]"): ``output1`` the book (object), ``output2`` the
expected match (object). Which field belongs to which output block is read from the order of
that list (the book fields, then from ``antc_mkop_cls_code`` on, the expected match): unconfirmed.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.fields import asking_price as F
from adapters.kis_sim.fields import shape
from adapters.kis_sim.tr_common import Reply
from adapters.sim import book
from adapters.sim.account import SimAccount
from statemachine.ticks import step_ticks

LEVELS = F.LEVELS
#: the size shown for a level of unlimited depth
DEEP = 999_999


def _levels(s: dict[str, Any], ticker: str) -> tuple[list[int], list[int], int]:
    bid, ask = book.top(s, ticker)
    _, depth = book.params(s, ticker)
    k = book.kind(s, ticker)
    lower, upper = book.limits(s, ticker)
    asks, bids = [], []
    a, b = ask, bid
    for _ in range(LEVELS):
        asks.append(a if a and a <= upper else 0)
        bids.append(b if b and b >= lower else 0)
        a, b = step_ticks(a, 1, k) if a else 0, step_ticks(b, -1, k) if b > 1 else 0
    return asks, bids, depth or DEEP


def book_output(s: dict[str, Any], ticker: str, hhmmss: str) -> dict[str, str]:
    asks, bids, size = _levels(s, ticker)
    out: dict[str, str] = {"aspr_acpt_hour": hhmmss}
    for i in range(LEVELS):
        out[f"askp{i + 1}"] = str(asks[i])
    for i in range(LEVELS):
        out[f"bidp{i + 1}"] = str(bids[i])
    for i in range(LEVELS):
        out[f"askp_rsqn{i + 1}"] = str(size if asks[i] else 0)
    for i in range(LEVELS):
        out[f"bidp_rsqn{i + 1}"] = str(size if bids[i] else 0)
    for side in ("askp", "bidp"):
        for i in range(LEVELS):
            out[f"{side}_rsqn_icdc{i + 1}"] = "0"
    total_ask = sum(size for a in asks if a)
    total_bid = sum(size for b in bids if b)
    out.update({
        "total_askp_rsqn": str(total_ask), "total_bidp_rsqn": str(total_bid), "total_askp_rsqn_icdc": "0",
        "total_bidp_rsqn_icdc": "0", "ovtm_total_askp_icdc": "0", "ovtm_total_bidp_icdc": "0",
        "ovtm_total_askp_rsqn": "0", "ovtm_total_bidp_rsqn": "0", "ntby_aspr_rsqn": str(total_bid - total_ask),
        "new_mkop_cls_code": "20",  # unconfirmed: the continuous session's code
    })
    return out


def match_output(s: dict[str, Any], ticker: str) -> dict[str, str]:
    q = book.quote(s, ticker)
    last = str(q["last"])
    return {
        "antc_mkop_cls_code": "", "stck_prpr": last, "stck_oprc": last, "stck_hgpr": last, "stck_lwpr": last,
        "stck_sdpr": str(q["base"]), "antc_cnpr": "0", "antc_cntg_vrss_sign": "3", "antc_cntg_vrss": "0",
        "antc_cntg_prdy_ctrt": "0.00", "antc_vol": "0", "stck_shrn_iscd": ticker, "vi_cls_code": "N",
    }


def asking_price(account: SimAccount, config: SimulatorConfig, q: dict[str, Any], req: Request, tr: str) -> Reply:
    code = q.get("FID_INPUT_ISCD", "")
    if q.get("FID_COND_MRKT_DIV_CODE") not in ("J", "NX", "UN"):
        return 200, R.envelope("1", "OPSQ2001", "ERROR : INPUT FIELD FID_COND_MRKT_DIV_CODE"), ""
    s = account.read()
    if not s["prices"].get(code):
        return 200, R.envelope("1", "OPSQ2001", "ERROR : INPUT FIELD FID_INPUT_ISCD"), ""
    hhmmss = R.kst(account.broker_now(s).isoformat()).strftime("%H%M%S")
    return 200, R.envelope("0", "MCA00000", "정상처리 되었습니다.",
                           output1=shape(F.OUTPUT1, book_output(s, code, hhmmss)),
                           output2=shape(F.OUTPUT2, match_output(s, code))), ""

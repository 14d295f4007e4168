"""The cancellable-orders TR (``inquire-psbl-rvsecncl``, TTTC0084R, legacy TTTC8036R; real host
only): today's orders with an open remainder, 50 a page, the broker's field list
(:mod:`adapters.kis_sim.fields.psbl_rvsecncl`). ``INQR_DVSN_2`` 0 all / 1 sell / 2 buy;
``INQR_DVSN_1`` 0 by order number / 1 by product."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.fields import psbl_rvsecncl as F
from adapters.kis_sim.fields import shape
from adapters.kis_sim.tr_common import Reply, account_error, page
from adapters.sim.account import SimAccount


def row(o: dict[str, Any]) -> dict[str, str]:
    market = o.get("order_type", "01") == "01"
    return {
        "ord_gno_brno": o.get("org_no", "00950"),
        "odno": o["odno"],
        "orgn_odno": "",
        "ord_dvsn_name": "시장가" if market else "지정가",
        "pdno": o["ticker"],
        "prdt_name": o.get("name", ""),
        "rvse_cncl_dvsn_name": "",  # an original order (neither an amendment nor a cancel)
        "ord_qty": str(o["qty"]),
        "ord_unpr": str(o.get("price", 0)),
        "ord_tmd": R.kst(o["placed_at"]).strftime("%H%M%S"),
        "tot_ccld_qty": str(o["filled_qty"]),
        "tot_ccld_amt": str(o["amount"]),
        "psbl_qty": str(o["remaining"]),
        "sll_buy_dvsn_cd": "01" if o["side"] == "sell" else "02",
        "ord_dvsn_cd": o.get("order_type", "01"),
        "mgco_aptm_odno": "",
        "excg_dvsn_cd": "02",
        "excg_id_dvsn_cd": "KRX",
        "excg_id_dvsn_name": "KRX",
        "stpm_cndt_pric": "0",
        "stpm_efct_occr_yn": "N",
    }


def psbl_rvsecncl(account: SimAccount, config: SimulatorConfig, q: dict[str, Any], req: Request, tr: str) -> Reply:
    if err := account_error(account, q):
        return 500, err, ""
    by, side = q.get("INQR_DVSN_1", "0"), {"1": "sell", "2": "buy"}.get(q.get("INQR_DVSN_2", "0"))
    today = account.clock().astimezone(R.KST).date()
    rows = [o for o in R.today_orders(account.listed_orders(), today)
            if o["remaining"] > 0 and (not side or o["side"] == side)]
    rows.sort(key=(lambda o: (o["ticker"], o["odno"])) if by == "1" else (lambda o: o["odno"]))
    pg = page(rows, config.psbl_rvsecncl_page_size, q, req, key=lambda o: o["odno"], first=config.first_page_tr_cont)
    if pg is None:
        return 500, R.envelope("1", "OPSQ1002", "연속조회 키가 올바르지 않습니다"), ""
    chunk, cont, ctx = pg
    msg = ("KIOK0510", "조회가 완료되었습니다") if cont in ("D", "E") else ("KIOK0500", "조회가 계속됩니다..")
    return 200, R.envelope("0", *msg, **ctx, output=[shape(F.OUTPUT, row(o)) for o in chunk]), cont

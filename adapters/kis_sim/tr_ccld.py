"""The daily order list TR (``inquire-daily-ccld``: TTTC0081R / TTTC8001R within 3 months,
CTSC9215R / CTSC9115R before; paper with a leading V): the orders the broker lists now
(``list_lag_s`` applies), filtered, in pages (100 real / 15 paper)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.fields import ccld as F
from adapters.kis_sim.fields import shape
from adapters.kis_sim.tr_common import Reply, account_error, page
from adapters.sim.account import SimAccount


def ccld(account: SimAccount, config: SimulatorConfig, q: dict[str, Any], req: Request, tr: str) -> Reply:
    if err := account_error(account, q):
        return 500, err, ""
    start, end = q.get("INQR_STRT_DT", ""), q.get("INQR_END_DT", "")
    if not (start.isdigit() and end.isdigit() and len(start) == len(end) == 8):
        return 200, R.envelope("1", "OPSQ2001", "ERROR : INPUT FIELD INQR_STRT_DT"), ""
    side = {"01": "sell", "02": "buy"}.get(q.get("SLL_BUY_DVSN_CD", "00"))
    pdno, odno, ccld = q.get("PDNO", ""), q.get("ODNO", "").strip(), q.get("CCLD_DVSN", "00")
    rows = []
    for o in account.listed_orders():  # list_lag_s applies
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
    size = config.ccld_page_size or (100 if config.env == "real" else 15)
    pg = page(rows, size, q, req, key=lambda o: o["odno"], first=config.first_page_tr_cont)
    if pg is None:
        return 500, R.envelope("1", "OPSQ1002", "연속조회 키가 올바르지 않습니다"), ""
    chunk, cont, ctx = pg
    return (
        200,
        R.envelope(
            "0",
            "KIOK0510" if cont in ("D", "E") else "KIOK0500",
            "조회가 완료되었습니다",
            **ctx,
            output1=[shape(F.OUTPUT1, R.ccld_row(o)) for o in chunk],
            output2=shape(F.OUTPUT2, R.ccld_summary(rows)),
        ),
        cont,
    )

"""The balance inquiry TR (``inquire-balance``, TTTC8434R / VTTC8434R): holdings rows in pages
(50 real / 20 paper) and the account summary; the ``balance_rows_missing`` fault answers a page
without its rows."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.faults import take_balance_fault
from adapters.kis_sim.fields import balance as F
from adapters.kis_sim.fields import shape
from adapters.kis_sim.tr_common import Reply, account_error, page
from adapters.sim.account import SimAccount


def balance(account: SimAccount, config: SimulatorConfig, q: dict[str, Any], req: Request, tr: str) -> Reply:
    if err := account_error(account, q):
        return 500, err, ""
    s = account.read()
    holdings = account.holdings()
    today = R.today_orders(s["orders"], account.clock().astimezone(R.KST).date())
    size = config.balance_page_size or (50 if config.env == "real" else 20)
    pg = page(holdings, size, q, req, key=lambda h: h["ticker"], first=config.first_page_tr_cont)
    if pg is None:
        return 500, R.envelope("1", "OPSQ1002", "연속조회 키가 올바르지 않습니다"), ""
    chunk, cont, ctx = pg
    if take_balance_fault(account):
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
            output1=[shape(F.OUTPUT1, R.balance_row(h, today)) for h in chunk],
            output2=[shape(F.OUTPUT2, R.balance_summary(s, holdings, today))],
        ),
        cont,
    )

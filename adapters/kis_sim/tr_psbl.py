"""The orderable-cash TR (``inquire-psbl-order``, TTTC8908R / VTTC8908R)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.fields import psbl as F
from adapters.kis_sim.fields import shape
from adapters.kis_sim.tr_common import Reply, account_error
from adapters.sim.account import SimAccount


def psbl(account: SimAccount, config: SimulatorConfig, q: dict[str, Any], req: Request, tr: str) -> Reply:
    if err := account_error(account, q):
        return 500, err, ""
    pdno = q.get("PDNO", "")
    # a blank or "0" unit price (a market order, ORD_DVSN 01) is priced at the current price
    unpr = q.get("ORD_UNPR", "").strip()
    price = int(unpr) if unpr.isdigit() and int(unpr) > 0 else (account.price(pdno) or 0)
    out = shape(F.OUTPUT, R.psbl_output(account.orderable_cash(), price if pdno else 0))
    return 200, R.envelope("0", "KIOK0510", "조회가 완료되었습니다", output=out), ""

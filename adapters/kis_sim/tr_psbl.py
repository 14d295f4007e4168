"""The orderable-cash TR (``inquire-psbl-order``, TTTC8908R / VTTC8908R)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.tr_common import Reply, account_error
from adapters.sim.account import SimAccount


def psbl(account: SimAccount, config: SimulatorConfig, q: dict[str, Any], req: Request, tr: str) -> Reply:
    if err := account_error(account, q):
        return 500, err, ""
    pdno = q.get("PDNO", "")
    price = int(q["ORD_UNPR"]) if q.get("ORD_UNPR", "").isdigit() else (account.price(pdno) or 0)
    out = R.psbl_output(account.orderable_cash(), price if pdno else 0)
    return 200, R.envelope("0", "KIOK0510", "조회가 완료되었습니다", output=out), ""

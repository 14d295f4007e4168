"""The cancel / revise TR (``order-rvsecncl``, TTTC0803U / TTTC0013U; paper with a leading V):
cancels only (``RVSE_CNCL_DVSN_CD`` 02), of all or part of the remaining quantity; the cancel
gets an order number of its own. Its ``output`` carries the broker's lowercase field names and the
UPPERCASE ones of recorded replies (:mod:`adapters.kis_sim.fields.order`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.fields import order as F
from adapters.kis_sim.fields import shape
from adapters.kis_sim.tr_common import Reply, account_error
from adapters.sim.account import SimAccount, SimRejected


def cancel(account: SimAccount, config: SimulatorConfig, b: dict[str, Any], req: Request, tr: str) -> Reply:
    if err := account_error(account, b):
        return 500, err, ""
    if b.get("RVSE_CNCL_DVSN_CD") != "02":
        return 200, R.envelope("1", "APBK1234", "시뮬레이터는 취소(02)만 지원합니다"), ""
    qty = None if b.get("QTY_ALL_ORD_YN", "Y") == "Y" else int(b.get("ORD_QTY") or 0)
    try:
        o = account.cancel(str(b.get("ORGN_ODNO", "")), qty)
    except SimRejected as exc:
        return 200, R.envelope("1", exc.code, exc.message), ""
    holder: dict[str, str] = {}

    def new_no(s: dict[str, Any]) -> None:
        holder["odno"] = f"{s['next_odno']:010d}"
        s["next_odno"] += 1

    account.update(new_no)
    out = {
        "KRX_FWDG_ORD_ORGNO": o["org_no"],
        "ODNO": holder["odno"],
        "ORD_TMD": account.clock().astimezone(R.KST).strftime("%H%M%S"),
    }
    msg = (
        ("40640000", "모의투자 취소주문이 완료 되었습니다.")
        if config.env == "paper"
        else ("APBK0013", "주문 전송 완료 되었습니다.")
    )
    return (
        200,
        R.envelope(
            "0",
            *msg,
            output=shape(F.RVSECNCL_OUTPUT, {**out, **{k.lower(): v for k, v in out.items()}}),
        ),
        "",
    )

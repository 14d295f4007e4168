"""The cash order TR (``order-cash``: sell TTTC0801U / TTTC0011U, buy TTTC0802U / TTTC0012U;
paper with a leading V): limit (00) and market (01) orders placed on the account. A lost reply
(``lose_reply_rate``, ``accept_delay_s``) is marked ``_drop`` for the server to drop."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.gateway import SELL_TRS
from adapters.kis_sim.tr_common import Reply, account_error
from adapters.sim.account import SimAccount, SimRejected


def order(account: SimAccount, config: SimulatorConfig, b: dict[str, Any], req: Request, tr: str) -> Reply:
    if err := account_error(account, b):
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
        out = account.place(side, b["PDNO"], int(b["ORD_QTY"]), b["ORD_DVSN"], int(b["ORD_UNPR"]))
    except SimRejected as exc:
        return 200, R.envelope("1", exc.code, exc.message), ""
    o = out.order
    paper = config.env == "paper"
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

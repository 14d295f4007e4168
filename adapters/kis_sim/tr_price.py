"""The current-price TR (``inquire-price``, FHKST01010100 on both hosts): every field of the
broker's list (:mod:`adapters.kis_sim.fields.price`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.fields import price as F
from adapters.kis_sim.fields import shape
from adapters.kis_sim.tr_common import Reply
from adapters.sim.account import SimAccount
from statemachine.ticks import tick_size


def price(account: SimAccount, config: SimulatorConfig, q: dict[str, Any], req: Request, tr: str) -> Reply:
    code = q.get("FID_INPUT_ISCD", "")
    if q.get("FID_COND_MRKT_DIV_CODE") not in ("J", "NX", "UN"):
        return 200, R.envelope("1", "OPSQ2001", "ERROR : INPUT FIELD FID_COND_MRKT_DIV_CODE"), ""
    last = account.price(code) or 0
    out = R.price_output(code, last, account.name(code))
    if quote := account.quote(code):  # the day's limits and tick as the simulated exchange enforces them
        out.update(stck_mxpr=str(quote["upper"]), stck_llam=str(quote["lower"]), stck_sdpr=str(quote["base"]),
                   aspr_unit=str(tick_size(quote["last"], account.kind(code))))
    today = account.clock().astimezone(R.KST).date()
    out = shape(F.OUTPUT, {**out, **R.price_history(last, int(out["aspr_unit"]), today)})
    return 200, R.envelope("0", "MCA00000", "정상처리 되었습니다.", output=out), ""

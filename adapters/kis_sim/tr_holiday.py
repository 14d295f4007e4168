"""The holiday-calendar TR (``chk-holiday``, CTCA0903R, 국내휴장일조회; real host only): from
``BASS_DT`` on, one row per calendar day (:data:`DAYS`, one page), answered from the simulator's
own market session: the XKRX calendar for ``session="krx"`` (a day it cannot answer counts as
closed), every day open for ``"always-open"``. Fields: :mod:`adapters.kis_sim.fields.holiday`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.fields import holiday as F
from adapters.kis_sim.fields import shape
from adapters.kis_sim.tr_common import Reply
from adapters.sim.account import SimAccount

DAYS = 28  # rows per answer (how many the broker sends is unconfirmed)


def trading_day(account: SimAccount, day: date) -> bool:
    if account.session == "always-open":
        return True
    from adapters.scheduler.calendar import XKRX

    return XKRX.status(datetime.combine(day, time(12, 0), R.KST)).trading_day


def row(account: SimAccount, day: date) -> dict[str, str]:
    yn = "Y" if trading_day(account, day) else "N"
    return {
        "bass_dt": day.strftime("%Y%m%d"),
        "wday_dvsn_cd": f"{(day.isoweekday() % 7) + 1:02d}",  # 01 Sunday .. 07 Saturday
        "bzdy_yn": yn,
        "tr_day_yn": yn,
        "opnd_yn": yn,
        "sttl_day_yn": yn,
    }


def holiday(account: SimAccount, config: SimulatorConfig, q: dict[str, Any], req: Request, tr: str) -> Reply:
    bass = q.get("BASS_DT", "").strip()
    try:
        start = datetime.strptime(bass, "%Y%m%d").date()
    except ValueError:
        return 200, R.envelope("1", "OPSQ2001", "ERROR : INPUT FIELD BASS_DT"), ""
    rows = [shape(F.OUTPUT, row(account, start + timedelta(days=i))) for i in range(DAYS)]
    return (
        200,
        R.envelope("0", "KIOK0510", "조회가 완료되었습니다", ctx_area_fk="".ljust(20), ctx_area_nk="".ljust(20),
                   output=rows),
        "D",
    )

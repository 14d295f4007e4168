"""The product-info TR (``search-info``, CTPF1604R, 상품기본조회; real host only): the broker's
field list (:mod:`adapters.kis_sim.fields.search_info`) for an instrument the account knows."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.fields import search_info as F
from adapters.kis_sim.fields import shape
from adapters.kis_sim.tr_common import Reply
from adapters.sim.account import SimAccount


def isin(code: str) -> str:
    """The ISIN of a KRX share code: ``KR7`` + code + ``00`` + the Luhn check digit over the
    characters turned into numbers (A=10 .. Z=35), as ISO 6166 defines it."""
    body = f"KR7{code}00"
    digits = "".join(str(int(c, 36)) for c in body)
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n // 10 + n % 10
    return body + str((10 - total % 10) % 10)


def search_info(account: SimAccount, config: SimulatorConfig, q: dict[str, Any], req: Request, tr: str) -> Reply:
    pdno, kind = q.get("PDNO", "").strip(), q.get("PRDT_TYPE_CD", "").strip()
    if not pdno or not kind:
        return 200, R.envelope("1", "OPSQ2001", "ERROR : INPUT FIELD " + ("PDNO" if not pdno else "PRDT_TYPE_CD")), ""
    if not account.price(pdno):
        return 200, R.envelope("7", "KIOK0560", "조회할 내용이 없습니다"), ""
    out = {
        "pdno": pdno,
        "prdt_type_cd": kind,
        "std_pdno": isin(pdno) if len(pdno) == 6 and pdno.isalnum() else pdno,
        "shtn_pdno": "A" + pdno,
        "prdt_sale_stat_cd": "",
        "prdt_risk_grad_cd": "",
        "prdt_clsf_cd": "",
        "sale_strt_dt": "",
        "sale_end_dt": "",
        "wrap_asst_type_cd": "",
        "ivst_prdt_type_cd": "",
        "frst_erlm_dt": "20200102",
    }
    return 200, R.envelope("0", "KIOK0000", "정상처리 되었습니다.", output=shape(F.OUTPUT, out)), ""

"""What the TR handlers of the simulator share: their signature, the account-number check and
continuation paging.

Continuation as the broker documents it (docs/kis.md section 3; the portal's request header
``tr_cont``: "N: 다음 데이터 조회 (output header의 tr_cont가 M일 경우)"): a page followed by more
answers response header ``tr_cont`` "M" ("F" on the first page with ``first_page_tr_cont="F"``:
the documents name both for "more"; the broker's samples test ``in ["M", "F"]``, 50 of them only
``== "M"``), the last page "D" (the only page) or "E" (after continuation); the body carries
``ctx_area_fk100`` / ``ctx_area_nk100`` (100 characters, space-padded), which the client passes
back as ``CTX_AREA_FK100`` / ``CTX_AREA_NK100`` with request header ``tr_cont: N``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.sim.account import SimAccount

Reply = tuple[int, dict[str, Any], str]  # HTTP status, body, tr_cont
Handler = Callable[[SimAccount, SimulatorConfig, dict[str, Any], Request, str], Reply]


def account_error(account: SimAccount, data: dict[str, Any]) -> dict[str, Any] | None:
    s = account.read()
    if data.get("CANO") != s["cano"] or data.get("ACNT_PRDT_CD") != s["product"]:
        return R.envelope("1", "OPSQ2000", "ERROR : INPUT INVALID_CHECK_ACNO")
    return None


def page(
    rows: list[Any], size: int, q: dict[str, Any], req: Request, key: Callable[[Any], str], first: str = "M"
) -> tuple[list[Any], str, dict[str, str]] | None:
    """The page of ``rows`` the continuation key asks for, its ``tr_cont`` and context fields;
    None if the key is not one this simulator wrote."""
    offset = 0
    if req.headers.get("tr_cont", "").strip() == "N":
        nk = q.get("CTX_AREA_NK100", "").strip()
        try:
            offset = int(nk.split("^")[-1])
        except ValueError:
            return None
    chunk = rows[offset : offset + size]
    more = offset + size < len(rows)
    cont = (first if offset == 0 else "M") if more else ("D" if offset == 0 else "E")
    last = key(chunk[-1]) if chunk else ""
    fk = (q.get("CANO", "") + "^" + q.get("ACNT_PRDT_CD", "") + "^").ljust(100)
    nk = (f"{last}^{offset + size}" if more else "").ljust(100)
    return chunk, cont, {"ctx_area_fk100": fk, "ctx_area_nk100": nk}

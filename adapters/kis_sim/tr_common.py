"""What the TR handlers of the simulator share: their signature, the account-number check and
continuation paging (``tr_cont`` F/M/D/E with ``CTX_AREA_FK100`` / ``CTX_AREA_NK100``)."""

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
    rows: list[Any], size: int, q: dict[str, Any], req: Request, key: Callable[[Any], str]
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
    cont = ("F" if offset == 0 else "M") if more else ("D" if offset == 0 else "E")
    last = key(chunk[-1]) if chunk else ""
    fk = (q.get("CANO", "") + "^" + q.get("ACNT_PRDT_CD", "") + "^").ljust(100)
    nk = (f"{last}^{offset + size}" if more else "").ljust(100)
    return chunk, cont, {"ctx_area_fk100": fk, "ctx_area_nk100": nk}

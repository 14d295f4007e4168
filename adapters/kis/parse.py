"""Reading KIS reply bodies into domain models: the balance pages into a :class:`Snapshot` (only
one that adds up to the reply's own summary) and a daily-ccld row into a :class:`BrokerOrder`.

Field rules (a missing or non-numeric value is malformed, never a zero) are in
:mod:`adapters.kis.fields`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.kis.errors import KisMalformedReply, KisRetryable
from adapters.kis.fields import kst_time, num_float, num_int, object_of, rows_of, text
from statemachine.errors import BrokerError
from statemachine.models import BrokerOrder, Holding, Side, Snapshot


class KisInconsistentBalance(KisRetryable):
    """A balance reply marked success whose rows do not add up to its own summary."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="BALANCE_MISMATCH")


def check_summary(summary: dict[str, Any], rows_value: int, tickers: int, what: str) -> None:
    """The securities value the summary states (``scts_evlu_amt``, else ``evlu_amt_smtl_amt``) must
    equal the sum of the rows' ``evlu_amt``, within a rounding allowance (0.1% or 1,000 KRW)."""
    stated: int | None = None
    for key in ("scts_evlu_amt", "evlu_amt_smtl_amt"):
        raw = str(summary.get(key, "")).strip()
        if raw:
            stated = num_int(summary, key, f"{what} output2")
            break
    if stated is None:
        return  # a summary without the securities value cannot be checked (older samples)
    if abs(stated - rows_value) > max(1000, stated // 1000):
        raise KisInconsistentBalance(
            f"{what}: the rows ({tickers} holding(s), {rows_value:,} KRW) do not add up to the reply's own "
            f"summary ({stated:,} KRW of securities); not a snapshot"
        )


def snapshot_of(pages: list[dict[str, Any]], what: str) -> Snapshot:
    """Holdings and D+2 cash from every page of inquire-balance; :class:`KisInconsistentBalance`
    if the rows do not add up to the summary, :class:`BrokerError` on negative cash (margin debt)."""
    qty: dict[str, int] = {}
    sellable: dict[str, int] = {}
    price: dict[str, int] = {}
    names: dict[str, str] = {}
    value = 0
    for n, body in enumerate(pages, 1):
        rows = rows_of(body, "output1", what)
        if not rows and n < len(pages):
            raise KisInconsistentBalance(f"{what}: page {n} of {len(pages)} has no rows although more "
                                         f"pages follow; the answer is incomplete")
        for row in rows:
            t = text(row, "pdno", what)
            w = f"{what} row {t}"
            qty[t] = qty.get(t, 0) + num_int(row, "hldg_qty", w)
            sellable[t] = sellable.get(t, 0) + num_int(row, "ord_psbl_qty", w)
            price[t] = num_int(row, "prpr", w)
            names[t] = str(row.get("prdt_name", "")).strip()
            if "evlu_amt" in row:
                value += num_int(row, "evlu_amt", w)
            else:
                value += num_int(row, "hldg_qty", w) * price[t]
    summary = object_of(pages[-1], "output2", what)
    check_summary(summary, value, len(qty), what)
    cash = num_int(summary, "prvs_rcdl_excc_amt", f"{what} output2")
    if cash < 0:
        raise BrokerError(
            f"{what}: D+2 cash is negative ({cash:,} KRW): margin debt; refusing to plan",
            code="NEGATIVE_CASH",
        )
    holdings = [
        Holding(
            ticker=t,
            name=names[t],
            quantity=q,
            orderable_quantity=max(0, min(q, sellable[t])),
            price=max(0, price[t]),
        )
        for t, q in qty.items()
        if q > 0
    ]
    return Snapshot(holdings=holdings, cash=cash)


def order_of(row: dict[str, Any], what: str) -> BrokerOrder | None:
    """One inquire-daily-ccld row as a :class:`BrokerOrder`; None for a cancel request's own row."""
    no = text(row, "odno", what)
    w = f"{what} order {no}"
    if str(row.get("orgn_odno", "")).strip().strip("0") and str(row.get("cncl_yn", "")).strip() == "Y":
        return None  # a cancel request's own row; the original row carries the cancelled quantity
    sb = text(row, "sll_buy_dvsn_cd", w)
    if sb not in ("01", "02"):
        raise KisMalformedReply(f"{w}: sll_buy_dvsn_cd {sb!r} is neither 01 nor 02")
    ord_dt = text(row, "ord_dt", w)
    try:
        day = datetime.strptime(ord_dt, "%Y%m%d").date()
    except ValueError as exc:
        raise KisMalformedReply(f"{w}: ord_dt {ord_dt!r} is not YYYYMMDD") from exc
    placed = kst_time(day, text(row, "ord_tmd", w))
    if placed is None:
        raise KisMalformedReply(f"{w}: ord_tmd is not HHMMSS")
    return BrokerOrder(
        odno=no.zfill(10),
        ticker=text(row, "pdno", w),
        side=Side.SELL if sb == "01" else Side.BUY,
        quantity=num_int(row, "ord_qty", w),
        order_type=str(row.get("ord_dvsn_cd", "01")).strip() or "01",
        price=num_int(row, "ord_unpr", w) if str(row.get("ord_unpr", "")).strip() else 0,
        filled_quantity=num_int(row, "tot_ccld_qty", w),
        avg_price=num_float(row, "avg_prvs", w),
        amount=num_int(row, "tot_ccld_amt", w),
        remaining=num_int(row, "rmn_qty", w),
        rejected=num_int(row, "rjct_qty", w),
        # recorded replies spell it cncl_cfrm_qty, the broker's published field list cnc_cfrm_qty
        cancelled=num_int(row, "cncl_cfrm_qty" if "cncl_cfrm_qty" in row else "cnc_cfrm_qty", w),
        placed_at=placed,
        org_no=str(row.get("ord_gno_brno", "")).strip(),
    )

"""Reply bodies of the KIS simulator, shaped like the broker's: every value a string, lowercase keys
(order replies' ``output`` in UPPERCASE), the ``rt_cd``/``msg_cd``/``msg1`` envelope first.

Built from :class:`adapters.sim.account.SimAccount` data; no state of its own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from statemachine.units import KST


def envelope(rt_cd: str, msg_cd: str, msg1: str, **outputs: Any) -> dict[str, Any]:
    return {"rt_cd": rt_cd, "msg_cd": msg_cd, "msg1": msg1, **outputs}


def etf_tick(price: int) -> int:
    return 1 if price < 2000 else 5


def kst(iso: str) -> datetime:
    t = datetime.fromisoformat(iso)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(KST)


def today_orders(orders: list[dict[str, Any]], today: date) -> list[dict[str, Any]]:
    return [o for o in orders if not o.get("pending") and kst(o["placed_at"]).date() == today]


def balance_row(h: dict[str, Any], today: list[dict[str, Any]]) -> dict[str, str]:
    qty, price, avg = int(h["quantity"]), int(h["price"]), float(h.get("avg_cost") or 0.0)
    t = h["ticker"]
    bought = sum(o["filled_qty"] for o in today if o["ticker"] == t and o["side"] == "buy")
    sold = sum(o["filled_qty"] for o in today if o["ticker"] == t and o["side"] == "sell")
    pchs = int(round(qty * avg))
    evlu = qty * price
    pfls = evlu - pchs
    return {
        "pdno": t,
        "prdt_name": h.get("name", ""),
        "trad_dvsn_name": "현금",
        "bfdy_buy_qty": "0",
        "bfdy_sll_qty": "0",
        "thdt_buyqty": str(bought),
        "thdt_sll_qty": str(sold),
        "hldg_qty": str(qty),
        "ord_psbl_qty": str(h["orderable_quantity"]),
        "pchs_avg_pric": f"{avg:.4f}",
        "pchs_amt": str(pchs),
        "prpr": str(price),
        "evlu_amt": str(evlu),
        "evlu_pfls_amt": str(pfls),
        "evlu_pfls_rt": f"{(pfls / pchs * 100) if pchs else 0:.2f}",
        "evlu_erng_rt": "0.00000000",
        "loan_dt": "",
        "loan_amt": "0",
        "stln_slng_chgs": "0",
        "expd_dt": "",
        "fltt_rt": "0.00000000",
        "bfdy_cprs_icdc": "0",
        "item_mgna_rt_name": "",
        "grta_rt_name": "",
        "sbst_pric": "0",
        "stck_loan_unpr": "0.0000",
    }


def balance_summary(
    state: dict[str, Any], holdings: list[dict[str, Any]], today: list[dict[str, Any]]
) -> dict:
    cash = int(state["cash"])
    scts = sum(int(h["quantity"]) * int(h["price"]) for h in holdings)
    pchs = sum(int(round(int(h["quantity"]) * float(h.get("avg_cost") or 0))) for h in holdings)
    buy = sum(o["amount"] for o in today if o["side"] == "buy")
    sell = sum(o["amount"] for o in today if o["side"] == "sell")
    fees = sum(o.get("fees", 0) for o in today)
    return {
        "dnca_tot_amt": str(cash),
        "nxdy_excc_amt": str(cash),
        "prvs_rcdl_excc_amt": str(cash),
        "cma_evlu_amt": "0",
        "bfdy_buy_amt": "0",
        "thdt_buy_amt": str(buy),
        "nxdy_auto_rdpt_amt": "0",
        "bfdy_sll_amt": "0",
        "thdt_sll_amt": str(sell),
        "d2_auto_rdpt_amt": "0",
        "bfdy_tlex_amt": "0",
        "thdt_tlex_amt": str(fees),
        "tot_loan_amt": "0",
        "scts_evlu_amt": str(scts),
        "tot_evlu_amt": str(scts + cash),
        "nass_amt": str(scts + cash),
        "fncg_gld_auto_rdpt_yn": "",
        "pchs_amt_smtl_amt": str(pchs),
        "evlu_amt_smtl_amt": str(scts),
        "evlu_pfls_smtl_amt": str(scts - pchs),
        "tot_stln_slng_chgs": "0",
        "bfdy_tot_asst_evlu_amt": str(scts + cash),
        "asst_icdc_amt": "0",
        "asst_icdc_erng_rt": "0.00000000",
    }


def price_output(ticker: str, price: int, name: str) -> dict[str, str]:
    tick = etf_tick(price) if price else 0
    up = (int(price * 1.3) // tick * tick) if tick else 0
    down = (-(-int(price * 0.7) // tick) * tick) if tick else 0
    return {
        "iscd_stat_cls_code": "55",
        "marg_rate": "45.00",
        "rprs_mrkt_kor_name": "KOSPI" if price else "",
        "bstp_kor_isnm": "",
        "temp_stop_yn": "N",
        "oprc_rang_cont_yn": "N",
        "clpr_rang_cont_yn": "N",
        "crdt_able_yn": "Y",
        "grmn_rate_cls_code": "40",
        "elw_pblc_yn": "N",
        "stck_prpr": str(price),
        "prdy_vrss": "0",
        "prdy_vrss_sign": "3",
        "prdy_ctrt": "0.00",
        "acml_tr_pbmn": "0",
        "acml_vol": "0",
        "prdy_vrss_vol_rate": "0.00",
        "stck_oprc": str(price),
        "stck_hgpr": str(price),
        "stck_lwpr": str(price),
        "stck_mxpr": str(up),
        "stck_llam": str(down),
        "stck_sdpr": str(price),
        "hts_frgn_ehrt": "0.00",
        "frgn_ntby_qty": "0",
        "pgtr_ntby_qty": "0",
        "cpfn": "0",
        "rstc_wdth_prc": "0",
        "stck_fcam": "0",
        "stck_sspr": "0",
        "aspr_unit": str(tick),
        "hts_deal_qty_unit_val": "1",
        "lstn_stcn": "10000000" if price else "0",
        "hts_avls": str(price * 10_000_000 // 100_000_000),  # 억 KRW
        "per": "0.00",
        "pbr": "0.00",
        "stac_month": "12",
        "vol_tnrt": "0.00",
        "eps": "0.00",
        "bps": "0.00",
        "stck_shrn_iscd": ticker,
    }


def _weekday_before(d: date, days: int) -> date:
    d -= timedelta(days=days)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def price_history(price: int, tick: int, today: date) -> dict[str, str]:
    """The inquire-price fields about the past year and the instrument (52-week, 250-day and yearly
    highs and lows with their dates, pivots, warnings, VI), derived from the price: the simulator
    has no history, so the high is 18% above and the low 15% below, on fixed weekdays."""
    if not price or not tick:
        zero = {k: "0" for k in ("hi", "lo", "hi_rate", "lo_rate")}
        d = today.strftime("%Y%m%d")
        return _history_fields(price, zero, d, d, d, d)
    hi = -(-int(price * 1.18) // tick) * tick
    lo = int(price * 0.85) // tick * tick
    v = {"hi": str(hi), "lo": str(lo),
         "hi_rate": f"{(price - hi) / hi * 100:.2f}", "lo_rate": f"{(price - lo) / lo * 100:.2f}"}
    hi_d, lo_d = _weekday_before(today, 47), _weekday_before(today, 212)
    jan = date(today.year, 1, 2)
    while jan.weekday() >= 5:
        jan += timedelta(days=1)
    yhi_d, ylo_d = max(hi_d, min(jan, today)), max(lo_d, min(jan, today))
    return _history_fields(price, v, *(x.strftime("%Y%m%d") for x in (hi_d, lo_d, yhi_d, ylo_d)))


def _history_fields(price: int, v: dict[str, str], hi_d: str, lo_d: str, yhi_d: str, ylo_d: str) -> dict[str, str]:
    p = str(price)
    return {
        "new_hgpr_lwpr_cls_code": "",
        "pvt_scnd_dmrs_prc": p,  # pivots of a day whose high, low and close are the price
        "pvt_frst_dmrs_prc": p,
        "pvt_pont_val": p,
        "pvt_frst_dmsp_prc": p,
        "pvt_scnd_dmsp_prc": p,
        "dmrs_val": p,
        "dmsp_val": p,
        "wghn_avrg_stck_prc": f"{price}.00",
        "d250_hgpr": v["hi"],
        "d250_hgpr_date": hi_d,
        "d250_hgpr_vrss_prpr_rate": v["hi_rate"],
        "d250_lwpr": v["lo"],
        "d250_lwpr_date": lo_d,
        "d250_lwpr_vrss_prpr_rate": v["lo_rate"],
        "stck_dryy_hgpr": v["hi"],
        "dryy_hgpr_vrss_prpr_rate": v["hi_rate"],
        "dryy_hgpr_date": yhi_d,
        "stck_dryy_lwpr": v["lo"],
        "dryy_lwpr_vrss_prpr_rate": v["lo_rate"],
        "dryy_lwpr_date": ylo_d,
        "w52_hgpr": v["hi"],
        "w52_hgpr_vrss_prpr_ctrt": v["hi_rate"],
        "w52_hgpr_date": hi_d,
        "w52_lwpr": v["lo"],
        "w52_lwpr_vrss_prpr_ctrt": v["lo_rate"],
        "w52_lwpr_date": lo_d,
        "whol_loan_rmnd_rate": "0.00",
        "ssts_yn": "Y",
        "fcam_cnnm": "원",
        "cpfn_cnnm": "억",
        "apprch_rate": "0.00",
        "frgn_hldn_qty": "0",
        "vi_cls_code": "N",
        "ovtm_vi_cls_code": "N",
        "last_ssts_cntg_qty": "0",
        "invt_caful_yn": "N",
        "mrkt_warn_cls_code": "00",
        "short_over_yn": "N",
        "sltr_yn": "N",
        "mang_issu_cls_code": "N",
    }


def psbl_output(orderable: int, price: int) -> dict[str, str]:
    qty = orderable // price if price else 0
    return {
        "ord_psbl_cash": str(orderable),
        "ord_psbl_sbst": "0",
        "ruse_psbl_amt": "0",
        "fund_rpch_chgs": "0",
        "psbl_qty_calc_unpr": str(price),
        "nrcvb_buy_amt": str(orderable),
        "nrcvb_buy_qty": str(qty),
        "max_buy_amt": str(orderable),
        "max_buy_qty": str(qty),
        "cma_evlu_amt": "0",
        "ovrs_re_use_amt_wcrc": "0",
        "ord_psbl_frcr_amt_wcrc": "0",
    }


def ccld_row(o: dict[str, Any]) -> dict[str, str]:
    t = kst(o["placed_at"])
    avg = o["amount"] / o["filled_qty"] if o["filled_qty"] else 0.0
    market = o.get("order_type", "01") == "01"
    return {
        "ord_dt": t.strftime("%Y%m%d"),
        "ord_gno_brno": o.get("org_no", "00950"),
        "odno": o["odno"],
        "orgn_odno": "",
        "ord_dvsn_name": "시장가" if market else "지정가",
        "sll_buy_dvsn_cd": "01" if o["side"] == "sell" else "02",
        "sll_buy_dvsn_cd_name": "현금매도" if o["side"] == "sell" else "현금매수",
        "pdno": o["ticker"],
        "prdt_name": o.get("name", ""),
        "ord_qty": str(o["qty"]),
        "ord_unpr": str(o.get("price", 0)),
        "ord_tmd": t.strftime("%H%M%S"),
        "tot_ccld_qty": str(o["filled_qty"]),
        "avg_prvs": f"{avg:.0f}",
        "cncl_yn": "N",
        "tot_ccld_amt": str(o["amount"]),
        "loan_dt": "",
        "ordr_empno": "",
        "ord_dvsn_cd": o.get("order_type", "01"),
        "cnc_cfrm_qty": str(o["cancelled"]),  # the broker's list
        "cncl_cfrm_qty": str(o["cancelled"]),  # recorded replies (adapters/kis_sim/fields/ccld.py)
        "rmn_qty": str(o["remaining"]),
        "rjct_qty": str(o["rejected"]),
        "ccld_cndt_name": "없음",
        "inqr_ip_addr": "",
        "cpbc_ordp_ord_rcit_dvsn_cd": "",
        "cpbc_ordp_infm_mthd_dvsn_cd": "",
        "infm_tmd": "",
        "ctac_tlno": "",
        "prdt_type_cd": "300",
        "excg_dvsn_cd": "02",
        "cpbc_ordp_mtrl_dvsn_cd": "",
        "ord_orgno": "",
        "rsvn_ord_end_dt": "",
        "excg_id_dvsn_Cd": "KRX",
        "stpm_cndt_pric": "0",
        "stpm_efct_occr_dtmd": "",
    }


def ccld_summary(rows: list[dict[str, Any]]) -> dict[str, str]:
    qty = sum(o["qty"] for o in rows)
    filled = sum(o["filled_qty"] for o in rows)
    amount = sum(o["amount"] for o in rows)
    return {
        "tot_ord_qty": str(qty),
        "tot_ccld_qty": str(filled),
        "tot_ccld_amt": str(amount),
        "prsm_tlex_smtl": str(sum(o.get("fees", 0) for o in rows)),
        "pchs_avg_pric": f"{(amount / filled) if filled else 0:.4f}",
    }

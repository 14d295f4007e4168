"""inquire-daily-ccld (TTTC0081R / CTSC9215R, legacy TTTC8001R / CTSC9115R; paper V...,
주식일별주문체결조회[v1_국내주식-005]) ``output1`` rows and the ``output2`` summary.

Source: ``examples_llm/domestic_stock/inquire_daily_ccld/chk_inquire_daily_ccld.py`` (COLUMN_MAPPING:
``ord_dt`` .. ``stpm_efct_occr_dtmd`` are output1, ``tot_ord_qty`` .. ``pchs_avg_pric`` output2; the
list's Korean labels of output2 are shifted by one, the names are what counts).

The list spells the cancelled quantity ``cnc_cfrm_qty``; recorded replies and other clients read
``cncl_cfrm_qty`` (docs/kis.md section 6). Which one the real server sends is unconfirmed, so a row
carries both (:data:`OUTPUT1` adds ``cncl_cfrm_qty`` to the broker's list).
"""

OUTPUT1 = {
    "ord_dt": "date",
    "ord_gno_brno": "code",
    "odno": "code",
    "orgn_odno": "code",
    "ord_dvsn_name": "text",
    "sll_buy_dvsn_cd": "code",
    "sll_buy_dvsn_cd_name": "text",
    "pdno": "code",
    "prdt_name": "text",
    "ord_qty": "int",
    "ord_unpr": "int",
    "ord_tmd": "time",
    "tot_ccld_qty": "int",
    "avg_prvs": "dec",
    "cncl_yn": "yn",
    "tot_ccld_amt": "int",
    "loan_dt": "date?",
    "ordr_empno": "text",
    "ord_dvsn_cd": "code",
    "cnc_cfrm_qty": "int",
    "cncl_cfrm_qty": "int",  # not in the broker's list: see the module docstring
    "rmn_qty": "int",
    "rjct_qty": "int",
    "ccld_cndt_name": "text",
    "inqr_ip_addr": "text",
    "cpbc_ordp_ord_rcit_dvsn_cd": "code",
    "cpbc_ordp_infm_mthd_dvsn_cd": "code",
    "infm_tmd": "text",
    "ctac_tlno": "text",
    "prdt_type_cd": "code",
    "excg_dvsn_cd": "code",
    "cpbc_ordp_mtrl_dvsn_cd": "code",
    "ord_orgno": "code",
    "rsvn_ord_end_dt": "date?",
    "excg_id_dvsn_Cd": "code",
    "stpm_cndt_pric": "int",
    "stpm_efct_occr_dtmd": "text",
}

OUTPUT2 = {
    "tot_ord_qty": "int",
    "tot_ccld_qty": "int",
    "tot_ccld_amt": "int",
    "prsm_tlex_smtl": "int",
    "pchs_avg_pric": "dec",
}

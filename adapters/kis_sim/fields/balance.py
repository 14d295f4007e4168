"""inquire-balance (TTTC8434R / VTTC8434R, 주식잔고조회[v1_국내주식-006]) ``output1`` rows and the
``output2`` summary.

Source: ``examples_llm/domestic_stock/inquire_balance/chk_inquire_balance.py`` (COLUMN_MAPPING:
``pdno`` .. ``stck_loan_unpr`` are output1, ``dnca_tot_amt`` .. ``asst_icdc_erng_rt`` output2).
"""

OUTPUT1 = {
    "pdno": "code",
    "prdt_name": "text",
    "trad_dvsn_name": "text",
    "bfdy_buy_qty": "int",
    "bfdy_sll_qty": "int",
    "thdt_buyqty": "int",
    "thdt_sll_qty": "int",
    "hldg_qty": "int",
    "ord_psbl_qty": "int",
    "pchs_avg_pric": "dec",
    "pchs_amt": "int",
    "prpr": "int",
    "evlu_amt": "int",
    "evlu_pfls_amt": "int",
    "evlu_pfls_rt": "dec",
    "evlu_erng_rt": "dec",
    "loan_dt": "date?",
    "loan_amt": "int",
    "stln_slng_chgs": "int",
    "expd_dt": "date?",
    "fltt_rt": "dec",
    "bfdy_cprs_icdc": "int",
    "item_mgna_rt_name": "text",
    "grta_rt_name": "text",
    "sbst_pric": "int",
    "stck_loan_unpr": "dec",
}

OUTPUT2 = {
    "dnca_tot_amt": "int",
    "nxdy_excc_amt": "int",
    "prvs_rcdl_excc_amt": "int",
    "cma_evlu_amt": "int",
    "bfdy_buy_amt": "int",
    "thdt_buy_amt": "int",
    "nxdy_auto_rdpt_amt": "int",
    "bfdy_sll_amt": "int",
    "thdt_sll_amt": "int",
    "d2_auto_rdpt_amt": "int",
    "bfdy_tlex_amt": "int",
    "thdt_tlex_amt": "int",
    "tot_loan_amt": "int",
    "scts_evlu_amt": "int",
    "tot_evlu_amt": "int",
    "nass_amt": "int",
    "fncg_gld_auto_rdpt_yn": "text",
    "pchs_amt_smtl_amt": "int",
    "evlu_amt_smtl_amt": "int",
    "evlu_pfls_smtl_amt": "int",
    "tot_stln_slng_chgs": "int",
    "bfdy_tot_asst_evlu_amt": "int",
    "asst_icdc_amt": "int",
    "asst_icdc_erng_rt": "dec",
}

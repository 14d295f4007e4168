"""inquire-psbl-rvsecncl (TTTC0084R, legacy TTTC8036R, 주식정정취소가능주문조회[v1_국내주식-004]):
``output`` rows, real host only.

Source: ``examples_llm/domestic_stock/inquire_psbl_rvsecncl/chk_inquire_psbl_rvsecncl.py``
(COLUMN_MAPPING); ``inquire_psbl_rvsecncl.py`` there has no paper TR id (the sample takes no
``env_dv``), so the paper host answers EGW02006.
"""

OUTPUT = {
    "ord_gno_brno": "code",
    "odno": "code",
    "orgn_odno": "code",
    "ord_dvsn_name": "text",
    "pdno": "code",
    "prdt_name": "text",
    "rvse_cncl_dvsn_name": "text",
    "ord_qty": "int",
    "ord_unpr": "int",
    "ord_tmd": "time",
    "tot_ccld_qty": "int",
    "tot_ccld_amt": "int",
    "psbl_qty": "int",
    "sll_buy_dvsn_cd": "code",
    "ord_dvsn_cd": "code",
    "mgco_aptm_odno": "code",
    "excg_dvsn_cd": "code",
    "excg_id_dvsn_cd": "code",
    "excg_id_dvsn_name": "text",
    "stpm_cndt_pric": "int",
    "stpm_efct_occr_yn": "yn",
}

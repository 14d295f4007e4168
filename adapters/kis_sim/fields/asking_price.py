"""inquire-asking-price-exp-ccn (FHKST01010200, 주식현재가 호가/예상체결[v1_국내주식-011]) ``output1``
(the order book) and ``output2`` (the expected match).

Source: ``examples_llm/domestic_stock/inquire_asking_price_exp_ccn/chk_inquire_asking_price_exp_ccn.py``
(COLUMN_MAPPING). The list names output1's fields, then output2's; the split (output2 from
``antc_mkop_cls_code`` on) is read from the order and the names: unconfirmed.
"""

LEVELS = 10

OUTPUT1 = {
    "aspr_acpt_hour": "time",
    **{f"askp{i}": "int" for i in range(1, LEVELS + 1)},
    **{f"bidp{i}": "int" for i in range(1, LEVELS + 1)},
    **{f"askp_rsqn{i}": "int" for i in range(1, LEVELS + 1)},
    **{f"bidp_rsqn{i}": "int" for i in range(1, LEVELS + 1)},
    **{f"askp_rsqn_icdc{i}": "int" for i in range(1, LEVELS + 1)},
    **{f"bidp_rsqn_icdc{i}": "int" for i in range(1, LEVELS + 1)},
    "total_askp_rsqn": "int",
    "total_bidp_rsqn": "int",
    "total_askp_rsqn_icdc": "int",
    "total_bidp_rsqn_icdc": "int",
    "ovtm_total_askp_icdc": "int",
    "ovtm_total_bidp_icdc": "int",
    "ovtm_total_askp_rsqn": "int",
    "ovtm_total_bidp_rsqn": "int",
    "ntby_aspr_rsqn": "int",
    "new_mkop_cls_code": "code",
}

OUTPUT2 = {
    "antc_mkop_cls_code": "code",
    "stck_prpr": "int",
    "stck_oprc": "int",
    "stck_hgpr": "int",
    "stck_lwpr": "int",
    "stck_sdpr": "int",
    "antc_cnpr": "int",
    "antc_cntg_vrss_sign": "code",
    "antc_cntg_vrss": "int",
    "antc_cntg_prdy_ctrt": "dec",
    "antc_vol": "int",
    "stck_shrn_iscd": "code",
    "vi_cls_code": "code",
}

"""inquire-psbl-order (TTTC8908R / VTTC8908R, 매수가능조회[v1_국내주식-007]) ``output``.

Source: ``examples_llm/domestic_stock/inquire_psbl_order/chk_inquire_psbl_order.py`` (COLUMN_MAPPING).
"""

OUTPUT = {
    "ord_psbl_cash": "int",
    "ord_psbl_sbst": "int",
    "ruse_psbl_amt": "int",
    "fund_rpch_chgs": "int",
    "psbl_qty_calc_unpr": "int",
    "nrcvb_buy_amt": "int",
    "nrcvb_buy_qty": "int",
    "max_buy_amt": "int",
    "max_buy_qty": "int",
    "cma_evlu_amt": "int",
    "ovrs_re_use_amt_wcrc": "int",
    "ord_psbl_frcr_amt_wcrc": "int",
}

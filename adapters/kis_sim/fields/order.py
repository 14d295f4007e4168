"""order-cash (TTTC0011U/0012U, legacy 0801U/0802U; paper V...) and order-rvsecncl (TTTC0013U,
legacy 0803U; paper V...) ``output``.

Sources: ``examples_llm/domestic_stock/order_cash/chk_order_cash.py`` (UPPERCASE keys) and
``examples_llm/domestic_stock/order_rvsecncl/chk_order_rvsecncl.py``, whose list is in lowercase.
Recorded replies of order-rvsecncl (docs/kis.md section 8) carry the UPPERCASE keys, so the cancel
reply carries both spellings (:data:`RVSECNCL_OUTPUT`); which one the real server sends is
unconfirmed.
"""

ORDER_CASH_OUTPUT = {
    "KRX_FWDG_ORD_ORGNO": "code",
    "ODNO": "code",
    "ORD_TMD": "time",
}

RVSECNCL_OUTPUT = {
    "krx_fwdg_ord_orgno": "code",  # the broker's list
    "odno": "code",
    "ord_tmd": "time",
    "KRX_FWDG_ORD_ORGNO": "code",  # recorded replies
    "ODNO": "code",
    "ORD_TMD": "time",
}

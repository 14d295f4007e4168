"""search-info (CTPF1604R, 상품기본조회[v1_국내주식-029]) ``output``, real host only.

Source: ``examples_llm/domestic_stock/search_info/chk_search_info.py`` (COLUMN_MAPPING); the sample
has one TR id and no paper variant.
"""

OUTPUT = {
    "pdno": "code",
    "prdt_type_cd": "code",
    "std_pdno": "code",
    "shtn_pdno": "code",
    "prdt_sale_stat_cd": "code",
    "prdt_risk_grad_cd": "code",
    "prdt_clsf_cd": "code",
    "sale_strt_dt": "date?",
    "sale_end_dt": "date?",
    "wrap_asst_type_cd": "code",
    "ivst_prdt_type_cd": "code",
    "frst_erlm_dt": "date?",
}

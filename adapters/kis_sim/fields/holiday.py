"""chk-holiday (CTCA0903R, 국내휴장일조회[국내주식-040]) ``output`` rows, real host only.

Source: ``examples_llm/domestic_stock/chk_holiday/chk_chk_holiday.py`` (COLUMN_MAPPING) and
``chk_holiday.py`` (query ``BASS_DT``, ``CTX_AREA_FK`` / ``CTX_AREA_NK``; body ``ctx_area_fk`` /
``ctx_area_nk``; "call it once a day"). No paper TR id in the sample.
"""

OUTPUT = {
    "bass_dt": "date",
    "wday_dvsn_cd": "code",
    "bzdy_yn": "yn",
    "tr_day_yn": "yn",
    "opnd_yn": "yn",
    "sttl_day_yn": "yn",
}

"""The broker's published reply field lists, one module per TR family, and the string formats of
their values.

Each list comes from ``koreainvestment/open-trading-api`` (commit 885dd4e2, 2026-07-09): the
``COLUMN_MAPPING`` of ``examples_llm/domestic_stock/<tr>/chk_<tr>.py`` names every field the
broker documents for the TR's ``output`` / ``output1`` / ``output2`` (the mapping of a two-output
TR lists output1's fields, then output2's; the split is read from the order and the field names).
The format of each field (a :data:`FORMATS` key) is ours: the broker's lists give names and Korean
labels only; every value is a string.

:func:`shape` puts a reply object into the list's order with exactly the list's fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: value formats: every value is a string matching one of these
FORMATS: dict[str, re.Pattern[str]] = {
    "int": re.compile(r"-?\d+"),  # a count or an amount in KRW
    "dec": re.compile(r"-?\d+(\.\d+)?"),  # a price with decimals, a rate or a percentage
    "date": re.compile(r"\d{8}"),  # YYYYMMDD
    "date?": re.compile(r"(\d{8})?"),  # YYYYMMDD or blank (no loan, no expiry...)
    "time": re.compile(r"\d{6}"),  # HHMMSS
    "yn": re.compile(r"[YN]"),
    "code": re.compile(r"[0-9A-Za-z]*"),  # a short code ("01", "KRX", "55"), may be blank
    "text": re.compile(r".*", re.S),  # names and labels
}

Spec = Mapping[str, str]  # field name -> format


def shape(spec: Spec, values: Mapping[str, str]) -> dict[str, str]:
    """``values`` with exactly ``spec``'s fields, in its order; a field the builder left out gets the
    blank value of its format ("0" for numbers), so a reply never lacks a published field."""
    blank = {"int": "0", "dec": "0"}
    return {k: str(values[k]) if k in values else blank.get(f, "") for k, f in spec.items()}


def conforms(spec: Spec, obj: Mapping[str, object]) -> list[str]:
    """What is wrong with ``obj`` against ``spec`` (missing, extra, not a string, bad format)."""
    bad = [f"missing {k}" for k in spec if k not in obj]
    bad += [f"extra {k}" for k in obj if k not in spec]
    for k, f in spec.items():
        v = obj.get(k)
        if k in obj and not isinstance(v, str):
            bad.append(f"{k}={v!r} is not a string")
        elif isinstance(v, str) and not FORMATS[f].fullmatch(v):
            bad.append(f"{k}={v!r} is not {f}")
    return bad

"""Units and the one rounding rule.

* Money is integer KRW, quantities integer shares: never floats.
* Percentages are floats in percentage points (0-100), kept unrounded in every computation.
  A threshold is exceeded when ``abs(drift) >= threshold - PCT_EPSILON`` so that float noise
  never flips a band edge. For display and JSON output a percentage is rounded half away from
  zero to :data:`PCT_DECIMALS` places by :func:`pct`; stored reports keep full precision.
* Fees are rounded down to the whole won (:func:`krw_floor`), as the broker truncates.
* Broker and exchange times are in Korea Standard Time, :data:`KST` (UTC+9, no daylight saving);
  everything stored is UTC.
"""

from __future__ import annotations

import math
from datetime import timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

#: Korea Standard Time: the broker's day, order times and the exchange session (the one definition).
KST = timezone(timedelta(hours=9))

PCT_DECIMALS = 4
PCT_EPSILON = 1e-9


def pct(value: float, decimals: int = PCT_DECIMALS) -> float:
    """Round a percentage for display: half away from zero."""
    q = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(value)).quantize(q, rounding=ROUND_HALF_UP))


def exceeds(drift: float, threshold: float) -> bool:
    return abs(drift) >= threshold - PCT_EPSILON


def share_of(value: int | float, total: int | float) -> float:
    """value / total in percentage points; 0 when total is 0."""
    return 0.0 if total <= 0 else value / total * 100.0


def krw_floor(amount: float) -> int:
    return int(math.floor(amount + 1e-9))

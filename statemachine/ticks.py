"""KRX tick sizes (호가가격단위) and the daily price limit, written down in one place.

Needs: a price in KRW and the instrument kind (``"etf"``/``"etn"`` or anything else, a stock).
Sets: the tick at that price, a price rounded onto the tick grid, the day's upper/lower limit.

Sources (checked November 2026; docs/kis.md and docs/domain.md §7 restates them):

* Stocks, KOSPI/KOSDAQ/KONEX unified, in force since 2023-01-25 (KRX 유가증권시장 업무규정시행세칙
  revision, reported by Hankyung/Investing.com 2023-01-17 "이달 25일부터 주식거래 호가 가격 단위"
  and Chosun 2022-11-01): <2,000 -> 1; <5,000 -> 5; <20,000 -> 10; <50,000 -> 50; <200,000 -> 100;
  <500,000 -> 500; otherwise 1,000 KRW.
* ETF and ETN: 1 KRW below 2,000 KRW and 5 KRW at or above (KRX rule revision announced 2023-12-05,
  in force from 2023-12-18, Mediapen news 860330; before it every ETF/ETN ticked by 5 KRW).
* Daily price limit: +-30 % of the base price (the previous close), the limit prices rounded onto
  the grid toward the base price (KRX; KIS reports them as ``stck_mxpr`` / ``stck_llam``). The
  broker's own limit fields win whenever a quote carries them (:func:`daily_limits` is for the
  simulator and for quotes without them).

The tick at a band's edge is the upper band's: a price of exactly 2,000 KRW ticks by 5.
"""

from __future__ import annotations

from typing import Literal

Direction = Literal["up", "down", "nearest"]

#: (upper bound exclusive, tick) per band; the last band has no bound.
STOCK_TICKS: tuple[tuple[int | None, int], ...] = (
    (2_000, 1), (5_000, 5), (20_000, 10), (50_000, 50), (200_000, 100), (500_000, 500), (None, 1_000))
ETF_TICKS: tuple[tuple[int | None, int], ...] = ((2_000, 1), (None, 5))
#: instrument kinds (statemachine.fees instrument types) that tick like ETFs
ETP_KINDS = frozenset({"etf", "etn"})
DAILY_LIMIT = 0.30  # documentation; daily_limits() computes it in integers (13/10 and 7/10)


def table(kind: str) -> tuple[tuple[int | None, int], ...]:
    return ETF_TICKS if kind.lower() in ETP_KINDS else STOCK_TICKS


def tick_size(price: int, kind: str = "etf") -> int:
    """The tick at ``price`` (KRW) for an instrument of ``kind``."""
    for bound, tick in table(kind):
        if bound is None or price < bound:
            return tick
    raise AssertionError("unreachable: the last band has no bound")


def on_grid(price: int, kind: str = "etf") -> bool:
    """Is ``price`` a price the exchange accepts (a positive multiple of its band's tick)?"""
    return price > 0 and price % tick_size(price, kind) == 0


def round_to_tick(price: int, kind: str = "etf", direction: Direction = "nearest") -> int:
    """``price`` moved onto the tick grid: ``up`` to the next grid price at or above it, ``down``
    to the one at or below it, ``nearest`` to the closer one (ties up). Never below one tick."""
    if price <= 1:
        return 1
    down = price - price % tick_size(price, kind)
    if down == price:
        return price
    up = down + tick_size(down, kind)
    # the next grid price above may sit in the next band (e.g. 1,999 -> 2,000 for an ETF): it is on
    # the grid there since every band bound is a multiple of the band's tick
    if direction == "up":
        return up
    if direction == "down":
        return down
    return up if up - price <= price - down else down


def step_ticks(price: int, ticks: int, kind: str = "etf") -> int:
    """The grid price ``ticks`` ticks above (negative: below) the grid price ``price``, crossing
    bands tick by tick; never below one tick."""
    p = price
    for _ in range(abs(ticks)):
        if ticks > 0:
            p += tick_size(p, kind)
        else:
            below = p - 1
            p = max(1, round_to_tick(below, kind, "down")) if below >= 1 else 1
    return p


def daily_limits(base: int, kind: str = "etf") -> tuple[int, int]:
    """(lower, upper) limit prices for a base price (the previous close): +-30 %, each rounded
    onto the grid toward the base (the upper down, the lower up)."""
    upper = round_to_tick(base * 13 // 10, kind, "down")  # floor(base x 1.3) in integers
    lower = round_to_tick(-(-base * 7 // 10), kind, "up")  # ceil(base x 0.7) in integers
    return lower, max(lower, upper)


def clamp(price: int, lower: int, upper: int) -> int:
    """``price`` inside [lower, upper]; the limits themselves are grid prices."""
    return min(max(price, lower), upper)


__all__ = ["DAILY_LIMIT", "ETF_TICKS", "ETP_KINDS", "STOCK_TICKS", "clamp", "daily_limits", "on_grid",
           "round_to_tick", "step_ticks", "table", "tick_size"]

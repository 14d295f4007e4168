"""KRX tick sizes, rounding onto the grid and the daily limits (statemachine.ticks): the band edges
named, the rest as properties (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statemachine.models import Quote, Side
from statemachine.orders.pricing import limit_price
from statemachine.ticks import daily_limits, on_grid, round_to_tick, step_ticks, tick_size

KINDS = st.sampled_from(["etf", "etn", "stock"])
PRICES = st.integers(min_value=1, max_value=3_000_000)


@pytest.mark.parametrize(("price", "tick"), [(1, 1), (1_999, 1), (2_000, 5), (4_995, 5), (5_000, 10), (19_990, 10),
                                             (20_000, 50), (49_950, 50), (50_000, 100), (199_900, 100),
                                             (200_000, 500), (499_500, 500), (500_000, 1_000), (2_000_000, 1_000)])
def test_stock_table_at_each_band_edge(price: int, tick: int) -> None:
    assert tick_size(price, "stock") == tick


@pytest.mark.parametrize(("price", "tick"), [(1, 1), (1_999, 1), (2_000, 5), (35_000, 5), (1_050_000, 5)])
def test_etf_and_etn_table(price: int, tick: int) -> None:
    assert tick_size(price, "etf") == tick == tick_size(price, "ETN")


def test_named_roundings_across_a_band_edge() -> None:
    assert round_to_tick(1_999, "etf", "up") == 1_999
    assert round_to_tick(2_001, "etf", "up") == 2_005
    assert round_to_tick(2_001, "etf", "down") == 2_000
    assert round_to_tick(4_998, "stock", "up") == 5_000  # into the 10-won band, on its grid
    assert round_to_tick(5_004, "stock", "nearest") == 5_000
    assert round_to_tick(5_005, "stock", "nearest") == 5_010  # ties up
    assert step_ticks(2_000, -1, "etf") == 1_999 and step_ticks(1_999, 1, "etf") == 2_000
    assert step_ticks(4_995, 2, "stock") == 5_010


def test_named_daily_limits() -> None:
    assert daily_limits(10_000, "etf") == (7_000, 13_000)
    assert daily_limits(1_999, "etf") == (1_400, 2_595)  # 2,598.7 -> 2,595 on the 5-won grid, inward
    assert daily_limits(14_000, "stock") == (9_800, 18_200)
    assert daily_limits(33_333, "stock") == (23_350, 43_300)  # 23,333.1 up to 23,350; 43,332.9 down


@given(PRICES, KINDS)
def test_rounding_lands_on_the_grid_on_the_right_side_and_next_to_the_price(price: int, kind: str) -> None:
    up, down, near = (round_to_tick(price, kind, d) for d in ("up", "down", "nearest"))
    assert on_grid(up, kind) and on_grid(down, kind) and on_grid(near, kind)
    assert down <= price <= up and near in (up, down)
    if on_grid(price, kind):
        assert up == down == near == price
    else:
        # no grid price strictly between: the next grid price above ``down`` is ``up``
        assert step_ticks(down, 1, kind) == up
        assert abs(near - price) <= min(up - price, price - down)


@given(PRICES, KINDS, st.integers(min_value=-20, max_value=20))
def test_stepping_stays_on_the_grid_and_moves_monotonically(price: int, kind: str, n: int) -> None:
    p = round_to_tick(price, kind, "down")
    q = step_ticks(p, n, kind)
    assert on_grid(q, kind)
    assert (q > p if n > 0 else q <= p if n < 0 else q == p)
    if n > 0 and q > 1:
        assert step_ticks(q, -n, kind) == p


@given(st.integers(min_value=10, max_value=2_000_000), KINDS)
def test_daily_limits_are_on_the_grid_and_within_thirty_percent(base: int, kind: str) -> None:
    lower, upper = daily_limits(base, kind)
    assert on_grid(lower, kind) and on_grid(upper, kind)
    assert lower <= base <= upper
    assert lower * 10 >= base * 7 and upper * 10 <= base * 13
    # rounded inward: one tick further out is past +-30 %
    assert step_ticks(upper, 1, kind) * 10 > base * 13
    assert lower == 1 or step_ticks(lower, -1, kind) * 10 < base * 7


@given(st.integers(min_value=100, max_value=1_000_000), st.integers(min_value=0, max_value=30),
       st.integers(min_value=0, max_value=10), KINDS)
def test_marketable_limit_prices_are_on_the_grid_inside_the_limits_and_marketable(
        mid: int, half: int, n: int, kind: str) -> None:
    m = round_to_tick(mid, kind, "nearest")
    lower, upper = daily_limits(m, kind)
    bid = max(lower, step_ticks(m, -half, kind))
    ask = min(upper, step_ticks(m, half, kind))
    q = Quote(ticker="069500", bid=bid, ask=ask, last=m, lower=lower, upper=upper, base=m)
    buy, sell = limit_price(Side.BUY, q, n, kind), limit_price(Side.SELL, q, n, kind)
    for p in (buy, sell):
        assert on_grid(p, kind) and lower <= p <= upper
    assert buy >= ask and sell <= bid  # they cross the book: marketable
    assert buy == min(upper, step_ticks(ask, n, kind)) and sell == max(lower, step_ticks(bid, -n, kind))


def test_an_off_grid_quote_is_rounded_away_from_the_book() -> None:
    q = Quote(ticker="x", bid=2_003, ask=2_004, last=2_003, base=2_000)
    assert limit_price(Side.BUY, q, 0, "etf") == 2_005
    assert limit_price(Side.SELL, q, 0, "etf") == 2_000
    assert limit_price(Side.BUY, q, 1, "etf") == 2_010

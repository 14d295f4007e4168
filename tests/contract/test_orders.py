"""Orders: add, update, list, and the order numbers an account already adopted (memory, SQLite,
PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from statemachine.models import OrderStatus, Side
from tests.contract.helpers import CONSTRAINT, RID, T0, Uow, add_order, new_run

OTHER = "20261125-010000-bbbbbb"


def test_a_new_order_is_an_intent_with_nothing_filled(uow: Uow):
    a1 = new_run(uow)
    with uow() as u:
        rec = add_order(u, a1)
        u.commit()
    assert (rec.run_id, rec.side, rec.ticker, rec.name, rec.quantity, rec.attempt, rec.seq, rec.status) == (
        RID, Side.SELL, "411420", "x", 3, 1, 0, OrderStatus.INTENT)
    assert (rec.odno, rec.org_no, rec.filled_quantity, rec.avg_price, rec.amount, rec.fees, rec.sends) == (
        None, None, 0, 0.0, 0, 0, 0)
    assert (rec.created_at, rec.sent_at, rec.updated_at, rec.send_started_at) == (T0, None, None, None)
    with uow() as u:
        assert u.orders(RID) == [rec]


def test_orders_in_the_order_written_one_per_side_ticker_and_seq(uow: Uow):
    a1 = new_run(uow)
    b1 = new_run(uow, run_id=OTHER, account="other")
    with uow() as u:
        first = add_order(u, a1, ticker="411420")
        second = add_order(u, a1, ticker="069500")
        third = add_order(u, a1, ticker="411420", seq=1)
        buy = add_order(u, a1, ticker="411420", side=Side.BUY)
        elsewhere = add_order(u, b1, run_id=OTHER, account="other")
        u.commit()
    assert first.id < second.id < third.id < buy.id < elsewhere.id
    with uow() as u:
        assert u.orders(RID) == [first, second, third, buy]
        assert u.orders(OTHER) == [elsewhere]
        assert u.orders("nope") == []
    with uow() as u, pytest.raises(CONSTRAINT):
        add_order(u, a1, ticker="069500")


def test_update_order_returns_and_stores_the_new_values(uow: Uow):
    a1 = new_run(uow)
    with uow() as u:
        rec = add_order(u, a1)
        u.commit()
    at = T0 + timedelta(seconds=4)
    with uow() as u:
        new = u.update_order(rec.id, fence=a1, status=OrderStatus.PARTIAL, odno="0000000042", org_no="00950",
                             filled_quantity=2, avg_price=10050.5, amount=20101, fees=3, sends=1, sent_at=at,
                             updated_at=at)
        u.commit()
    assert (new.status, new.odno, new.filled_quantity, new.avg_price, new.sent_at) == (
        OrderStatus.PARTIAL, "0000000042", 2, 10050.5, at)
    assert (new.id, new.ticker, new.quantity, new.created_at) == (rec.id, rec.ticker, rec.quantity, T0)
    with uow() as u:
        assert u.orders(RID) == [new]
        with pytest.raises(KeyError):
            u.update_order(rec.id + 1000, fence=a1, message="none such")


def test_known_odnos_are_this_accounts_since_the_day_began(uow: Uow):
    a1 = new_run(uow)
    b1 = new_run(uow, run_id=OTHER, account="other")
    day = T0 + timedelta(hours=1)
    with uow() as u:
        for ticker, odno, created in (("A1", "0001", day - timedelta(microseconds=1)), ("A2", "0002", day),
                                      ("A3", "0003", day + timedelta(hours=2)), ("A4", None, day)):
            rec = add_order(u, a1, ticker=ticker, created_at=created)
            if odno:
                u.update_order(rec.id, fence=a1, odno=odno)
        rec = add_order(u, b1, run_id=OTHER, account="other", created_at=day)
        u.update_order(rec.id, fence=b1, odno="0009")
        u.commit()
    with uow() as u:
        assert u.known_odnos("demo", day) == {"0002", "0003"}
        assert u.known_odnos("demo", T0) == {"0001", "0002", "0003"}
        assert u.known_odnos("other", T0) == {"0009"}
        assert u.known_odnos("nobody", T0) == set()

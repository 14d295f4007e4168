"""The broker port over the simulated account, in process (no HTTP).

Used by unit tests and as the default broker until the KIS REST client is configured. Its
contract is the port's: complete reads or an exception; an order whose reply was "lost" (or whose
acceptance is delayed, ``accept_delay_s``) raises OrderOutcomeUnknown although the account took it.
The order list is the account's :meth:`SimAccount.listed_orders` (``list_lag_s`` applies); times are
the broker's clock (``clock_skew_s``).
"""

from __future__ import annotations

from datetime import date, datetime

from adapters.sim.account import SimAccount, SimRejected
from statemachine.errors import BrokerError, OrderOutcomeUnknown, OrderRejected
from statemachine.models import BrokerOrder, Holding, PlaceResult, Quote, Side, Snapshot
from statemachine.ports import Broker
from statemachine.units import KST


class SimulatedBroker(Broker):
    def __init__(self, account: SimAccount, alias: str = "demo") -> None:
        self.account = account
        self.alias = alias

    def balance(self) -> Snapshot:
        self.account.count_call("balance")
        rows = self.account.holdings()
        return Snapshot(
            holdings=[Holding(ticker=r["ticker"], name=r["name"], quantity=r["quantity"],
                              orderable_quantity=r["orderable_quantity"], price=r["price"]) for r in rows
                      if r["quantity"] > 0],
            cash=self.account.cash(),
        )

    def prices(self, tickers: list[str]) -> dict[str, int]:
        self.account.count_call("price")
        out = {}
        for t in tickers:
            p = self.account.price(t)
            if p is None:
                raise BrokerError(f"no price for {t}", code="APBK0656", ticker=t)
            out[t] = p
        return out

    def quote(self, ticker: str) -> Quote:
        self.account.count_call("quote")
        q = self.account.quote(ticker)
        if q is None:
            raise BrokerError(f"no quote for {ticker}", code="APBK0656", ticker=ticker)
        return Quote(ticker=ticker, **q)

    def orderable_cash(self) -> int:
        self.account.count_call("orderable_cash")
        return self.account.orderable_cash()

    def place_order(self, side: Side, ticker: str, quantity: int, order_type: str = "01",
                    price: int = 0) -> PlaceResult:
        try:
            out = self.account.place(side.value, ticker, quantity, order_type, price)
        except SimRejected as exc:
            raise OrderRejected(exc.message, code=exc.code, ticker=ticker) from exc
        if out.reply_lost:
            raise OrderOutcomeUnknown(f"reply to the {side.value} order for {ticker} was lost", ticker=ticker)
        return PlaceResult(odno=out.order["odno"], org_no=out.order["org_no"],
                           placed_at=datetime.fromisoformat(out.order["placed_at"]))

    def daily_orders(self, day: date, ticker: str | None = None, side: Side | None = None,
                     odno: str | None = None, unfilled_only: bool = False) -> list[BrokerOrder]:
        self.account.count_call("daily_orders")
        out = []
        for o in self.account.listed_orders():
            placed = datetime.fromisoformat(o["placed_at"])
            if placed.astimezone(KST).date() != day:
                continue
            if ticker and o["ticker"] != ticker or side and o["side"] != side.value:
                continue
            if odno and o["odno"] != odno.zfill(10) or unfilled_only and o["remaining"] <= 0:
                continue
            out.append(BrokerOrder(
                odno=o["odno"], ticker=o["ticker"], side=Side(o["side"]), quantity=o["qty"],
                order_type=o["order_type"], price=int(o.get("price") or 0), filled_quantity=o["filled_qty"],
                avg_price=(o["amount"] / o["filled_qty"]) if o["filled_qty"] else 0.0, amount=o["amount"],
                remaining=o["remaining"], rejected=o["rejected"], cancelled=o["cancelled"], placed_at=placed,
                org_no=o["org_no"]))
        return out

    def cancel_order(self, odno: str, org_no: str, quantity: int) -> PlaceResult:
        try:
            o = self.account.cancel(odno, quantity)
        except SimRejected as exc:
            raise BrokerError(exc.message, code=exc.code) from exc
        return PlaceResult(odno=o["odno"], org_no=o["org_no"])

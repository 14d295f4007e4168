"""Typed values the rebalance pipeline passes along.

snapshot -> drift report -> plan -> check results -> orders -> fills -> history.
Money is integer KRW, quantities integer shares, percentages floats (see :mod:`units`).

Why one module (over 300 lines): it is the vocabulary of that pipeline, plain frozen models and
their validation, with no behaviour beyond it; every stage imports several of them, and the
order models share ``Side`` and ``Frozen`` with the plan ones. What the store keeps about a run
is apart, in :mod:`statemachine.records`.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from .errors import TargetsError, ThresholdError

CLASSES: tuple[str, ...] = ("Stocks", "Bonds", "Alternatives", "Cash")
OTHER = "Other"
CASH_TICKER = "CASH"
TICKER_RE = re.compile(r"^[0-9A-Z]{6,7}$")
SUM_TOLERANCE = 0.01


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Side(StrEnum):
    SELL = "sell"
    BUY = "buy"


# ----------------------------------------------------------------------------- targets
class Targets(Frozen):
    """MP percentages per class and Sub-MP weights per ticker (docs/domain.md section 1)."""

    mp_id: str = "MP"
    mp: dict[str, float]
    sub_mp: dict[str, dict[str, float]]
    names: dict[str, str] = Field(default_factory=dict)
    decided_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise TargetsError("targets must be a JSON object", field="$")
        for key in ("mp", "sub_mp"):
            if key not in data:
                raise TargetsError(f"targets: missing field '{key}'", field=key)
            if not isinstance(data[key], dict):
                raise TargetsError(f"targets: '{key}' must be an object", field=key)
        mp = data["mp"]
        for c, v in mp.items():
            if c not in CLASSES:
                raise TargetsError(f"targets: unknown class 'mp.{c}' (allowed: {', '.join(CLASSES)})",
                                   field=f"mp.{c}")
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise TargetsError(f"targets: 'mp.{c}' must be a number", field=f"mp.{c}")
            if v < 0:
                raise TargetsError(f"targets: 'mp.{c}' is negative ({v})", field=f"mp.{c}")
        total = sum(mp.values())
        if abs(total - 100) > SUM_TOLERANCE:
            raise TargetsError(f"targets: 'mp' sums to {total:g}, not 100", field="mp")
        seen: dict[str, str] = {}
        for c, weights in data["sub_mp"].items():
            if c not in CLASSES:
                raise TargetsError(f"targets: unknown class 'sub_mp.{c}'", field=f"sub_mp.{c}")
            if not isinstance(weights, dict):
                raise TargetsError(f"targets: 'sub_mp.{c}' must be an object", field=f"sub_mp.{c}")
            for t, w in weights.items():
                f = f"sub_mp.{c}.{t}"
                if t != CASH_TICKER and not TICKER_RE.match(str(t)):
                    raise TargetsError(f"targets: malformed ticker '{t}' in '{f}' (6-digit KRX code)",
                                       field=f)
                if t == CASH_TICKER and c != "Cash":
                    raise TargetsError(f"targets: '{f}': CASH belongs to the Cash class", field=f)
                if isinstance(w, bool) or not isinstance(w, int | float):
                    raise TargetsError(f"targets: '{f}' must be a number", field=f)
                if w < 0:
                    raise TargetsError(f"targets: '{f}' is negative ({w})", field=f)
                if t in seen:
                    raise TargetsError(f"targets: '{f}': ticker '{t}' is already in 'sub_mp.{seen[t]}'", field=f)
                seen[t] = c
            s = sum(weights.values())
            if weights and abs(s - 1) > SUM_TOLERANCE:
                raise TargetsError(f"targets: 'sub_mp.{c}' weights sum to {s:g}, not 1",
                                   field=f"sub_mp.{c}")
        for c, v in mp.items():
            if v > 0 and c != "Cash" and not data["sub_mp"].get(c):
                raise TargetsError(f"targets: 'sub_mp.{c}' is missing or empty but 'mp.{c}' is {v:g}%",
                                   field=f"sub_mp.{c}")
        return data

    def class_of(self, ticker: str) -> str:
        for c, weights in self.sub_mp.items():
            if ticker in weights:
                return c
        return OTHER

    def tickers(self) -> list[str]:
        return [t for w in self.sub_mp.values() for t in w if t != CASH_TICKER]

    def weight(self, ticker: str) -> float:
        c = self.class_of(ticker)
        return 0.0 if c == OTHER else self.sub_mp[c][ticker]

    def global_target_pct(self, ticker: str) -> float:
        c = self.class_of(ticker)
        if c == OTHER:
            return 0.0
        return self.mp.get(c, 0.0) * self.sub_mp[c][ticker]

    def cash_target_pct(self) -> float:
        """Target share of T held as cash: the Cash class's CASH weight, or all of it if unlisted."""
        cash_mp = self.mp.get("Cash", 0.0)
        w = self.sub_mp.get("Cash", {})
        if not w:
            return cash_mp
        return cash_mp * w.get(CASH_TICKER, 0.0)


class Thresholds(Frozen):
    mp: float = 3.0
    sub_mp: float = 5.0

    @field_validator("mp", "sub_mp", mode="before")
    @classmethod
    def _range(cls, v: Any, info: Any) -> float:
        name = f"{info.field_name}_threshold_percent"
        if isinstance(v, bool):
            raise ThresholdError(f"{name} must be a number", field=name)
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ThresholdError(f"{name} must be a number, got {v!r}", field=name) from None
        if f != f or f < 0 or f > 100:
            raise ThresholdError(f"{name} must be between 0 and 100, got {v}", field=name)
        return f


# ----------------------------------------------------------------------------- account
class Holding(Frozen):
    ticker: str
    name: str = ""
    quantity: int = Field(ge=0)
    orderable_quantity: int = Field(ge=0)
    price: int = Field(ge=0)

    @property
    def value(self) -> int:
        return self.quantity * self.price


class OpenOrder(Frozen):
    odno: str
    ticker: str
    side: Side
    quantity: int
    remaining: int
    org_no: str = ""


class Snapshot(Frozen):
    """The account as read from the broker: every page, rt_cd == "0" only."""

    holdings: list[Holding]
    cash: int = Field(ge=0, description="settled cash deposit, KRW")
    prices: dict[str, int] = Field(default_factory=dict, description="prices of targeted tickers not held")
    open_orders: list[OpenOrder] = Field(default_factory=list)
    taken_at: datetime | None = None

    # ticker -> first holding, built on first use; kept with the list it indexes, so a copy with
    # other holdings (model_copy(update=...)) never reads a stale index
    _by_ticker: tuple[list[Holding], dict[str, Holding]] | None = PrivateAttr(default=None)

    def holding(self, ticker: str) -> Holding | None:
        private = self.__pydantic_private__  # a slot: the fast way to the private attribute
        index = private["_by_ticker"] if private else None
        if index is None or index[0] is not self.holdings:
            by: dict[str, Holding] = {}
            for h in self.holdings:
                by.setdefault(h.ticker, h)
            index = self._by_ticker = (self.holdings, by)
        return index[1].get(ticker)

    def price(self, ticker: str) -> int | None:
        h = self.holding(ticker)
        if h is not None and h.price > 0:
            return h.price
        return self.prices.get(ticker)

    def quantity(self, ticker: str) -> int:
        h = self.holding(ticker)
        return h.quantity if h else 0

    @property
    def securities_value(self) -> int:
        return sum(h.value for h in self.holdings)

    @property
    def total(self) -> int:
        return self.securities_value + self.cash


# ----------------------------------------------------------------------------- drift
class ClassDrift(Frozen):
    asset_class: str
    target_pct: float
    actual_pct: float
    drift: float
    value: int
    exceeded: bool


class TickerDrift(Frozen):
    ticker: str
    name: str
    asset_class: str
    target_weight: float  # within the class, pp
    actual_weight: float  # within the class, pp
    drift: float  # Sub-MP drift, pp of the class
    global_target_pct: float
    global_actual_pct: float
    target_value: int
    value: int
    quantity: int
    price: int
    exceeded: bool


class DriftReport(Frozen):
    total: int
    cash: int
    thresholds: Thresholds
    classes: list[ClassDrift]
    tickers: list[TickerDrift]
    needed: bool
    total_abs_drift: float  # sum of |global target - global actual| over every row, CASH included, pp of T
    securities_abs_drift: float = 0.0  # the same without the CASH row (what orders move; rule R4)

    # ticker -> first row, built on first use and kept with the list it indexes (as Snapshot's)
    _by_ticker: tuple[list[TickerDrift], dict[str, TickerDrift]] | None = PrivateAttr(default=None)

    def ticker(self, t: str) -> TickerDrift | None:
        private = self.__pydantic_private__  # a slot: the fast way to the private attribute
        index = private["_by_ticker"] if private else None
        if index is None or index[0] is not self.tickers:
            by: dict[str, TickerDrift] = {}
            for row in self.tickers:
                by.setdefault(row.ticker, row)
            index = self._by_ticker = (self.tickers, by)
        return index[1].get(t)

    def cls(self, c: str) -> ClassDrift | None:
        for row in self.classes:
            if row.asset_class == c:
                return row
        return None

    def exceeded(self) -> list[str]:
        out = [f"MP {c.asset_class} {c.drift:+.2f}pp" for c in self.classes if c.exceeded]
        out += [f"Sub-MP {t.ticker} {t.drift:+.2f}pp" for t in self.tickers if t.exceeded]
        return out


# ----------------------------------------------------------------------------- plans
class PlanOrder(Frozen):
    ticker: str
    name: str = ""
    quantity: int
    reason: str = ""


class Plan(Frozen):
    side: Side
    orders: list[PlanOrder]
    planner: str
    meta: dict[str, Any] = Field(default_factory=dict)


class CheckResult(Frozen):
    rule: str
    passed: bool
    ticker: str | None = None
    message: str
    numbers: dict[str, float | int | str | None] = Field(default_factory=dict)


class PlanningContext(Frozen):
    """Everything a planner may look at for one side."""

    side: Side
    snapshot: Snapshot
    targets: Targets
    thresholds: Thresholds
    drift: DriftReport
    orderable_cash: int | None = None
    cash_buffer: int = 0
    sold_tickers: list[str] = Field(default_factory=list)
    # the run's trading policy, which planners follow and rules R2/R5 honour
    sell_untargeted: bool = True  # untargeted holdings must be sold in full (R5)
    min_trade_value: int = Field(0, ge=0)  # orders worth less than this (KRW) are dust: never required
    attempt: int = 1
    previous_plan: Plan | None = None
    previous_failures: list[CheckResult] = Field(default_factory=list)


# ----------------------------------------------------------------------------- orders
class OrderStatus(StrEnum):
    INTENT = "INTENT"  # written and committed, not known to be sent
    SENT = "SENT"  # the broker accepted it and gave an order number
    UNKNOWN = "UNKNOWN"  # the send's outcome is not known: reconcile, never resend blindly
    PARTIAL = "PARTIAL"  # some shares filled, the rest will not
    FILLED = "FILLED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    PROJECTED = "PROJECTED"  # a dry run: priced at the snapshot, never sent


FINAL_ORDER_STATUSES = frozenset(
    {OrderStatus.PARTIAL, OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.CANCELLED,
     OrderStatus.PROJECTED}
)


class OrderRecord(Frozen):
    id: int
    run_id: str
    side: Side
    ticker: str
    name: str = ""
    quantity: int
    attempt: int
    seq: int = 0  # 0 for the first send, 1.. for a partial fill's remainder
    status: OrderStatus
    odno: str | None = None
    org_no: str | None = None
    filled_quantity: int = 0
    avg_price: float = 0.0
    amount: int = 0
    fees: int = 0
    sends: int = 0  # how many times this intent was sent to the broker
    send_started_at: datetime | None = None  # when the last send began (a takeover waits past it)
    broker_code: str | None = None
    message: str | None = None
    created_at: datetime
    sent_at: datetime | None = None
    updated_at: datetime | None = None

    def with_fields(self, fields: dict[str, Any] | None) -> OrderRecord:
        """This order once ``fields`` (columns of its row) are committed, validated like a row read back."""
        if not fields:
            return self
        return OrderRecord.model_validate({**self.model_dump(), **fields})


class BrokerOrder(Frozen):
    """One row of the broker's daily order list."""

    odno: str
    ticker: str
    side: Side
    quantity: int
    order_type: str = "01"
    price: int = 0  # the order's limit price (ord_unpr); 0 for a market order
    filled_quantity: int = 0
    avg_price: float = 0.0
    amount: int = 0
    remaining: int = 0
    rejected: int = 0
    cancelled: int = 0
    placed_at: datetime
    org_no: str = ""


class Quote(Frozen):
    """The top of one ticker's order book and its day's price limits, as the broker quotes them."""

    ticker: str
    bid: int = Field(ge=0, description="best bid, KRW (0: none)")
    ask: int = Field(ge=0, description="best ask, KRW (0: none)")
    last: int = Field(0, ge=0, description="last traded price")
    upper: int = Field(0, ge=0, description="the day's upper price limit (0: not given)")
    lower: int = Field(0, ge=0, description="the day's lower price limit (0: not given)")
    base: int = Field(0, ge=0, description="base price (previous close) the limits derive from")


class PlaceResult(Frozen):
    odno: str
    org_no: str = ""
    placed_at: datetime | None = None

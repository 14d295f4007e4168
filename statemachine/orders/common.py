"""The order protocol's shared vocabulary: message markers, the broker day, a side's result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..errors import OrderRejected
from ..models import BrokerOrder, OrderRecord, OrderStatus
from ..step_records import IntentRow, OrderRow
from ..units import KST

FINAL = {OrderStatus.FILLED, OrderStatus.PARTIAL, OrderStatus.REJECTED, OrderStatus.CANCELLED}
#: A sell refused because the shares are not there (KIS "주문 가능한 수량을 초과하였습니다"): after an
#: earlier send of the same order, the likeliest reason is that the earlier send sold them.
NO_SHARES_CODES = frozenset({"APBK0400"})
ADOPTED = "adopted by reconciliation"
NEVER_SENT = "intent found unsent on resume (send counter 0): sent"
#: The message prefix of an order row recorded for a broker order that no intent owned.
ORPHAN = "adopted: a broker order no intent owned"
#: Offset samples (broker clock minus ours) kept per executor.
OFFSET_SAMPLES = 10


def broker_day(at: datetime) -> date:
    return at.astimezone(KST).date()


def is_orphan(rec: OrderRecord) -> bool:
    return (rec.message or "").startswith(ORPHAN)


def _no_shares(exc: OrderRejected) -> bool:
    return exc.code in NO_SHARES_CODES or ("수량" in (exc.message or "") and "초과" in (exc.message or ""))


@dataclass
class Blocked:
    ticker: str
    reason: str
    candidates: list[OrderRow | IntentRow] = field(default_factory=list)


@dataclass
class SideResult:
    orders: list[OrderRecord]
    blocked: Blocked | None = None
    #: order id -> fields not committed yet (the side's last answers and fills): the step's
    #: checkpoint commits them with its transition
    pending: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Match:
    """One reading of the broker's list against one intent."""

    candidates: list[BrokerOrder]
    foreign: list[BrokerOrder]  # same ticker, not matching, placed after the intent, no intent owns it
    early: list[BrokerOrder]  # matching, but placed before the intent by more than the skew tolerance


def _closed_status(filled: int, quantity: int, rejected: int) -> OrderStatus:
    """The final status of an order the broker will fill no more of."""
    if filled >= quantity:
        return OrderStatus.FILLED
    if filled > 0:
        return OrderStatus.PARTIAL
    return OrderStatus.REJECTED if rejected > 0 else OrderStatus.CANCELLED


def _row(o: BrokerOrder) -> OrderRow:
    return OrderRow(odno=o.odno, ticker=o.ticker, side=o.side.value, quantity=o.quantity, order_type=o.order_type,
                    placed_at=o.placed_at.isoformat(), filled=o.filled_quantity)

"""The executor's plumbing: its collaborators, order rows read and updated, the broker's order list."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from ..errors import RetryableError
from ..models import BrokerOrder, OrderRecord, Side
from ..ports import Broker, Clock, Hooks, UnitOfWork
from ..records import Fence
from ..settings import EngineSettings
from .common import broker_day
from .pricing import OrderTerms


class ExecutorBase:
    """What every part of the executor shares: its collaborators and the order rows and list."""

    def __init__(self, uow: Callable[[], AbstractContextManager[UnitOfWork]], broker: Broker, clock: Clock,
                 hooks: Hooks, settings: EngineSettings, log: logging.LoggerAdapter,
                 heartbeat: Callable[[], None], guard: Callable[[], None] | None = None, *,
                 fence: Fence) -> None:
        self.uow = uow
        self.broker = broker
        self.clock = clock
        self.hooks = hooks
        self.settings = settings
        self.log = log
        self.heartbeat = heartbeat
        self.guard = guard or (lambda: None)
        self.offsets: list[float] = []  # broker clock minus ours, seconds, from order replies
        self.fence = fence  # every order write is conditional on the run's lease (owner, epoch)
        # the latest listing of the side's orders (read from, rows) while nothing was sent or
        # cancelled after it: the side's final reconciliation reads it instead of asking again
        self._listing: tuple[datetime, list[BrokerOrder]] | None = None
        self.terms: dict[str, OrderTerms] = {}  # the plan attempt's order terms per ticker (pricing.py)

    def _terms_of(self, ticker: str) -> tuple[str, int]:
        """(ORD_DVSN, price) every order of ``ticker`` in this attempt is sent with; a market order
        (the configured division, price 0) when the attempt stored no terms for it."""
        term = self.terms.get(ticker)
        if term is None:
            return self.settings.order_type, 0
        return term.order_type, term.price if term.order_type == "00" else 0

    def _side_orders(self, run_id: str, side: Side) -> list[OrderRecord]:
        with self.uow() as uow:
            return [o for o in uow.orders(run_id) if o.side is side]

    def _next_seq(self, run_id: str, side: Side, ticker: str) -> int:
        """Sequence numbers are unique per run, side and ticker across every attempt."""
        return max((o.seq + 1 for o in self._side_orders(run_id, side) if o.ticker == ticker), default=0)

    def _update(self, rec: OrderRecord, **fields: object) -> OrderRecord:
        with self.uow() as uow:
            out = uow.update_order(rec.id, fence=self.fence, updated_at=self.clock.now(), **fields)
            uow.commit()
        return out

    def _send_started(self, rec: OrderRecord) -> datetime:
        return rec.send_started_at or rec.sent_at or rec.updated_at or rec.created_at

    def _daily(self, since: datetime, **query: object) -> list[BrokerOrder]:
        """The broker's order list of every broker day from ``since`` to now: an order sent just
        after midnight KST is listed under the next day than its intent (at most a few days)."""
        first, last = broker_day(since), broker_day(self.clock.now())
        days = [first + timedelta(days=n) for n in range(min(max(0, (last - first).days), 3) + 1)]
        rows: list[BrokerOrder] = []
        for day in days:
            rows += self.broker.daily_orders(day, **query)  # type: ignore[arg-type]
        return rows

    def _read(self, since: datetime, **query: object) -> tuple[list[BrokerOrder] | None, str]:
        try:
            return self._daily(since, **query), ""
        except RetryableError as exc:
            return None, exc.message

    def _interval(self) -> float:
        """Seconds between readings of the order list while an order is not (yet) listed."""
        return min(5.0, max(self.settings.fill_poll_s, self.settings.settle_window_s / 4))

    def _poll(self, rec: OrderRecord) -> BrokerOrder | None:
        rows = self._daily(rec.created_at, odno=rec.odno)
        for o in rows:
            if o.odno == rec.odno:
                return o
        return None

    def _fill_fields(self, rec: OrderRecord, row: BrokerOrder) -> dict:
        fee = self.settings.fees.cost(rec.ticker, rec.side, row.amount)
        return {"filled_quantity": row.filled_quantity, "avg_price": row.avg_price, "amount": row.amount,
                "fees": fee}

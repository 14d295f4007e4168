"""The executor's plumbing: its collaborators, order rows read and updated, the broker's order list."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..errors import RetryableError
from ..models import BrokerOrder, OrderRecord, Side
from ..ports import Broker, Clock, Hooks, UnitOfWork
from ..records import Checkpoint, Fence
from ..settings import EngineSettings
from .common import broker_day
from .pricing import OrderTerms


class OrderMemo(Protocol):
    """What the engine keeps of a run it drives (``statemachine.engine.base.RunMemo``): the run's
    order rows (with the fields still pending, below) and outputs."""

    orders: dict[int, OrderRecord]
    outputs: dict[str, dict[str, Any]]


class ExecutorBase:
    """What every part of the executor shares: its collaborators and the order rows and list."""

    def __init__(self, uow: Callable[[], AbstractContextManager[UnitOfWork]], broker: Broker, clock: Clock,
                 hooks: Hooks, settings: EngineSettings, log: logging.LoggerAdapter,
                 heartbeat: Callable[[], None], guard: Callable[[], None] | None = None, *,
                 fence: Fence, memo: OrderMemo | None = None, extended: Callable[[], None] | None = None,
                 renewal_due: Callable[[], bool] | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.uow = uow
        self.progress = progress or (lambda msg: None)  # a person's "what is happening now", per order
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
        #: the run's orders as committed (kept up to date here); None: read them from the store
        self.memo = memo
        self.extended = extended or (lambda: None)  # a commit extended the lease
        #: whether a send's counter should extend the lease too (always, unless the engine says a
        #: checkpoint extended it less than a third of its time ago)
        self.renewal_due = renewal_due or (lambda: True)
        #: order id -> fields not committed yet: the broker's answer to a send (order number) and an
        #: order's final fill result. Neither needs to be on disk before anything else happens (a
        #: crash before it is a lost reply: reconciled and adopted, never re-sent; a fill is read
        #: again from the broker), so they go with the next transaction the run makes anyway: the
        #: next intent, the next send's counter, or the side's checkpoint (``SideResult.pending``).
        self.pending: dict[int, dict[str, Any]] = {}
        self.run_id: str | None = None  # the run whose side is being executed

    def _terms_of(self, ticker: str) -> tuple[str, int]:
        """(ORD_DVSN, price) every order of ``ticker`` in this attempt is sent with; a market order
        (the configured division, price 0) when the attempt stored no terms for it."""
        term = self.terms.get(ticker)
        if term is None:
            return self.settings.order_type, 0
        return term.order_type, term.price if term.order_type == "00" else 0

    def _orders(self, run_id: str) -> list[OrderRecord]:
        if self.memo is not None:
            return sorted(self.memo.orders.values(), key=lambda o: o.id)
        with self.uow() as uow:
            return uow.orders(run_id)

    def _side_orders(self, run_id: str, side: Side) -> list[OrderRecord]:
        return [o for o in self._orders(run_id) if o.side is side]

    def _remember(self, rec: OrderRecord) -> OrderRecord:
        if self.memo is not None:
            self.memo.orders[rec.id] = rec
        return rec

    def _next_seq(self, run_id: str, side: Side, ticker: str) -> int:
        """Sequence numbers are unique per run, side and ticker across every attempt."""
        return max((o.seq + 1 for o in self._side_orders(run_id, side) if o.ticker == ticker), default=0)

    def _update(self, rec: OrderRecord, *, renew: bool = False, defer: bool = False,
                **fields: Any) -> OrderRecord:
        """Commit ``fields`` of an order, with every pending field of the run's orders in the same
        transaction; with ``renew`` it also extends the run's lease when a renewal is due (a send's
        counter: no separate renewal). ``defer``: an order's final fill result, kept pending (only
        while the engine keeps the run's memo and so takes the pending fields into the side's
        checkpoint)."""
        fields = {"updated_at": self.clock.now(), **fields}
        if defer and self.memo is not None:
            merged = {**self.pending.pop(rec.id, {}), **fields}
            self.pending[rec.id] = merged
            return self._remember(rec.model_copy(update=merged))
        mine = {**self.pending.pop(rec.id, {}), **fields}
        renew = renew and self.renewal_due()
        # one transaction: the lease's extension (a send's counter), the pending fields, this order
        lease = {"lease_expires_at": self.clock.now() + timedelta(seconds=self.settings.lease_ttl_s)} if renew else {}
        _, answered = self._save(Checkpoint(run_id=rec.run_id, fence=self.fence, run_fields=lease,
                                            order_updates={**self.take_pending(), rec.id: mine}))
        self._committed(answered + (["odno"] if "odno" in mine else []))
        if renew:
            self.extended()
        return self._remember(rec.with_fields(mine))

    def _save(self, cp: Checkpoint) -> tuple[int | None, list[str]]:
        """Commit ``cp`` (one durable fact: statemachine.ports.UnitOfWork.save); the memo learns its
        order updates. Returns the new order's id and the order numbers now on disk."""
        with self.uow() as uow:
            new_id = uow.save(cp)
        answered = []
        for order_id, upd in cp.order_updates.items():
            if self.memo is not None and order_id in self.memo.orders:
                self._remember(self.memo.orders[order_id].with_fields(upd))
            if "odno" in upd:
                answered.append(str(upd["odno"]))
        return new_id, answered

    def _apply_pending(self, uow: UnitOfWork) -> list[str]:
        """Write every pending field in ``uow`` (a transaction of several writes); the order numbers."""
        answered = []
        for order_id, upd in self.take_pending().items():
            self._remember(uow.update_order(order_id, fence=self.fence, **upd))
            if "odno" in upd:
                answered.append(str(upd["odno"]))
        return answered

    def _committed(self, answered: list[str]) -> None:
        for _ in answered:  # a broker answer is on disk now
            self.hooks.point("order:sent_committed")

    def _flush(self) -> None:
        """Commit what is pending now (e.g. the broker's answer to a send, before a wait)."""
        if not self.pending or self.run_id is None:
            return
        cp = Checkpoint(run_id=self.run_id, fence=self.fence, order_updates=self.take_pending())
        self._committed(self._save(cp)[1])

    def take_pending(self) -> dict[int, dict[str, Any]]:
        """The pending fields, handed to the transaction that commits them (the next write, or the side's
        checkpoint)."""
        out, self.pending = self.pending, {}
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

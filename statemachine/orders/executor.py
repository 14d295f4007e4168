"""Intents and sending: each planned order written as an intent before it is sent, sent, polled
until filled (the remainder cancelled and confirmed, a partial re-sent), per the module doc of
:mod:`statemachine.orders`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from ..errors import MARKET_CLOSED_CODES, BrokerError, LeaseHeld, MarketClosed, OrderRejected, RetryableError
from ..models import BrokerOrder, OrderRecord, OrderStatus, PlanOrder, Side
from ..records import Checkpoint, NewOrder, RunRecord
from .common import NEVER_SENT, OFFSET_SAMPLES, Blocked, SideResult, _closed_status, _no_shares, is_orphan
from .pricing import OrderTerms
from .sweep import SweepMixin


@dataclass
class _Pending:
    """An order at the broker whose fills are awaited, with the first intent of its chain."""

    rec: OrderRecord
    first: OrderRecord
    row: BrokerOrder | None = None  # its row in the latest listing, once listed


class OrderExecutor(SweepMixin):
    """Sends a plan attempt's orders exactly once each (see :mod:`statemachine.orders`).

    Every order of the side is sent (or settled) first; their fills are then polled together, one
    listing of the side's orders per interval, and the side's final reconciliation reads the last
    of those listings when nothing was sent after it (see :meth:`_await_fills`).

    What the broker answers is committed with the run's next write (``self.pending``, see
    :class:`statemachine.orders.base.ExecutorBase`): a send's order number with the next intent or
    send counter of the side, else at the latest right after the first listing that shows the order
    still open (before any wait or cancel); a final fill result with the next write, at the latest
    in the side's checkpoint (``SideResult.pending``)."""

    def execute(self, run: RunRecord, side: Side, attempt: int, plan: list[PlanOrder],
                terms: dict[str, OrderTerms] | None = None) -> SideResult:
        """Send ``plan``; ``terms`` (the attempt's stored order terms, statemachine.orders.pricing)
        give each ticker's division and limit price, market orders without them."""
        self.terms = dict(terms or {})
        self._listing = None
        self.run_id = run.id
        try:
            blocked = self._execute(run, side, attempt, plan)
        except LeaseHeld:
            raise  # fenced: nothing more may be written
        except BaseException:
            with contextlib.suppress(Exception):
                self._flush()  # what the broker told us is worth keeping before the step fails
            raise
        return SideResult(self._side_orders(run.id, side), blocked, pending=self.take_pending())

    def _execute(self, run: RunRecord, side: Side, attempt: int, plan: list[PlanOrder]) -> Blocked | None:
        pending: list[_Pending] = []
        for order in plan:
            out = self._ticker(run, side, attempt, order)
            if isinstance(out, Blocked):
                if pending:  # the orders already sent stand: their fills are recorded before stopping
                    self._await_fills(side, pending)
                return out
            if out is not None:
                pending.append(out)
        while pending:
            again: list[_Pending] = []
            for p in self._await_fills(side, pending):
                # a partial fill's remainder is sent again as a new intent, then awaited with the rest
                out = self._drive(run, side, attempt, p.first, p.rec, fresh=False, sends=0)
                if isinstance(out, Blocked):
                    if again:
                        self._await_fills(side, again)
                    return out
                if out is not None:
                    again.append(out)
            pending = again
        return self._sweep(run, side, attempt)

    def _ticker(self, run: RunRecord, side: Side, attempt: int, order: PlanOrder) -> Blocked | _Pending | None:
        chain = [o for o in self._side_orders(run.id, side)
                 if o.ticker == order.ticker and o.attempt == attempt and not is_orphan(o)]
        fresh = False
        if not chain:
            self.guard()  # kill switch, abort: checked before every new order
            seq = self._next_seq(run.id, side, order.ticker)
            chain = [self._intent(run, side, order.ticker, order.name, order.quantity, attempt, seq)]
            fresh = True
        first = chain[0]
        rec = chain[-1]
        if rec.status is OrderStatus.REJECTED and rec.broker_code in MARKET_CLOSED_CODES:
            # refused as outside the session last time: nothing was placed, so send it anew now
            self.guard()
            rec = self._intent(run, side, rec.ticker, rec.name, rec.quantity, attempt,
                               self._next_seq(run.id, side, rec.ticker))
            fresh = True
        return self._drive(run, side, attempt, first, rec, fresh=fresh, sends=0)

    def _drive(self, run: RunRecord, side: Side, attempt: int, first: OrderRecord, rec: OrderRecord, *,
               fresh: bool, sends: int) -> Blocked | _Pending | None:
        """Take one order from where its record stands to the broker: the order SENT (its fills to be
        awaited, returned as pending), final (None), or the run BLOCKED. ``sends``: sends of the
        current intent by this process (bounded by settings.send_attempts)."""
        note: str | None = None  # a message recorded with the next send's counter
        while True:
            if rec.status is OrderStatus.INTENT:
                if not fresh and rec.sends == 0:
                    # the send counter is committed before any send: this intent never left, so there
                    # is nothing to reconcile (and no settle window to wait out); noted with the counter
                    note = NEVER_SENT
                    fresh = True
                if fresh:
                    # Every send, first or after a reconciliation that found nothing, needs the lease
                    # (a stalled runner whose run was taken over must not send: the send's counter is
                    # committed fenced, extending the lease) and the guards.
                    self.heartbeat()
                    self.guard()
                    rec = self._send(rec, note)
                    note = None
                    sends += 1
                    fresh = False
                else:
                    rec = self._update(rec, status=OrderStatus.UNKNOWN,
                                       message="intent found without an order number on resume")
                    self.log.warning("order %s %s x%d: intent without an order number, reconciling",
                                     side.value, rec.ticker, rec.quantity)
            elif rec.status is OrderStatus.UNKNOWN:
                outcome = self._reconcile(run, rec, may_resend=sends < self.settings.send_attempts)
                if isinstance(outcome, Blocked):
                    return outcome
                rec, fresh = outcome
            elif rec.status is OrderStatus.SENT:
                self._listing = None  # a listing read before this send cannot stand for the side's
                return _Pending(rec, first)
            elif rec.status is OrderStatus.PARTIAL and rec.seq - first.seq < self.settings.partial_retries:
                remainder = rec.quantity - rec.filled_quantity
                if remainder <= 0:
                    return None
                self.log.warning("order %s %s: %d of %d filled; re-sending the remainder %d",
                                 side.value, rec.ticker, rec.filled_quantity, rec.quantity, remainder)
                self.guard()
                rec = self._intent(run, side, rec.ticker, rec.name, remainder, attempt,
                                   self._next_seq(run.id, side, rec.ticker))
                fresh = True
                sends = 0
            else:
                return None

    def _intent(self, run: RunRecord, side: Side, ticker: str, name: str, qty: int, attempt: int,
                seq: int) -> OrderRecord:
        intent = NewOrder(account=run.account, side=side, ticker=ticker, name=name, quantity=qty, attempt=attempt,
                          seq=seq, status=OrderStatus.INTENT, created_at=self.clock.now())
        # with the previous order's pending answer and fill: one transaction
        # not durable yet: the send's counter, committed durable before the order leaves, makes it so
        new_id, answered = self._save(Checkpoint(run_id=run.id, fence=self.fence, order_updates=self.take_pending(),
                                                 new_order=intent, durable=False))
        if new_id is None:
            raise RuntimeError("the store returned no id for the new order")
        rec = OrderRecord(id=new_id, run_id=run.id, side=side, ticker=ticker, name=name, quantity=qty,
                          attempt=attempt, seq=seq, status=OrderStatus.INTENT, created_at=intent.created_at)
        self._committed(answered)
        self._remember(rec)
        self.log.info("order intent %s %s x%d committed (#%d)", side.value, ticker, qty, rec.id)
        self.hooks.point("order:intent_committed")
        return rec

    def _send(self, rec: OrderRecord, note: str | None = None) -> OrderRecord:
        self.hooks.point("order:before_send")
        # the send's start (our clock) is committed with the counter: the settle window runs from it
        started = self.clock.now()
        counter: dict[str, Any] = {"sends": rec.sends + 1, "sent_at": started, "send_started_at": started}
        if note:
            counter["message"] = note
        rec = self._update(rec, renew=True, **counter)
        order_type, price = self._terms_of(rec.ticker)
        try:
            res = self.broker.place_order(rec.side, rec.ticker, rec.quantity, order_type, price)
        except OrderRejected as exc:
            self.log.warning("order %s %s x%d rejected: [%s] %s", rec.side.value, rec.ticker, rec.quantity,
                             exc.code, exc.message)
            if rec.side is Side.SELL and _no_shares(exc) and self._sent_before(rec):
                # An earlier send of this order got no answer: it may be what sold the shares. Not a
                # verdict on the order: reconcile (never re-send) until the list shows it, or block.
                self.log.warning("order sell %s x%d: re-send refused for lack of shares after an unanswered "
                                 "send; reconciling, never re-sending", rec.ticker, rec.quantity)
                return self._update(rec, status=OrderStatus.UNKNOWN, broker_code=exc.code,
                                    message=(f"re-send refused for lack of shares ([{exc.code}] {exc.message}); "
                                             f"an earlier send may have sold them: reconciling")[:500])
            rec = self._update(rec, status=OrderStatus.REJECTED, broker_code=exc.code, message=exc.message)
            if exc.code in MARKET_CLOSED_CODES:
                # Not a verdict on the order: the market is closed. Stop at this checkpoint; a resume
                # inside the session sends it again (the refusal stays on record).
                raise MarketClosed(f"the broker refused {rec.side.value} {rec.ticker} x{rec.quantity} as outside "
                                   f"its session ([{exc.code}] {exc.message}); nothing was placed. The run "
                                   f"stays at its checkpoint: resume it inside the session",
                                   ticker=rec.ticker, code=exc.code) from exc
            return rec
        except Exception as exc:  # noqa: BLE001 - any other failure: the order may or may not exist
            self.log.warning("order %s %s x%d: outcome unknown (%s); will reconcile, never resend blindly",
                             rec.side.value, rec.ticker, rec.quantity, exc)
            code = getattr(exc, "code", None)
            return self._update(rec, status=OrderStatus.UNKNOWN, broker_code=code,
                                message=f"{type(exc).__name__}: {exc}"[:500])
        replied = self.clock.now()
        if res.placed_at is not None:
            self.offsets = (self.offsets + [(res.placed_at - replied).total_seconds()])[-OFFSET_SAMPLES:]
        self.hooks.point("order:accepted_before_record")
        # The order number is committed with the run's next write: the next intent or send counter of
        # the side, or at the latest right after the first listing of the fills that shows the order
        # still open (with its fill result when that listing shows it final). A crash before then is a
        # lost reply: reconciled and adopted, never sent again.
        answer = {"status": OrderStatus.SENT, "odno": res.odno, "org_no": res.org_no, "sent_at": replied,
                  "updated_at": replied}
        self.pending[rec.id] = answer
        limit = f" at limit {price:,}" if order_type == "00" else ""
        self.log.info("order %s %s x%d%s accepted: order no %s", rec.side.value, rec.ticker, rec.quantity, limit,
                      res.odno)
        self.progress(f"sent {rec.side.value} {rec.ticker} x{rec.quantity:,}{limit}: order no {res.odno}")
        return self._remember(rec.model_copy(update=answer))  # the memo knows it (the sweep's own orders)

    def _sent_before(self, rec: OrderRecord) -> bool:
        """Was this order sent before without an answer (this intent, or an UNKNOWN one of its chain)?"""
        if rec.sends > 1:
            return True
        return any(o.status is OrderStatus.UNKNOWN and o.ticker == rec.ticker and o.attempt == rec.attempt
                   and o.id != rec.id for o in self._side_orders(rec.run_id, rec.side))

    def _await_fills(self, side: Side, pending: list[_Pending]) -> list[_Pending]:
        """Poll the fills of the side's sent orders with one listing of the side's orders per
        interval (every page read), until each is filled or closed; at ``fill_timeout_s`` the open
        remainder of a listed order is cancelled and the cancellation confirmed. An order the list
        does not show by the timeout plus the send timeout and settle window is an error (resume to
        poll again). Returns the orders with their final records."""
        start = self.clock.monotonic()
        deadline = start + self.settings.fill_timeout_s
        # an accepted order may take the list's lag to show: wait that out before giving up on it
        unseen_deadline = deadline + self.settings.send_timeout_s + self.settings.settle_window_s
        since = min(p.rec.created_at for p in pending)
        waiting = list(pending)
        done: list[_Pending] = []
        while True:
            rows = self._daily(since, side=side)
            self._listing = (since, rows)
            by_odno = {o.odno: o for o in rows}
            for p in list(waiting):
                row = by_odno.get(p.rec.odno or "")
                if row is None:
                    continue
                p.row = row
                if row.filled_quantity >= p.rec.quantity:
                    p.rec = self._update(p.rec, defer=True, status=OrderStatus.FILLED,
                                         **self._fill_fields(p.rec, row))
                    self.log.info("order %s %s filled: %d @ %.1f", p.rec.side.value, p.rec.ticker,
                                  row.filled_quantity, row.avg_price)
                    self.progress(f"filled {p.rec.side.value} {p.rec.ticker} {row.filled_quantity:,} @ "
                                  f"{round(row.avg_price):,}")
                elif row.remaining <= 0:
                    p.rec = self._closed(p.rec, row)
                else:
                    continue
                waiting.remove(p)
                done.append(p)
            if not waiting:
                return done
            if any("odno" in self.pending.get(p.rec.id, {}) for p in waiting):
                # not final at this listing: the order numbers are committed now, before any wait or
                # cancel (with the fill results already read)
                self._flush()
            now = self.clock.monotonic()
            if now >= deadline:
                for p in [p for p in waiting if p.row is not None]:
                    p.rec = self._cancel_remainder(p.rec, p.row)  # type: ignore[arg-type]
                    waiting.remove(p)
                    done.append(p)
                if not waiting:
                    return done
                if now >= unseen_deadline:
                    rec = waiting[0].rec
                    raise RetryableError(f"order {rec.odno} ({rec.ticker}) not visible at the broker yet; resume "
                                         f"to poll again", ticker=rec.ticker, odno=rec.odno)
            self.hooks.point("order:between_polls")
            self.heartbeat()
            # not listed yet (the list lags): look again less often than for fills
            listed = any(p.row is not None for p in waiting)
            self.clock.sleep(self.settings.fill_poll_s if listed else self._interval())

    def _cancel_remainder(self, rec: OrderRecord, row: BrokerOrder) -> OrderRecord:
        self.log.warning("order %s %s: %d of %d filled after %.0fs; cancelling the remainder",
                         rec.side.value, rec.ticker, row.filled_quantity, rec.quantity, self.settings.fill_timeout_s)
        self._listing = None  # the side changed at the broker after the last listing
        try:
            self.broker.cancel_order(rec.odno or "", rec.org_no or "", row.remaining)
        except BrokerError as exc:
            # Refused, typically because the remainder filled meanwhile ("nothing to cancel"): the
            # order list, polled below, is the truth either way.
            self.log.warning("order %s %s: cancel refused ([%s] %s); checking the order list",
                             rec.side.value, rec.ticker, exc.code, exc.message)
        for _ in range(self.settings.cancel_confirm_polls):
            found = self._poll(rec)
            if found is not None and found.remaining <= 0:
                return self._closed(rec, found)
            self.clock.sleep(self.settings.fill_poll_s)
        raise RetryableError(f"cancel of order {rec.odno} ({rec.ticker}) not confirmed; resume to check again",
                             ticker=rec.ticker, odno=rec.odno)

    def _closed(self, rec: OrderRecord, row: BrokerOrder) -> OrderRecord:
        """The broker will fill no more of this order."""
        fields = self._fill_fields(rec, row)
        status = _closed_status(row.filled_quantity, rec.quantity, row.rejected)
        self.log.warning("order %s %s x%d closed %s with %d filled", rec.side.value, rec.ticker, rec.quantity,
                         status.value, row.filled_quantity)
        return self._update(rec, defer=True, status=status, **fields)

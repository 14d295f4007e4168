"""Intents and sending: each planned order written as an intent before it is sent, sent, polled
until filled (the remainder cancelled and confirmed, a partial re-sent), per the module doc of
:mod:`statemachine.orders`.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import MARKET_CLOSED_CODES, BrokerError, LeaseHeld, MarketClosed, OrderRejected, RetryableError
from ..models import BrokerOrder, OrderRecord, OrderStatus, PlanOrder, Side
from ..records import RunRecord
from .common import NEVER_SENT, OFFSET_SAMPLES, Blocked, SideResult, _closed_status, _no_shares, is_orphan
from .sweep import SweepMixin


class OrderExecutor(SweepMixin):
    """Sends a plan attempt's orders exactly once each (see :mod:`statemachine.orders`)."""

    def execute(self, run: RunRecord, side: Side, attempt: int, plan: list[PlanOrder]) -> SideResult:
        try:
            blocked = None
            for order in plan:
                blocked = self._ticker(run, side, attempt, order)
                if blocked:
                    break
            if not blocked:
                blocked = self._sweep(run, side, attempt)
        except LeaseHeld:
            raise  # fenced: nothing more may be written
        except BaseException:
            with contextlib.suppress(Exception):
                self._flush()  # what the broker told us is worth keeping before the step fails
            raise
        return SideResult(self._side_orders(run.id, side), blocked, pending=self.take_pending())

    def _ticker(self, run: RunRecord, side: Side, attempt: int, order: PlanOrder) -> Blocked | None:
        chain = [o for o in self._side_orders(run.id, side)
                 if o.ticker == order.ticker and o.attempt == attempt and not is_orphan(o)]
        fresh = False
        sends = 0  # sends of the current intent by this process (bounded by settings.send_attempts)
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
                rec = self._await_fill(rec)
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
        with self.uow() as uow:  # with the previous order's pending answer and fill: one transaction
            answered = self._apply_pending(uow)
            rec = uow.add_order(run_id=run.id, account=run.account, side=side, ticker=ticker, name=name,
                                quantity=qty, attempt=attempt, seq=seq, status=OrderStatus.INTENT,
                                created_at=self.clock.now(), fence=self.fence)
            uow.commit()
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
        try:
            res = self.broker.place_order(rec.side, rec.ticker, rec.quantity, self.settings.order_type, 0)
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
        # The order number is committed with the order's next write: its fill result when the first
        # reading shows it final (one transaction for both), else right after that reading. A crash
        # before then is a lost reply: reconciled and adopted, never sent again.
        answer = {"status": OrderStatus.SENT, "odno": res.odno, "org_no": res.org_no, "sent_at": replied,
                  "updated_at": replied}
        self.pending[rec.id] = answer
        self.log.info("order %s %s x%d accepted: order no %s", rec.side.value, rec.ticker, rec.quantity, res.odno)
        return rec.model_copy(update=answer)

    def _sent_before(self, rec: OrderRecord) -> bool:
        """Was this order sent before without an answer (this intent, or an UNKNOWN one of its chain)?"""
        if rec.sends > 1:
            return True
        return any(o.status is OrderStatus.UNKNOWN and o.ticker == rec.ticker and o.attempt == rec.attempt
                   and o.id != rec.id for o in self._side_orders(rec.run_id, rec.side))

    def _await_fill(self, rec: OrderRecord) -> OrderRecord:
        start = self.clock.monotonic()
        deadline = start + self.settings.fill_timeout_s
        # an accepted order may take the list's lag to show: wait that out before giving up on it
        unseen_deadline = deadline + self.settings.send_timeout_s + self.settings.settle_window_s
        row: BrokerOrder | None = None
        while True:
            try:
                row = self._poll(rec)
            except BaseException:
                with contextlib.suppress(Exception):
                    self._flush()  # the order number cannot wait for a reading that failed
                raise
            if row is not None:
                if row.filled_quantity >= rec.quantity:
                    out = self._update(rec, defer=True, status=OrderStatus.FILLED, **self._fill_fields(rec, row))
                    self.log.info("order %s %s filled: %d @ %.1f", rec.side.value, rec.ticker,
                                  row.filled_quantity, row.avg_price)
                    return out
                if row.remaining <= 0:
                    return self._closed(rec, row)
            self._flush()  # not final at the first reading: the order number is committed now
            if self.clock.monotonic() >= (deadline if row is not None else unseen_deadline):
                break
            self.hooks.point("order:between_polls")
            self.heartbeat()
            # not listed yet (the list lags): look again less often than for fills
            self.clock.sleep(self.settings.fill_poll_s if row is not None else self._interval())
        if row is None:
            raise RetryableError(f"order {rec.odno} ({rec.ticker}) not visible at the broker yet; resume to "
                                 f"poll again", ticker=rec.ticker, odno=rec.odno)
        self.log.warning("order %s %s: %d of %d filled after %.0fs; cancelling the remainder",
                         rec.side.value, rec.ticker, row.filled_quantity, rec.quantity, self.settings.fill_timeout_s)
        try:
            self.broker.cancel_order(rec.odno or "", rec.org_no or "", row.remaining)
        except BrokerError as exc:
            # Refused, typically because the remainder filled meanwhile ("nothing to cancel"): the
            # order list, polled below, is the truth either way.
            self.log.warning("order %s %s: cancel refused ([%s] %s); checking the order list",
                             rec.side.value, rec.ticker, exc.code, exc.message)
        for _ in range(self.settings.cancel_confirm_polls):
            row = self._poll(rec)
            if row is not None and row.remaining <= 0:
                return self._closed(rec, row)
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

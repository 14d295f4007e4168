"""Exactly-once order execution at a broker with no idempotency key (DOMAIN.md section 6).

For each planned order:

1. write the intent and commit, before sending;
2. send; commit the broker's order number;
3. an intent whose send has no known outcome (lost reply, or found uncommitted on resume) is
   UNKNOWN: reconcile it against the broker's daily orders (every page) and adopt the one
   matching order, resend only when the broker shows none, and BLOCK the run when it is
   ambiguous (several candidates, or a same-ticker order this engine did not place);
4. poll fills until filled or a timeout, then cancel the open remainder and confirm it;
5. a partial fill's remainder is re-sent as a new intent, up to ``partial_retries`` times.

Before every send the lease is renewed (a runner whose run was taken over stops) and the guards
run (kill switch, abort); one intent is sent at most ``send_attempts`` times per process, after
which it stays UNKNOWN for a later resume to reconcile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from .errors import BrokerError, OrderOutcomeUnknown, OrderRejected, RetryableError
from .models import BrokerOrder, OrderRecord, OrderStatus, PlanOrder, Side
from .ports import Broker, Clock, Hooks, UnitOfWork
from .records import Fence, RunRecord
from .settings import EngineSettings

KST = timezone(timedelta(hours=9))
FINAL = {OrderStatus.FILLED, OrderStatus.PARTIAL, OrderStatus.REJECTED, OrderStatus.CANCELLED}


def broker_day(at: datetime) -> date:
    return at.astimezone(KST).date()


@dataclass
class Blocked:
    ticker: str
    reason: str
    candidates: list[dict] = field(default_factory=list)


@dataclass
class SideResult:
    orders: list[OrderRecord]
    blocked: Blocked | None = None


class OrderExecutor:
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
        self.fence = fence  # every order write is conditional on the run's lease (owner, epoch)

    # -- the side ------------------------------------------------------------------------------
    def execute(self, run: RunRecord, side: Side, attempt: int, plan: list[PlanOrder]) -> SideResult:
        for order in plan:
            blocked = self._ticker(run, side, attempt, order)
            if blocked:
                return SideResult(self._side_orders(run.id, side), blocked)
        return SideResult(self._side_orders(run.id, side))

    def _side_orders(self, run_id: str, side: Side) -> list[OrderRecord]:
        with self.uow() as uow:
            return [o for o in uow.orders(run_id) if o.side is side]

    def _ticker(self, run: RunRecord, side: Side, attempt: int, order: PlanOrder) -> Blocked | None:
        chain = [o for o in self._side_orders(run.id, side) if o.ticker == order.ticker]
        fresh = False
        sends = 0  # sends of the current intent by this process (bounded by settings.send_attempts)
        if not chain:
            self.guard()  # kill switch, abort: checked before every new order
            chain = [self._intent(run, side, order.ticker, order.name, order.quantity, attempt, 0)]
            fresh = True
        rec = chain[-1]
        while True:
            if rec.status is OrderStatus.INTENT:
                if fresh:
                    # Every send, first or after a reconciliation that found nothing, needs the lease
                    # (a stalled runner whose run was taken over must not send) and the guards.
                    self.heartbeat()
                    self.guard()
                    rec = self._send(rec)
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
            elif rec.status is OrderStatus.PARTIAL and rec.seq < self.settings.partial_retries:
                remainder = rec.quantity - rec.filled_quantity
                if remainder <= 0:
                    return None
                self.log.warning("order %s %s: %d of %d filled; re-sending the remainder %d",
                                 side.value, rec.ticker, rec.filled_quantity, rec.quantity, remainder)
                self.guard()
                rec = self._intent(run, side, rec.ticker, rec.name, remainder, attempt, rec.seq + 1)
                fresh = True
                sends = 0
            else:
                return None

    # -- steps of one order ----------------------------------------------------------------------
    def _intent(self, run: RunRecord, side: Side, ticker: str, name: str, qty: int, attempt: int,
                seq: int) -> OrderRecord:
        with self.uow() as uow:
            rec = uow.add_order(run_id=run.id, account=run.account, side=side, ticker=ticker, name=name,
                                quantity=qty, attempt=attempt, seq=seq, status=OrderStatus.INTENT,
                                created_at=self.clock.now(), fence=self.fence)
            uow.commit()
        self.log.info("order intent %s %s x%d committed (#%d)", side.value, ticker, qty, rec.id)
        self.hooks.point("order:intent_committed")
        return rec

    def _update(self, rec: OrderRecord, **fields: object) -> OrderRecord:
        with self.uow() as uow:
            out = uow.update_order(rec.id, fence=self.fence, updated_at=self.clock.now(), **fields)
            uow.commit()
        return out

    def _send(self, rec: OrderRecord) -> OrderRecord:
        self.hooks.point("order:before_send")
        rec = self._update(rec, sends=rec.sends + 1, send_started_at=self.clock.now())
        try:
            res = self.broker.place_order(rec.side, rec.ticker, rec.quantity, self.settings.order_type, 0)
        except OrderRejected as exc:
            self.log.warning("order %s %s x%d rejected: [%s] %s", rec.side.value, rec.ticker, rec.quantity,
                             exc.code, exc.message)
            return self._update(rec, status=OrderStatus.REJECTED, broker_code=exc.code, message=exc.message)
        except Exception as exc:  # noqa: BLE001 - any other failure: the order may or may not exist
            self.log.warning("order %s %s x%d: outcome unknown (%s); will reconcile, never resend blindly",
                             rec.side.value, rec.ticker, rec.quantity, exc)
            code = getattr(exc, "code", None)
            return self._update(rec, status=OrderStatus.UNKNOWN, broker_code=code,
                                message=f"{type(exc).__name__}: {exc}"[:500])
        self.hooks.point("order:accepted_before_record")
        out = self._update(rec, status=OrderStatus.SENT, odno=res.odno, org_no=res.org_no,
                           sent_at=self.clock.now())
        self.log.info("order %s %s x%d accepted: order no %s", rec.side.value, rec.ticker, rec.quantity, res.odno)
        self.hooks.point("order:sent_committed")
        return out

    def _reconcile(self, run: RunRecord, rec: OrderRecord,
                   may_resend: bool = True) -> Blocked | tuple[OrderRecord, bool]:
        rows = self.broker.daily_orders(broker_day(rec.created_at), ticker=rec.ticker)
        since = rec.created_at - timedelta(seconds=self.settings.reconcile_skew_s)
        day_start = datetime.combine(broker_day(rec.created_at), datetime.min.time(), KST)
        with self.uow() as uow:
            known = uow.known_odnos(run.account, day_start - timedelta(hours=1))
        new = [o for o in rows if o.odno not in known and o.placed_at >= since and o.ticker == rec.ticker]
        cands = [o for o in new if o.side is rec.side and o.quantity == rec.quantity
                 and o.order_type == self.settings.order_type]
        foreign = [o for o in new if o not in cands]
        if len(cands) == 1 and not foreign:
            o = cands[0]
            self.log.warning("order %s %s x%d: adopted broker order %s found by reconciliation",
                             rec.side.value, rec.ticker, rec.quantity, o.odno)
            return self._update(rec, status=OrderStatus.SENT, odno=o.odno, org_no=o.org_no,
                                sent_at=o.placed_at, message="adopted by reconciliation"), False
        if not cands and not foreign:
            if not may_resend:
                message = (f"order {rec.side.value} {rec.ticker} x{rec.quantity}: sent "
                           f"{self.settings.send_attempts} time(s), the broker shows no such order and its "
                           f"order endpoint keeps failing; left UNKNOWN, resume to reconcile and send again")
                self._update(rec, message=message[:500])
                raise RetryableError(message, ticker=rec.ticker)
            self.log.warning("order %s %s x%d: the broker shows no such order; sending it",
                             rec.side.value, rec.ticker, rec.quantity)
            return self._update(rec, status=OrderStatus.INTENT, message="not at the broker; re-sent"), True
        listing = [_row(o) for o in cands + foreign]
        reason = (f"cannot reconcile {rec.side.value} {rec.quantity} x {rec.ticker}: "
                  f"{len(cands)} matching order(s) and {len(foreign)} other same-ticker order(s) "
                  f"this engine did not place; an operator must decide")
        self.log.error(reason)
        return Blocked(ticker=rec.ticker, reason=reason, candidates=listing)

    def _poll(self, rec: OrderRecord) -> BrokerOrder | None:
        rows = self.broker.daily_orders(broker_day(rec.created_at), odno=rec.odno)
        for o in rows:
            if o.odno == rec.odno:
                return o
        return None

    def _fill_fields(self, rec: OrderRecord, row: BrokerOrder) -> dict:
        fee = self.settings.fees.cost(rec.ticker, rec.side, row.amount)
        return {"filled_quantity": row.filled_quantity, "avg_price": row.avg_price, "amount": row.amount,
                "fees": fee}

    def _await_fill(self, rec: OrderRecord) -> OrderRecord:
        deadline = self.clock.monotonic() + self.settings.fill_timeout_s
        row: BrokerOrder | None = None
        while True:
            row = self._poll(rec)
            if row is not None:
                if row.filled_quantity >= rec.quantity:
                    out = self._update(rec, status=OrderStatus.FILLED, **self._fill_fields(rec, row))
                    self.log.info("order %s %s filled: %d @ %.1f", rec.side.value, rec.ticker,
                                  row.filled_quantity, row.avg_price)
                    return out
                if row.remaining <= 0:
                    return self._closed(rec, row)
            if self.clock.monotonic() >= deadline:
                break
            self.hooks.point("order:between_polls")
            self.heartbeat()
            self.clock.sleep(self.settings.fill_poll_s)
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
        if row.filled_quantity >= rec.quantity:
            status = OrderStatus.FILLED
        elif row.filled_quantity > 0:
            status = OrderStatus.PARTIAL
        elif row.rejected > 0:
            status = OrderStatus.REJECTED
        else:
            status = OrderStatus.CANCELLED
        self.log.warning("order %s %s x%d closed %s with %d filled", rec.side.value, rec.ticker, rec.quantity,
                         status.value, row.filled_quantity)
        return self._update(rec, status=status, **fields)


def cancel_open_orders(broker: Broker, clock: Clock, settings: EngineSettings, day: date,
                       log: logging.LoggerAdapter) -> list[dict]:
    """Cancel the account's open orders of ``day`` (DOMAIN.md 6.6) and confirm each one from the
    order list, never from the cancel's reply alone; raises RetryableError when one stays open.
    Safe to repeat: an order that closed meanwhile (filled, or cancelled earlier) needs nothing."""
    opened = [o for o in broker.daily_orders(day, unfilled_only=True) if o.remaining > 0]
    for o in opened:
        log.warning("cancelling open order %s: %s %s, %d of %d unfilled", o.odno, o.side.value, o.ticker,
                    o.remaining, o.quantity)
        try:
            broker.cancel_order(o.odno, o.org_no, o.remaining)
        except BrokerError as exc:  # e.g. filled meanwhile: the order list below decides
            log.warning("cancel of %s refused ([%s] %s); checking the order list", o.odno, exc.code,
                        exc.message)
    wanted = {o.odno for o in opened}
    for _ in range(settings.cancel_confirm_polls):
        rows = {r.odno: r for r in broker.daily_orders(day) if r.odno in wanted}
        still = sorted(odno for odno in wanted if odno not in rows or rows[odno].remaining > 0)
        if not still:
            closed = [rows[o.odno] for o in opened]
            return [{"odno": r.odno, "ticker": r.ticker, "side": r.side.value, "quantity": r.quantity,
                     "cancelled": r.cancelled, "filled": r.filled_quantity} for r in closed]
        clock.sleep(settings.fill_poll_s)
    raise RetryableError(f"cancel of open order(s) {', '.join(still)} not confirmed by the broker's order "
                         f"list; resume to check again", odnos=still)


def _row(o: BrokerOrder) -> dict:
    return {"odno": o.odno, "ticker": o.ticker, "side": o.side.value, "quantity": o.quantity,
            "order_type": o.order_type, "placed_at": o.placed_at.isoformat(), "filled": o.filled_quantity}


def ticker_results(orders: list[OrderRecord]) -> dict[str, dict]:
    """Aggregate a side's order chain per ticker: intended, filled, amount, fees, status."""
    out: dict[str, dict] = {}
    for o in sorted(orders, key=lambda r: (r.ticker, r.seq)):
        r = out.setdefault(o.ticker, {"ticker": o.ticker, "name": o.name, "side": o.side.value, "intended": o.quantity,
                                      "filled": 0, "amount": 0, "fees": 0, "status": o.status.value,
                                      "odnos": []})
        r["filled"] += o.filled_quantity
        r["amount"] += o.amount
        r["fees"] += o.fees
        r["status"] = o.status.value
        if o.odno:
            r["odnos"].append(o.odno)
    for r in out.values():
        r["avg_price"] = round(r["amount"] / r["filled"], 2) if r["filled"] else 0.0
        if r["filled"] >= r["intended"]:
            r["status"] = OrderStatus.FILLED.value
        elif r["filled"] > 0:
            r["status"] = OrderStatus.PARTIAL.value
    return out


__all__ = ["Blocked", "OrderExecutor", "SideResult", "broker_day", "cancel_open_orders", "ticker_results",
           "OrderOutcomeUnknown"]

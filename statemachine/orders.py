"""Exactly-once order execution at a broker with no idempotency key (DOMAIN.md section 6).

For each planned order of a plan attempt (an attempt's orders are its own chain: an order of an
earlier attempt never satisfies a later attempt's plan, though its fills stay recorded):

1. write the intent and commit, before sending;
2. send; commit the broker's order number;
3. an intent whose send has no known outcome (lost reply, or found uncommitted on resume) is
   UNKNOWN, and stays unknown until it can be known (docs/durability.md):

   * a matching broker order is adopted as soon as the daily list shows exactly one;
   * "none" counts only once the settle window (``settle_window_s``) has passed since the send's
     deadline (send start + ``send_timeout_s``) AND two complete readings of the list taken after
     that show no candidate: only then is it sent again;
   * times are compared in the broker's clock: its offset from ours is estimated from its replies,
     and a candidate up to ``clock_skew_tolerance_s`` before the intent is accepted; a matching
     order further back, several candidates, or a same-ticker order this engine did not place
     BLOCK the run, naming them;
   * undecided after ``unknown_wait_limit_s`` (the list keeps failing, or a sell re-send was
     refused for lack of shares and the first send is still not listed): BLOCKED, naming the order;
4. poll fills until filled or a timeout, then cancel the open remainder and confirm it;
5. a partial fill's remainder is re-sent as a new intent, up to ``partial_retries`` times;
6. before a side finishes, the whole side is reconciled against the broker's list: every broker
   order of the day on the side's tickers, stamped since its first intent (less the tolerance), that
   no intent owns and the run did not find open at its start (a late original we gave up on, or an
   order placed by hand) is recorded as an adopted order row with its fills, and BLOCKS the run.

Before every send the lease is renewed (a runner whose run was taken over stops) and the guards
run (kill switch, abort); one intent is sent at most ``send_attempts`` times per process, after
which it stays UNKNOWN for a later resume to reconcile. Waits call the heartbeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from .errors import MARKET_CLOSED_CODES, BrokerError, MarketClosed, OrderOutcomeUnknown, OrderRejected, RetryableError
from .models import BrokerOrder, OrderRecord, OrderStatus, PlanOrder, Side
from .ports import Broker, Clock, Hooks, UnitOfWork
from .records import Fence, RunRecord
from .settings import EngineSettings
from .step_records import CancelledOpenOrders, CancelledOrder, Fill, IntentRow, OrderRow, StepOutputs

KST = timezone(timedelta(hours=9))
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


@dataclass
class _Match:
    """One reading of the broker's list against one intent."""

    candidates: list[BrokerOrder]
    foreign: list[BrokerOrder]  # same ticker, not matching, placed after the intent, no intent owns it
    early: list[BrokerOrder]  # matching, but placed before the intent by more than the skew tolerance


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
        self.offsets: list[float] = []  # broker clock minus ours, seconds, from order replies
        self.fence = fence  # every order write is conditional on the run's lease (owner, epoch)

    # -- the side ------------------------------------------------------------------------------
    def execute(self, run: RunRecord, side: Side, attempt: int, plan: list[PlanOrder]) -> SideResult:
        for order in plan:
            blocked = self._ticker(run, side, attempt, order)
            if blocked:
                return SideResult(self._side_orders(run.id, side), blocked)
        blocked = self._sweep(run, side, attempt)
        return SideResult(self._side_orders(run.id, side), blocked)

    def _side_orders(self, run_id: str, side: Side) -> list[OrderRecord]:
        with self.uow() as uow:
            return [o for o in uow.orders(run_id) if o.side is side]

    def _next_seq(self, run_id: str, side: Side, ticker: str) -> int:
        """Sequence numbers are unique per run, side and ticker across every attempt."""
        return max((o.seq + 1 for o in self._side_orders(run_id, side) if o.ticker == ticker), default=0)

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
        while True:
            if rec.status is OrderStatus.INTENT:
                if not fresh and rec.sends == 0:
                    # the send counter is committed before any send: this intent never left, so there
                    # is nothing to reconcile (and no settle window to wait out)
                    rec = self._update(rec, message=NEVER_SENT)
                    fresh = True
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
        # the send's start (our clock) is committed with the counter: the settle window runs from it
        started = self.clock.now()
        rec = self._update(rec, sends=rec.sends + 1, sent_at=started, send_started_at=started)
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
        out = self._update(rec, status=OrderStatus.SENT, odno=res.odno, org_no=res.org_no, sent_at=replied)
        self.log.info("order %s %s x%d accepted: order no %s", rec.side.value, rec.ticker, rec.quantity, res.odno)
        self.hooks.point("order:sent_committed")
        return out

    def _sent_before(self, rec: OrderRecord) -> bool:
        """Was this order sent before without an answer (this intent, or an UNKNOWN one of its chain)?"""
        if rec.sends > 1:
            return True
        return any(o.status is OrderStatus.UNKNOWN and o.ticker == rec.ticker and o.attempt == rec.attempt
                   and o.id != rec.id for o in self._side_orders(rec.run_id, rec.side))

    # -- reconciliation ----------------------------------------------------------------------------
    def _send_started(self, rec: OrderRecord) -> datetime:
        return rec.send_started_at or rec.sent_at or rec.updated_at or rec.created_at

    def _offset(self, run: RunRecord, rows: list[BrokerOrder]) -> float:
        """The broker's clock minus ours, in seconds (0 while nothing is known).

        Every sample - an order reply's stamp against our clock when the reply came, or a listed
        order's stamp against the reply time we recorded for it - is at most the true offset (the
        broker stamped the order before we heard back, and ORD_TMD is truncated to the second), so
        the largest recent sample is the best estimate."""
        samples = list(self.offsets)
        if not samples:
            by_odno = {o.odno: o for o in rows}
            with self.uow() as uow:
                mine = [o for o in uow.orders(run.id) if o.odno in by_odno and o.sent_at is not None
                        and o.sends == 1 and o.message is None]
            samples = [(by_odno[o.odno].placed_at - o.sent_at).total_seconds()  # type: ignore[operator,index]
                       for o in mine]
        return max(samples) if samples else 0.0

    def _known(self, run: RunRecord, day: date) -> set[str]:
        day_start = datetime.combine(day, datetime.min.time(), KST)
        with self.uow() as uow:
            return uow.known_odnos(run.account, day_start - timedelta(hours=1))

    def _match(self, run: RunRecord, rec: OrderRecord, rows: list[BrokerOrder]) -> _Match:
        known = self._known(run, broker_day(rec.created_at))
        offset = self._offset(run, rows)
        since = rec.created_at - timedelta(seconds=self.settings.clock_skew_tolerance_s)
        out = _Match([], [], [])
        for o in rows:
            if o.odno in known or o.ticker != rec.ticker:
                continue
            ours = o.placed_at - timedelta(seconds=offset)  # its stamp, read in our clock
            matching = (o.side is rec.side and o.quantity == rec.quantity
                        and o.order_type == self.settings.order_type)
            if ours >= since:
                (out.candidates if matching else out.foreign).append(o)
            elif matching:
                out.early.append(o)
        if len(out.candidates) > 1:
            # a wholly rejected row placed nothing: it cannot be what an unanswered send traded
            live = [o for o in out.candidates if not (o.rejected >= o.quantity and o.filled_quantity == 0)]
            if len(live) == 1:
                out.candidates = live
        return out

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

    def _reconcile(self, run: RunRecord, rec: OrderRecord,
                   may_resend: bool = True) -> Blocked | tuple[OrderRecord, bool]:
        """Settle an UNKNOWN intent: adopt its order, re-send it, or block (see the module doc)."""
        s = self.settings
        started = self._send_started(rec)
        settled = started + timedelta(seconds=s.send_timeout_s + s.settle_window_s)
        give_up = started + timedelta(seconds=s.unknown_wait_limit_s)
        never_resend = rec.broker_code in NO_SHARES_CODES
        interval = self._interval()
        empty = 0  # complete readings after the settle window that showed no candidate
        failure = ""
        while True:
            read_at = self.clock.now()
            rows, failure = self._read(rec.created_at, ticker=rec.ticker)
            if rows is not None:
                m = self._match(run, rec, rows)
                if len(m.candidates) == 1 and not m.foreign and not m.early:
                    o = m.candidates[0]
                    self.log.warning("order %s %s x%d: adopted broker order %s found by reconciliation",
                                     rec.side.value, rec.ticker, rec.quantity, o.odno)
                    return self._update(rec, status=OrderStatus.SENT, odno=o.odno, org_no=o.org_no,
                                        message=ADOPTED), False
                if m.candidates or m.foreign or m.early:
                    return self._ambiguous(rec, m)
                if read_at >= settled:
                    empty += 1
                if empty >= 2 and not never_resend:
                    return self._resend(rec, may_resend)
            if self.clock.now() >= give_up:
                why = (f"the order list kept failing ({failure})" if rows is None else
                       "the re-send was refused for lack of shares and the broker still lists no order"
                       if never_resend else "the broker's order list did not settle")
                reason = (f"order {rec.side.value} {rec.ticker} x{rec.quantity} (intent #{rec.id}): outcome still "
                          f"unknown {s.unknown_wait_limit_s:g}s after its send: {why}; never re-sent. An "
                          f"operator must check the broker's orders and decide")
                self.log.error(reason)
                self._update(rec, message=reason[:500])
                return Blocked(ticker=rec.ticker, reason=reason,
                               candidates=[IntentRow(intent=rec.id, ticker=rec.ticker, side=rec.side.value,
                                                     quantity=rec.quantity, sent_at=started.isoformat())])
            self.hooks.point("order:reconcile_wait")
            self.heartbeat()
            now = self.clock.now()
            pause = interval if now >= settled else min(interval, (settled - now).total_seconds())
            self.clock.sleep(max(pause, 0.01))

    def _interval(self) -> float:
        """Seconds between readings of the order list while an order is not (yet) listed."""
        return min(5.0, max(self.settings.fill_poll_s, self.settings.settle_window_s / 4))

    def _resend(self, rec: OrderRecord, may_resend: bool) -> tuple[OrderRecord, bool]:
        if not may_resend:
            message = (f"order {rec.side.value} {rec.ticker} x{rec.quantity}: sent "
                       f"{self.settings.send_attempts} time(s), the broker shows no such order and its "
                       f"order endpoint keeps failing; left UNKNOWN, resume to reconcile and send again")
            self._update(rec, message=message[:500])
            raise RetryableError(message, ticker=rec.ticker)
        self.log.warning("order %s %s x%d: the broker shows no such order after the settle window; sending it",
                         rec.side.value, rec.ticker, rec.quantity)
        return self._update(rec, status=OrderStatus.INTENT, message="not at the broker; re-sent"), True

    def _ambiguous(self, rec: OrderRecord, m: _Match) -> Blocked:
        listing: list[OrderRow | IntentRow] = [_row(o) for o in m.candidates + m.foreign + m.early]
        parts = [f"{len(m.candidates)} matching order(s)",
                 f"{len(m.foreign)} other same-ticker order(s) this engine did not place"]
        if m.early:
            parts.append(f"{len(m.early)} matching order(s) stamped more than "
                         f"{self.settings.clock_skew_tolerance_s:g}s before the intent (clocks disagree "
                         f"beyond the tolerance?)")
        reason = (f"cannot reconcile {rec.side.value} {rec.quantity} x {rec.ticker}: {', '.join(parts)}; "
                  f"an operator must decide")
        self.log.error(reason)
        return Blocked(ticker=rec.ticker, reason=reason, candidates=listing)

    def _sweep(self, run: RunRecord, side: Side, attempt: int) -> Blocked | None:
        """Reconcile the whole side before it finishes: record every broker order of the day on the
        side's tickers, placed since its first intent, that no intent owns; such an order BLOCKS."""
        orders = self._side_orders(run.id, side)
        if not orders:
            return None
        s = self.settings
        resent = [o for o in orders if o.sends > 1]
        if resent:
            # a send that got no answer was sent again: give its original the settle window to show
            until = max(self._send_started(o) for o in resent) + timedelta(seconds=s.send_timeout_s
                                                                            + s.settle_window_s)
            while self.clock.now() < until:
                self.heartbeat()
                self.clock.sleep(max(0.01, min(5.0, (until - self.clock.now()).total_seconds())))
        first = min(o.created_at for o in orders)
        day = broker_day(first)
        rows = self._daily(first, side=side)
        known = self._known(run, day) | self._seen_at_start(run)
        offset = self._offset(run, rows)
        since = first - timedelta(seconds=s.clock_skew_tolerance_s)
        tickers = {o.ticker for o in orders}
        unowned = sorted((o for o in rows if o.side is side and o.ticker in tickers and o.odno not in known
                          and o.placed_at - timedelta(seconds=offset) >= since), key=lambda o: o.placed_at)
        if not unowned:
            return None
        waiting = [o for o in orders if o.status in (OrderStatus.UNKNOWN, OrderStatus.INTENT)
                   and o.odno is None and o.sends > 0]
        extra: list[BrokerOrder] = []
        for o in unowned:
            stamped = o.placed_at - timedelta(seconds=offset)
            owner = next((r for r in waiting if r.ticker == o.ticker and r.quantity == o.quantity
                          and stamped >= r.created_at - timedelta(seconds=s.clock_skew_tolerance_s)), None)
            if owner is not None:  # a leftover unknown send (an earlier attempt's): it is this order
                waiting.remove(owner)
                self._update(owner, odno=o.odno, org_no=o.org_no, message=ADOPTED,
                             **self._row_fields(owner, o))
                self.log.warning("order %s %s x%d (#%d): adopted broker order %s found by the side's "
                                 "reconciliation", side.value, o.ticker, o.quantity, owner.id, o.odno)
                continue
            self._orphan(run, side, attempt, o)
            self.log.error("broker order %s (%s %s x%d, %d filled) is owned by no intent: recorded as adopted",
                           o.odno, side.value, o.ticker, o.quantity, o.filled_quantity)
            extra.append(o)
        if not extra:
            return None
        reason = (f"the broker lists {len(extra)} {side.value} order(s) on this run's tickers that no intent "
                  f"owns ({', '.join(f'{o.ticker} x{o.quantity} #{o.odno}' for o in extra)}): a late original "
                  f"of an order sent again, or an order placed by hand. Recorded with their fills; an "
                  f"operator must decide")
        self.log.error(reason)
        return Blocked(ticker=extra[0].ticker, reason=reason, candidates=[_row(o) for o in extra])

    def _seen_at_start(self, run: RunRecord) -> set[str]:
        """Orders the run found at the broker before planning (open, or cancelled by it): not ours."""
        with self.uow() as uow:
            outputs = StepOutputs(uow.outputs(run.id))
        seen = {o.odno for o in outputs.snapshot().open_orders} if "snapshot" in outputs else set()
        cancelled = outputs.cancelled_open_orders()
        seen |= {o.odno for o in cancelled.orders} if cancelled else set()
        return seen

    def _orphan(self, run: RunRecord, side: Side, attempt: int, o: BrokerOrder) -> OrderRecord:
        """One order row for a broker order no intent owns, with its fills, in one transaction."""
        seq = self._next_seq(run.id, side, o.ticker)
        now = self.clock.now()
        with self.uow() as uow:
            rec = uow.add_order(run_id=run.id, account=run.account, side=side, ticker=o.ticker, name="",
                                quantity=o.quantity, attempt=attempt, seq=seq, status=OrderStatus.INTENT,
                                created_at=now, fence=self.fence)
            rec = uow.update_order(rec.id, fence=self.fence, odno=o.odno, org_no=o.org_no, updated_at=now,
                                   message=f"{ORPHAN}: {o.odno} stamped {o.placed_at.isoformat()} by the broker",
                                   **self._row_fields(rec, o))
            uow.commit()
        return rec

    def _row_fields(self, rec: OrderRecord, row: BrokerOrder) -> dict:
        """Status and fills of a broker order as the list shows it now (SENT while it is open)."""
        status = OrderStatus.SENT if row.filled_quantity < row.quantity and row.remaining > 0 \
            else _closed_status(row.filled_quantity, row.quantity, row.rejected)
        return {"status": status, **self._fill_fields(rec, row)}

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

    def _await_fill(self, rec: OrderRecord) -> OrderRecord:
        start = self.clock.monotonic()
        deadline = start + self.settings.fill_timeout_s
        # an accepted order may take the list's lag to show: wait that out before giving up on it
        unseen_deadline = deadline + self.settings.send_timeout_s + self.settings.settle_window_s
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
        return self._update(rec, status=status, **fields)


def cancel_open_orders(broker: Broker, clock: Clock, settings: EngineSettings, day: date,
                       log: logging.LoggerAdapter) -> CancelledOpenOrders:
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
            return CancelledOpenOrders(orders=[
                CancelledOrder(odno=r.odno, ticker=r.ticker, side=r.side.value, quantity=r.quantity,
                               cancelled=r.cancelled, filled=r.filled_quantity) for r in closed])
        clock.sleep(settings.fill_poll_s)
    raise RetryableError(f"cancel of open order(s) {', '.join(still)} not confirmed by the broker's order "
                         f"list; resume to check again", odnos=still)


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


def ticker_results(orders: list[OrderRecord]) -> dict[str, Fill]:
    """Aggregate a side's orders per ticker: intended, filled, amount, fees, status.

    A ticker's intent is its latest plan attempt's first order (a remainder re-send is part of it);
    what earlier attempts of the same ticker filled counts as intended and filled (it was done).
    Orders recorded for broker orders no intent owned add their fills, never their intent, and are
    listed under ``adopted_odnos``."""
    out: dict[str, dict] = {}
    latest: dict[str, int] = {}
    for o in orders:
        if not is_orphan(o):
            latest[o.ticker] = max(latest.get(o.ticker, 0), o.attempt)
    for o in sorted(orders, key=lambda r: (r.ticker, r.attempt, r.seq)):
        r = out.setdefault(o.ticker, {"ticker": o.ticker, "name": o.name, "side": o.side.value, "intended": 0,
                                      "filled": 0, "amount": 0, "fees": 0, "status": o.status.value,
                                      "odnos": [], "adopted_odnos": [], "_first": set()})
        r["name"] = r["name"] or o.name
        r["filled"] += o.filled_quantity
        r["amount"] += o.amount
        r["fees"] += o.fees
        if o.odno:
            r["odnos"].append(o.odno)
        if is_orphan(o):
            r["adopted_odnos"].append(o.odno)
            continue
        if o.attempt < latest[o.ticker]:
            r["intended"] += o.filled_quantity
        elif o.attempt not in r["_first"]:
            r["_first"].add(o.attempt)
            r["intended"] += o.quantity
        r["status"] = o.status.value
    for r in out.values():
        r.pop("_first")
        r["avg_price"] = round(r["amount"] / r["filled"], 2) if r["filled"] else 0.0
        if r["filled"] >= r["intended"] and (r["filled"] > 0 or r["intended"] > 0):
            r["status"] = OrderStatus.FILLED.value
        elif r["filled"] > 0:
            r["status"] = OrderStatus.PARTIAL.value
        if not r["adopted_odnos"]:
            r.pop("adopted_odnos")
    return {ticker: Fill.model_validate(r) for ticker, r in out.items()}


__all__ = ["Blocked", "OrderExecutor", "SideResult", "broker_day", "cancel_open_orders", "is_orphan",
           "ticker_results", "OrderOutcomeUnknown"]

"""The side's final reconciliation (docs/domain.md 6, step 6): broker orders on the side's tickers that
no intent owns are recorded as adopted orders with their fills, and block the run.
"""

from __future__ import annotations

from datetime import timedelta

from ..models import BrokerOrder, OrderRecord, OrderStatus, Side
from ..records import RunRecord
from ..step_records import StepOutputs
from .common import ADOPTED, ORPHAN, Blocked, _closed_status, _row, broker_day
from .pricing import OrderTerms, load_terms
from .reconcile import ReconcileMixin


class SweepMixin(ReconcileMixin):
    """Reconcile a whole side before it finishes."""

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
        listing = self._listing
        if listing is not None and not resent and broker_day(listing[0]) <= day:
            # the fills' last listing of the side, read after every send and cancel of the side
            # (any of those clears it) and showing each of its orders final: the same reading
            rows = listing[1]
        else:
            rows = self._daily(first, side=side)
        offset = self._offset(run, rows)
        since = first - timedelta(seconds=s.clock_skew_tolerance_s)
        tickers = {o.ticker for o in orders}

        def unowned_by(known: set[str]) -> list[BrokerOrder]:
            return sorted((o for o in rows if o.side is side and o.ticker in tickers and o.odno not in known
                           and o.placed_at - timedelta(seconds=offset) >= since), key=lambda o: o.placed_at)

        # this run's own orders first (kept in memory); the account's other runs only when needed
        known = {o.odno for o in self._orders(run.id) if o.odno} | self._seen_at_start(run)
        unowned = unowned_by(known)
        if unowned:
            unowned = unowned_by(known | self._known(run, day))
        if not unowned:
            return None
        waiting = [o for o in orders if o.status in (OrderStatus.UNKNOWN, OrderStatus.INTENT)
                   and o.odno is None and o.sends > 0]
        extra: list[BrokerOrder] = []
        terms = self._attempt_terms(run, side) if waiting else {}
        for o in unowned:
            stamped = o.placed_at - timedelta(seconds=offset)
            owner = next((r for r in waiting if r.ticker == o.ticker and r.quantity == o.quantity
                          and self._same_terms(terms.get(r.attempt, {}), o)
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

    def _attempt_terms(self, run: RunRecord, side: Side) -> dict[int, dict[str, OrderTerms]]:
        """Each plan attempt's stored order terms (statemachine.orders.pricing) of ``side``."""
        with self.uow() as uow:
            return {a.attempt: load_terms(a.meta) for a in uow.plan_attempts(run.id) if a.side is side}

    def _same_terms(self, terms: dict[str, OrderTerms], o: BrokerOrder) -> bool:
        """Was ``o`` sent at the division (and limit price) its attempt's terms give its ticker?"""
        term = terms.get(o.ticker)
        if term is None:
            return o.order_type == self.settings.order_type
        return o.order_type == term.order_type and (term.order_type != "00" or o.price == term.price)

    def _seen_at_start(self, run: RunRecord) -> set[str]:
        """Orders the run found at the broker before planning (open, or cancelled by it): not ours."""
        if self.memo is not None:
            outputs = StepOutputs(dict(self.memo.outputs))
        else:
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
            answered = self._apply_pending(uow)
            rec = uow.add_order(run_id=run.id, account=run.account, side=side, ticker=o.ticker, name="",
                                quantity=o.quantity, attempt=attempt, seq=seq, status=OrderStatus.INTENT,
                                created_at=now, fence=self.fence)
            rec = uow.update_order(rec.id, fence=self.fence, odno=o.odno, org_no=o.org_no, updated_at=now,
                                   message=f"{ORPHAN}: {o.odno} stamped {o.placed_at.isoformat()} by the broker",
                                   **self._row_fields(rec, o))
            uow.commit()
        self._committed(answered)
        return self._remember(rec)

    def _row_fields(self, rec: OrderRecord, row: BrokerOrder) -> dict:
        """Status and fills of a broker order as the list shows it now (SENT while it is open)."""
        status = OrderStatus.SENT if row.filled_quantity < row.quantity and row.remaining > 0 \
            else _closed_status(row.filled_quantity, row.quantity, row.rejected)
        return {"status": status, **self._fill_fields(rec, row)}

"""Settling an UNKNOWN intent from the broker's order list (docs/domain.md 6.3): adopt its order,
send it again once the list has settled without it, or block; with the broker's clock offset.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from ..errors import RetryableError
from ..models import BrokerOrder, OrderRecord, OrderStatus
from ..records import RunRecord
from ..step_records import IntentRow, OrderRow
from ..units import KST
from .base import ExecutorBase
from .common import ADOPTED, NO_SHARES_CODES, Blocked, _Match, _row, broker_day


class ReconcileMixin(ExecutorBase):
    """Settle one UNKNOWN intent against the broker's order list."""

    def _offset(self, run: RunRecord, rows: list[BrokerOrder]) -> float:
        """The broker's clock minus ours, in seconds (0 while nothing is known).

        Every sample - an order reply's stamp against our clock when the reply came, or a listed
        order's stamp against the reply time we recorded for it - is at most the true offset (the
        broker stamped the order before we heard back, and ORD_TMD is truncated to the second), so
        the largest recent sample is the best estimate."""
        samples = list(self.offsets)
        if not samples:
            by_odno = {o.odno: o for o in rows}
            mine = [o for o in self._orders(run.id) if o.odno in by_odno and o.sent_at is not None
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
            order_type, price = self._terms_of(rec.ticker)
            matching = (o.side is rec.side and o.quantity == rec.quantity and o.order_type == order_type
                        and (order_type != "00" or o.price == price))
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

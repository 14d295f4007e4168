"""Orders already open at the start (docs/domain.md 6.6): cancelled, each confirmed by the order list.
"""

from __future__ import annotations

import logging
from datetime import date

from ..errors import BrokerError, RetryableError
from ..ports import Broker, Clock
from ..settings import EngineSettings
from ..step_records import CancelledOpenOrders, CancelledOrder


def cancel_open_orders(broker: Broker, clock: Clock, settings: EngineSettings, day: date,
                       log: logging.LoggerAdapter) -> CancelledOpenOrders:
    """Cancel the account's open orders of ``day`` (docs/domain.md 6.6) and confirm each one from the
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

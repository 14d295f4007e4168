"""Exactly-once order execution at a broker with no idempotency key (docs/domain.md section 6).

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
4. once every order of the side is sent (or settled), poll their fills together - one listing of
   the side's orders per interval, every page read, not one reading per order - until each is
   filled or a timeout, then cancel an open remainder and confirm it; when a later order of the
   side blocks, the fills of those already sent are still polled and recorded;
5. a partial fill's remainder is re-sent as a new intent, up to ``partial_retries`` times;
6. before a side finishes, the whole side is reconciled against the broker's list: every broker
   order of the day on the side's tickers, stamped since its first intent (less the tolerance), that
   no intent owns and the run did not find open at its start (a late original we gave up on, or an
   order placed by hand) is recorded as an adopted order row with its fills, and BLOCKS the run.
   It reads the fills' last listing when nothing was sent or cancelled after it and no send was
   repeated (the same reading); otherwise it reads the list again.

Each order goes out at its plan attempt's stored terms (:mod:`statemachine.orders.pricing`: market,
or a marketable limit priced at planning), and a broker order matches an intent only with the same
division and, for a limit order, the same price.

Before every send the lease is renewed (a runner whose run was taken over stops) and the guards
run (kill switch, abort); one intent is sent at most ``send_attempts`` times per process, after
which it stays UNKNOWN for a later resume to reconcile. Waits call the heartbeat.
"""

from ..errors import OrderOutcomeUnknown
from .cancel import cancel_open_orders
from .common import (
    ADOPTED,
    FINAL,
    KST,
    NEVER_SENT,
    NO_SHARES_CODES,
    OFFSET_SAMPLES,
    ORPHAN,
    Blocked,
    SideResult,
    broker_day,
    is_orphan,
)
from .executor import OrderExecutor
from .results import ticker_results

__all__ = ["ADOPTED", "FINAL", "KST", "NEVER_SENT", "NO_SHARES_CODES", "OFFSET_SAMPLES", "ORPHAN", "Blocked",
           "OrderExecutor", "OrderOutcomeUnknown", "SideResult", "broker_day", "cancel_open_orders", "is_orphan",
           "ticker_results"]

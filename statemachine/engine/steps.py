"""The step bodies, one per state of the table that has a step: fetch, drift check, plan and
validate (statemachine.engine.planning), execute a side, fetch cash.
"""

from __future__ import annotations

from collections.abc import Callable

from ..drift import drift_report
from ..models import OrderStatus, Side, Snapshot
from ..orders import OrderExecutor, broker_day, cancel_open_orders, ticker_results
from ..orders.pricing import load_terms
from ..projection import apply_trades
from ..records import RunRecord
from ..states import RunState, RunStatus
from ..step_records import BlockedRecord, CancelledOpenOrders, Cash, Fill, Fills, fills_kind
from .base import Outcome, run_log
from .planning import PlanningMixin


class StepsMixin(PlanningMixin):
    """The step of each state (:meth:`_steps`) and the bodies that are not planning."""

    def _steps(self) -> dict[RunState, Callable[[RunRecord], Outcome]]:
        return {
            RunState.CREATED: self._fetch,
            RunState.FETCHED: self._check_drift,
            RunState.DRIFT_CHECKED: lambda r: self._plan(r, Side.SELL),
            RunState.SELL_PLANNED: lambda r: self._validate(r, Side.SELL),
            RunState.SELL_VALIDATED: lambda r: self._execute(r, Side.SELL),
            RunState.SOLD: self._fetch_cash,
            RunState.CASH_FETCHED: lambda r: self._plan(r, Side.BUY),
            RunState.BUY_PLANNED: lambda r: self._validate(r, Side.BUY),
            RunState.BUY_VALIDATED: lambda r: self._execute(r, Side.BUY),
        }

    def _fetch(self, run: RunRecord) -> Outcome:
        """Step 1-2: holdings and cash (every page), prices of targets not held, open orders.

        Orders already open at the broker are not in the balance, so a plan made beside them could
        double-trade: by default the run stops FAILED and lists them; with ``open_orders_policy=cancel``
        a real run cancels them, each cancellation confirmed by the broker, and reads the account again."""
        day = broker_day(self.clock.now())
        snap = self._read_account(run.targets)
        open_orders = self.broker.open_orders(day)
        cancelled: CancelledOpenOrders | None = None
        if open_orders and self.settings.open_orders_policy == "cancel" and run.max_phase >= 5:
            # cancel first (confirmed from the order list), then read the account again: the plan
            # must see the holdings and cash as they are after the cancellation
            cancelled = cancel_open_orders(self.broker, self.clock, self.settings, day, run_log(run.id))
            snap = self._read_account(run.targets)
            open_orders = self.broker.open_orders(day)
        snap = snap.model_copy(update={"open_orders": open_orders})
        out = Outcome(trigger="fetch", outputs={"snapshot": snap},
                      reason=f"{len(snap.holdings)} holdings, cash {snap.cash:,} KRW, total {snap.total:,} KRW")
        if cancelled is not None and cancelled.orders:
            out.outputs["cancelled_open_orders"] = cancelled
            out.reason = f"{out.reason}; cancelled {len(cancelled.orders)} open order(s) first"
        if open_orders:
            listing = "; ".join(f"{o.side.value} {o.ticker} x{o.remaining} (order {o.odno})" for o in open_orders)
            out.status = RunStatus.FAILED
            out.error = (f"{len(open_orders)} unfilled order(s) already open at the broker: {listing}. A plan made "
                         f"beside them could double-trade; cancel them first or set open_orders_policy=cancel")
            if self.settings.open_orders_policy == "cancel" and run.max_phase < 5:
                out.error += " (a dry run, max_phase < 5, cancels nothing)"
        return out

    def _check_drift(self, run: RunRecord) -> Outcome:
        """Step 3: drift against the thresholds recorded on the run."""
        snap = self._outputs(run).snapshot()
        report = drift_report(snap, run.targets, run.thresholds)
        out = Outcome(trigger="check_drift", outputs={"drift_before": report})
        if report.needed:
            out.reason = "rebalancing needed: " + ", ".join(report.exceeded())
        elif run.policy is not None and run.policy.name == "calendar" and report.total > 0:
            out.reason = "calendar policy: rebalancing to the targets whatever the drift"
        else:
            out.status = RunStatus.NOT_NEEDED
            out.reason = "no drift reaches its threshold"
        return out

    def _execute(self, run: RunRecord, side: Side) -> Outcome:
        """Steps 6 and 10: send the validated orders (or project them for a dry run)."""
        attempt = self._passing_plan(run, side)
        plan = attempt.plan
        assert plan is not None
        trigger = "sell" if side is Side.SELL else "buy"
        kind = fills_kind(side)
        if run.max_phase < 5:
            snap = self._context(run, side, attempt.attempt).snapshot
            fills = []
            for o in plan.orders:
                price = snap.price(o.ticker) or 0
                amount = o.quantity * price
                fills.append(Fill(ticker=o.ticker, name=o.name, side=side, intended=o.quantity, filled=o.quantity,
                                  amount=amount, avg_price=float(price),
                                  fees=self.settings.fees.cost(o.ticker, side, amount),
                                  status=OrderStatus.PROJECTED, odnos=[]))
            return Outcome(trigger=trigger, outputs={kind: Fills(projected=True, fills=fills)},
                           reason=f"{len(fills)} order(s) projected at snapshot prices, none sent")
        memo = self._memos.get(run.id)
        executor = OrderExecutor(self.uow, self.broker, self.clock, self.hooks, self.settings, run_log(run.id),
                                 heartbeat=lambda: self._renew_if_due(run), guard=lambda: self._order_guard(run.id),
                                 fence=self._fence(run.id), memo=memo, extended=lambda: self._extended(run.id),
                                 renewal_due=lambda: self._renewal_due(run.id), progress=self.progress)
        self.progress(f"executing {len(plan.orders)} {side.value} order(s)")
        result = executor.execute(run, side, attempt.attempt, plan.orders, load_terms(attempt.meta))
        if result.blocked:
            return Outcome(trigger=None, audit="blocked", status=RunStatus.BLOCKED, reason=result.blocked.reason,
                           outputs={"blocked": BlockedRecord(side=side, ticker=result.blocked.ticker,
                                                             reason=result.blocked.reason,
                                                             candidates=result.blocked.candidates)},
                           order_updates=result.pending)
        fills = list(ticker_results(result.orders).values())
        done = sum(1 for f in fills if f.status is OrderStatus.FILLED)
        out = Outcome(trigger=trigger, outputs={kind: Fills(projected=False, fills=fills)},
                      reason=f"{done} of {len(fills)} {side.value} order(s) filled", order_updates=result.pending)
        if side is Side.BUY:
            before = self._outputs(run).cash()
            # a buy-side recovery pass planned from an account read after the earlier passes ended:
            # their fills are in it already, so only this pass's orders move it (and judge it)
            this_pass = [o for o in result.orders if o.attempt > before.buy_attempts_included]
            mine = list(ticker_results(this_pass).values())
            after = self._after_fills(run, before.snapshot, Fills(projected=False, fills=mine))
            report = drift_report(after, run.targets, run.thresholds)
            out.outputs["drift_after"] = report
            judged = fills
            if before.buy_attempts_included and (plan.orders or not report.needed):
                # the status is judged on the sells and this pass's own orders: an earlier pass's order
                # for a ticker this plan no longer needs (rejected, unfilled) is history in the fills
                # (still listed), not a failure of the run. A pass that planned nothing while the
                # account still needs rebalancing recovered nothing: the run keeps the status of all
                # its orders (PARTIAL stays PARTIAL)
                planned = {o.ticker for o in plan.orders}
                judged = [f for f in fills if f.ticker in planned]
            out.status = self._final_status(run, judged)
        return out

    def _after_fills(self, run: RunRecord, snap: Snapshot, fills: Fills) -> Snapshot:
        """The account after ``fills``: holdings moved by the filled quantities (valued at the
        snapshot's prices; a holding sold out is gone, as from the broker's balance), cash by the
        amounts and fees the orders recorded."""
        trades = [(f.side, f.ticker, f.filled, snap.price(f.ticker) or int(f.avg_price)) for f in fills.fills]
        after, _ = apply_trades(snap, trades, self.settings.fees, run.targets.names)
        moved = sum(f.amount - f.fees if f.side is Side.SELL else -(f.amount + f.fees)
                    for f in fills.fills if f.filled > 0)
        held = [h for h in after.holdings if h.quantity > 0]  # the broker lists no row for a sold-out one
        return after.model_copy(update={"holdings": held, "cash": max(0, snap.cash + moved),
                                        "taken_at": self.clock.now()})

    def _final_status(self, run: RunRecord, buy_fills: list[Fill]) -> RunStatus:
        sells = self._outputs(run).fills(Side.SELL)
        every = (sells.fills if sells else []) + buy_fills
        if all(f.status is OrderStatus.FILLED for f in every):
            return RunStatus.SUCCEEDED
        if any(f.filled > 0 for f in every):
            return RunStatus.PARTIAL
        return RunStatus.FAILED

    def _fetch_cash(self, run: RunRecord) -> Outcome:
        """Step 7: orderable cash after every sell is resolved (projected for a dry run)."""
        outputs = self._outputs(run)
        sells = outputs.fills(Side.SELL) or Fills(projected=False, fills=[])
        included = 0  # the buy attempts whose fills the account read below already holds
        if sells.projected:
            trades = [(Side.SELL, f.ticker, f.filled, int(f.avg_price)) for f in sells.fills]
            snap, _ = apply_trades(outputs.snapshot(), trades, self.settings.fees)
            proceeds = sum(f.amount - f.fees for f in sells.fills)
            cash = self.broker.orderable_cash() + proceeds
        elif "cash" in outputs:
            # a second pass: the buy-side recovery (statemachine.buy_recovery) took the run back to
            # SOLD after its first cash step; earlier buys of this run may have filled and the account
            # may have moved since the start, so it is read again and the buys are planned from what
            # is there now, never from the start's balance
            snap = self._read_account(run.targets)
            cash = self.broker.orderable_cash()
            included = len(self._attempts(run, Side.BUY))
        else:
            # the broker already told us what changed: the balance read at the start and the fills
            # of every sell (resolved, each confirmed by the order list); only the orderable cash,
            # which the broker settles, is read again (docs/domain.md 8: buys plan on it)
            snap = self._after_fills(run, outputs.snapshot(), sells)
            cash = self.broker.orderable_cash()
        report = drift_report(snap, run.targets, run.thresholds)
        return Outcome(trigger="fetch_cash",
                       outputs={"cash": Cash(orderable_cash=cash, projected=sells.projected, snapshot=snap,
                                             drift=report, buy_attempts_included=included)},
                       reason=f"orderable cash {cash:,} KRW" + (" (projected)" if sells.projected else ""))

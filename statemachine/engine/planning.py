"""What the planning steps read and decide: the stored outputs, the account read again, the
planning context (earlier attempts' fills applied), one planning attempt, and its validation
(R1-R5 and the safety limits, loop-back or end of the side).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..account import read_account
from ..drift import drift_report
from ..errors import RebalanceError, TransitionError
from ..limits import REFUSED_BY_LIMITS, check_limits, limit_failures
from ..models import CASH_TICKER, CheckResult, DriftReport, OrderRecord, Plan, PlanningContext, Side, Snapshot, Targets
from ..orders.pricing import OrderTerms, dump_terms, limit_budget_check, limit_context, load_terms, terms_for
from ..projection import apply_trades
from ..records import PlanAttemptRecord, RunRecord
from ..rules import check_plan, failures, passed
from ..states import MAX_PLAN_ATTEMPTS, RunStatus
from ..step_records import StepOutputs
from .base import Outcome, run_log
from .recovery import RecoveryMixin


class PlanningMixin(RecoveryMixin):
    """Read what earlier steps stored; plan one attempt and validate it."""

    def _outputs(self, run: RunRecord) -> StepOutputs:
        memo = self._memos.get(run.id)
        if memo is not None:
            return StepOutputs(dict(memo.outputs))
        with self.uow() as uow:
            return StepOutputs(uow.outputs(run.id))

    def _orders(self, run: RunRecord) -> list[OrderRecord]:
        """The run's order rows, oldest first (from the memo while this engine drives the run)."""
        memo = self._memos.get(run.id)
        if memo is not None:
            return sorted(memo.orders.values(), key=lambda o: o.id)
        with self.uow() as uow:
            return uow.orders(run.id)

    def _read_account(self, targets: Targets) -> Snapshot:
        self.progress("reading the account")
        return read_account(self.broker, targets).model_copy(update={"taken_at": self.clock.now()})

    def _context(self, run: RunRecord, side: Side, attempt: int) -> PlanningContext:
        outputs = self._outputs(run)
        attempts = self._attempts(run, side)
        prev = attempts[-1] if attempts else None
        common: dict[str, Any] = dict(
            side=side, targets=run.targets, thresholds=run.thresholds, attempt=attempt,
            sell_untargeted=self.settings.sell_untargeted,
            previous_plan=prev.plan if prev else None,
            previous_failures=failures(prev.checks) if prev else [],
        )
        if side is Side.SELL:
            before = outputs.drift_before()
            assert before is not None, "planning runs after the drift check"
            snap, drift, _ = self._after_earlier_attempts(run, side, attempt, outputs.snapshot(), before)
            return PlanningContext(snapshot=snap, drift=drift, **common)
        cash = outputs.cash()
        sells = outputs.fills(Side.SELL)
        sold = sells.filled_tickers() if sells else []
        snap, drift, spent = self._after_earlier_attempts(run, side, attempt, cash.snapshot, cash.drift,
                                                          included=cash.buy_attempts_included)
        orderable = max(0, cash.orderable_cash - spent)
        return PlanningContext(snapshot=snap, drift=drift, orderable_cash=orderable,
                               cash_buffer=self.settings.cash_buffer(orderable), sold_tickers=sold, **common)

    def _after_earlier_attempts(self, run: RunRecord, side: Side, attempt: int, snap: Snapshot,
                                drift: DriftReport, *, included: int = 0) -> tuple[Snapshot, DriftReport, int]:
        """A re-plan (an operator's force, a retry) plans on the stored account data: apply what the
        side's earlier attempts filled since that data was read, so the new plan does not trade it
        again (each attempt's orders are its own chain, statemachine.orders). Returns the snapshot,
        its drift and the cash those fills spent (buys).

        ``included``: the attempts whose fills ``snap`` already holds (a buy-side recovery reads the
        account after the earlier passes ended; Cash.buy_attempts_included). They are never applied
        again: which attempts an account read holds is decided by attempt number, not by comparing
        timestamps (an order stamped in the same instant as the read would be counted twice, the
        account then shows the fills twice and no cash, and the recovery plans nothing)."""
        earlier = [o for o in self._orders(run) if o.side is side and included < o.attempt < attempt
                   and o.filled_quantity > 0 and (snap.taken_at is None or o.created_at >= snap.taken_at)]
        if not earlier:
            return snap, drift, 0
        trades = [(o.side, o.ticker, o.filled_quantity, int(round(o.avg_price))) for o in earlier]
        after, _ = apply_trades(snap, trades, self.settings.fees, {o.ticker: o.name for o in earlier})
        spent = sum(o.amount + o.fees for o in earlier) if side is Side.BUY else 0
        return after, drift_report(after, run.targets, run.thresholds), spent

    def _order_terms(self, run: RunRecord, side: Side, ctx: PlanningContext) -> dict[str, OrderTerms]:
        """Limit orders only: quote every ticker the side may order and price its orders
        (statemachine.orders.pricing); market orders need nothing (an empty dict)."""
        if self.settings.order_style != "limit":
            return {}
        if side is Side.SELL:
            tickers = sorted({h.ticker for h in ctx.snapshot.holdings if h.orderable_quantity > 0})
        else:
            tickers = sorted(t for t in run.targets.tickers() if t != CASH_TICKER)
        self.progress(f"quoting {len(tickers)} ticker(s) for limit {side.value}s")
        quotes = {t: self.broker.quote(t) for t in tickers}
        terms = terms_for(side, quotes, self.settings.limit_ticks, self.settings.fees)
        run_log(run.id).info("limit %s prices (%d tick(s) past the quote): %s", side.value,
                             self.settings.limit_ticks, ", ".join(f"{t} {v.price}" for t, v in terms.items()))
        return terms

    def _attempts(self, run: RunRecord, side: Side) -> list[PlanAttemptRecord]:
        memo = self._memos.get(run.id)
        if memo is not None:
            return [a for a in memo.attempts if a.side is side]
        with self.uow() as uow:
            return [a for a in uow.plan_attempts(run.id) if a.side is side]

    def _planner_name(self, run: RunRecord, attempt: int) -> str:
        if attempt > MAX_PLAN_ATTEMPTS:
            return "optimal"  # the configured hand-over after three failed LLM attempts
        return run.planner

    def _plan(self, run: RunRecord, side: Side) -> Outcome:
        """Steps 4 and 8: one planning attempt, recorded with the planner that made it."""
        n = (run.sell_attempts if side is Side.SELL else run.buy_attempts) + 1  # within this round
        number = len(self._attempts(run, side)) + 1  # unique per run and side; a forced re-plan: new round
        ctx = self._context(run, side, number)
        terms = self._order_terms(run, side, ctx)
        ctx = limit_context(ctx, terms)
        planner = self.planners(self._planner_name(run, n))
        self.progress(f"planning {side.value}s with {planner.name} (attempt {n})")
        t0 = self.clock.monotonic()
        plan: Plan | None
        error = None
        try:
            plan = planner.plan(ctx)
        except Exception as exc:  # noqa: BLE001 - a planner failure is a failed attempt, never a crash
            plan, error = None, (exc.message if isinstance(exc, RebalanceError) else f"{type(exc).__name__}: {exc}")
            run_log(run.id).warning("%s planner %s failed on attempt %d: %s", side.value, planner.name, n, error)
        meta = dict(plan.meta) if plan else dict(getattr(planner, "last_meta", {}) or {})
        meta["latency_ms"] = int((self.clock.monotonic() - t0) * 1000)
        if terms:
            # committed with the attempt, before any of its orders exists: every send of them uses these
            meta["order_terms"] = dump_terms(terms)
        record = PlanAttemptRecord(run_id=run.id, side=side, attempt=number,
                                   planner=plan.planner if plan else planner.name, plan=plan, error=error,
                                   meta=meta, created_at=self.clock.now())
        count = {"sell_attempts" if side is Side.SELL else "buy_attempts": n}
        summary = (f"{len(plan.orders)} order(s) by {record.planner}" if plan else f"planner error: {error}")
        return Outcome(trigger="plan_sells" if side is Side.SELL else "plan_buys", new_attempt=record,
                       run_fields=count, reason=f"attempt {n}: {summary}")

    def _validate(self, run: RunRecord, side: Side) -> Outcome:
        """Steps 5 and 9: R1-R5. A failure loops back; the third ends the side."""
        attempt = self._attempts(run, side)[-1]
        plain = self._context(run, side, attempt.attempt)
        terms = load_terms(attempt.meta)
        ctx = limit_context(plain, terms)  # the context the attempt was planned in
        if attempt.plan is None:
            checks = [CheckResult(rule="PLAN", passed=False, message=f"the planner produced no plan: {attempt.error}")]
        else:
            checks = check_plan(ctx, attempt.plan, self.settings.fees) + self._limits(run, ctx, attempt.plan)
            checks += limit_budget_check(plain, plain.cash_buffer, attempt.plan, terms, self.settings.fees)
        ok = passed(checks)
        n = run.sell_attempts if side is Side.SELL else run.buy_attempts  # attempts in this round
        upd = (side, attempt.attempt, {"checks": [c.model_dump(mode="json") for c in checks], "passed": ok})
        rl = run_log(run.id)
        if ok:
            return Outcome(trigger="validate_sells" if side is Side.SELL else "validate_buys", attempt_update=upd,
                           reason=f"attempt {attempt.attempt} passed R1-R5")
        bad = failures(checks)
        for c in bad:
            rl.warning("%s plan attempt %d failed %s: %s", side.value, attempt.attempt, c.rule, c.message)
        reasons = "; ".join(f"{c.rule} {c.ticker or ''} {c.message}".replace("  ", " ") for c in bad)
        limited = limit_failures(checks)
        last = bool(limited) or (n >= MAX_PLAN_ATTEMPTS and not self._may_hand_over(attempt, n))
        if not last:
            return Outcome(trigger="reject_sells" if side is Side.SELL else "reject_buys", attempt_update=upd,
                           reason=f"attempt {attempt.attempt} failed: {reasons}")
        if limited:
            error = f"the {side.value} plan was {REFUSED_BY_LIMITS}; no order sent: {reasons}"
        else:
            error = f"the {side.value} plan failed the rule checks {n} times; last: {reasons}"
        status = RunStatus.FAILED
        outputs: dict[str, BaseModel] = {}
        if side is Side.BUY and self._sold_anything(run):
            status = RunStatus.PARTIAL
            error += " (the sells stand; the cash stays)"
            outputs["drift_after"] = self._fresh_drift(run)
        return Outcome(trigger=None, audit=f"{side.value}_side_failed", status=status, error=error,
                       attempt_update=upd, outputs=outputs)

    def _limits(self, run: RunRecord, ctx: PlanningContext, plan: Plan) -> list[CheckResult]:
        """L1/L2 (statemachine.limits): T from the run's first snapshot, sells already done count."""
        outputs = self._outputs(run)
        drift = outputs.drift_before()
        total = int((drift.total if drift else 0) or ctx.snapshot.total)
        sells = outputs.fills(Side.SELL)
        before = sum(f.amount for f in sells.fills) if sells and plan.side is Side.BUY else 0
        return check_limits(ctx, plan, self.settings.limits, account_total=total, traded_before=before)

    def _may_hand_over(self, attempt: PlanAttemptRecord, n: int) -> bool:
        """After the round's third failed Gemini plan, the optimal planner may take over (a 4th attempt).
        The planner that made the attempt counts, not the one the run asked for ("auto" may be Gemini)."""
        return (n == MAX_PLAN_ATTEMPTS and self.settings.on_llm_failure == "optimal"
                and attempt.planner == "gemini")

    def _sold_anything(self, run: RunRecord) -> bool:
        return any(o.side is Side.SELL and o.filled_quantity > 0 for o in self._orders(run))

    def _fresh_drift(self, run: RunRecord) -> DriftReport:
        return drift_report(self._read_account(run.targets), run.targets, run.thresholds)

    def _passing_plan(self, run: RunRecord, side: Side) -> PlanAttemptRecord:
        attempts = [a for a in self._attempts(run, side) if a.passed]
        if not attempts:
            raise TransitionError(f"no validated {side.value} plan for run {run.id}", run_id=run.id)
        return attempts[-1]

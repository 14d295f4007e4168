"""The optimal deterministic planner: integer share counts by a MILP (scipy.optimize.milp, HiGHS).

Needs: a :class:`PlanningContext`. Sets: a :class:`Plan` for ``ctx.side`` that passes R1-R5
(:mod:`statemachine.rules`), or raises :class:`PlanningError`.

The model. Every security row of the drift report has a value ``v_i``, a planning target ``t_i``
(``T x mp_c/100 x w_i``, 0 for untargeted holdings) and a price ``p_i``. The planner picks whole
numbers of shares to trade, ``n_i``, for the tickers R1 allows, and minimises the total absolute
deviation ``sum_i |v_i +- n_i p_i - t_i|`` (the cash row is left out: cash is what trades are paid
with, see below), subject to:

* the direction: sells only for tickers R1 lets sell (overweight with their class or own drift
  exceeded, or untargeted when ``sell_untargeted``), buys only for those it lets buy, never a
  ticker of ``ctx.sold_tickers``;
* sells at most the orderable quantity;
* R2's overshoot band: no ticker ends past its target by more than ``max(1 % of T, one share)``
  (a bound on ``n_i``, so it costs nothing);
* the cash: buys' amounts and fees at most the budget (orderable cash less ``ctx.cash_buffer``);
  on the sell side the budget also counts the sale proceeds net of fees;
* dust: an order is either empty or worth at least ``min_trade_value`` (a binary per ticker,
  only when that option or a minimum commission is set);
* on the sell side, the sells alone must not raise the sells' own deviation (rule R4).

The sell side solves the joint problem (sells and the buys their proceeds would fund) and emits
only the sells: a sale can go one share past its nearest-to-target count when that share pays
for a buy that closes a bigger gap. The projected buys are kept in ``plan.meta``. The buy side is
planned again, after the sells, from ``ctx.orderable_cash`` (the broker's real cash).

Numerics. Nothing is in raw KRW (raw magnitudes make HiGHS fail with status 4, see
LIBRARY_NOTES.md): each ticker's deviation is counted in its own shares, so its rows have
coefficients of 1 whatever the price; the money rows (budget, R4) count in units of the cheapest
share; the objective weighs each deviation by ``p_i / T`` in basis points. For each ticker the
chord between the two whole share counts around its exact target is added as a cut: ``|.|`` is
convex, so the chord is below it at every whole count, and the LP relaxation becomes the convex
hull of each ticker's term (without it HiGHS branches on every rounding; 1,000 tickers then take
minutes instead of a fraction of a second).

Fees. Each order's fee is a variable ``f >= cmin y`` and ``f >= rate x amount`` (plus the sell tax),
which the budget row keeps as low as they allow: ``max(cmin, rate x amount)``, the fee rule of
:mod:`statemachine.fees` (an earlier model charged ``cmin + rate x amount``). On the buy side ``f``
is a whole number of won with ``f >= rate x amount - 1 + FEE_EPS``, whose least value is the
broker's ``floor(rate x amount)``: the budget row is the exact one. The sell side's joint model
keeps the fees unrounded (its buys are only projected; the buy side is planned again from the
broker's cash). After the solve, the answer is, in exact integer arithmetic, repaired to fit the
budget and polished: while one more share (or a first order of the dust minimum) of some ticker
fits and brings it closer, the best such step is taken. That is exactly the condition R2 and R5
test, so the plan passes them even where the solver's tolerances would not.

Optimality, and time. The buy side first solves the LP relaxation (a lower bound on the deviation)
and completes its whole shares exactly: fit, polish, then a swap search (one more share of one
ticker for one fewer of another, every pair at once with numpy). When that plan is within the
relative gap ``mip_rel_gap`` (1e-7) of the bound, or less than one won above it, it is optimal and
no branch and bound runs; a plan within ``ACCEPT_GAP`` x T of the bound (1e-5: 100,000 KRW at 10
billion, 10 KRW at 1 million, less than any share) is kept too. Otherwise the MILP, with fees in
fractions of a won (a relaxation HiGHS solves quickly), runs for at most ``SHORT_LIMIT_S`` (0.3 s);
its plan, completed the same way, is judged the same way against the best bound; only beyond that
does the exact model (whole-won fees) run, to ``time_limit_s`` (5 s), keeping the best plan found. When the cash
binds on a large account, proving the last won is a subset-sum or knapsack search HiGHS does not
finish in seconds, while the bound shows the plan a thousand won from it at most: that is the case
the accepted gap is for. The sell side's joint model gets the same short solve and accepted gap.
``plan.meta["solver"]`` says which ended the search ("optimal", "within the accepted gap", or
HiGHS's status at the time limit) and the buy side's ``proven_gap_krw`` how far the plan can be
from the optimum. ``res.status`` is always checked: a solver failure or an infeasible model (no plan
found at all) raises :class:`PlanningError` naming the HiGHS status.

Decisions on the rules (see :mod:`statemachine.rules`): the cash row is out of the objective and
of R4, because R5 (as docs/domain.md states it) requires every eligible underweight ticker to be
bought while the orderable cash less the buffer pays for it; a planner that also valued cash at
its target would leave such tickers short and fail R5. R2 accepts a ticker short of its target
when the plan cannot take one more share (orderable quantity or cash exhausted): otherwise no
plan could pass when the cash does not cover every gap.

Why one module (over 300 lines, a quarter of it this description): it is one model. The
variables, the rows, their scaling and the repair after the solve share the same indices and
units; a row built in one file and scaled in another would be the easiest way to a plan that is
off by a factor of the cheapest share.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from .errors import PlanningError
from .fees import FeeModel
from .models import CASH_TICKER, OTHER, Plan, PlanningContext, PlanOrder, Side
from .rules import buy_budget, check_plan, eligible, failures, orderable, tolerance_krw

OBJECTIVE_SCALE = 1e4  # fractions of T -> basis points
TIME_LIMIT_S = 5.0
# HiGHS stops when the best plan is proven within this fraction of the optimum: 1e-7 of a
# deviation below 2 x T is under 1 KRW up to 5 million KRW accounts and 2,000 KRW at 10 billion,
# less than any share; proving the last won costs a subset-sum search (minutes, not seconds)
MIP_REL_GAP = 1e-7
# f >= rate x amount - 1 + FEE_EPS for a whole f is f >= floor(rate x amount) unless the fraction of
# rate x amount is within FEE_EPS of 1 (then one won too many); well above HiGHS's 1e-6 tolerance
FEE_EPS = 1e-4
# when a plan (the relaxation's, completed, or the MILP's within SHORT_LIMIT_S) is not proven within
# MIP_REL_GAP, it is kept if proven within ACCEPT_GAP of T (one won per 100,000: 100,000 KRW at 10
# billion, 10 KRW at 1 million, less than any share); only beyond that does the solve go on to
# time_limit_s
SHORT_LIMIT_S = 0.3
ACCEPT_GAP = 1e-5
HIGHS_STATUS = {0: "optimal", 1: "iteration or time limit reached", 2: "infeasible", 3: "unbounded",
                4: "solver error"}


_SOLVER_LOCK = threading.Lock()


@contextmanager
def _solver_stdout_to_stderr() -> Iterator[None]:
    """HiGHS 1.12 (in scipy 1.17) prints a debug line with C ``printf`` on some solves
    ("HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();"), whatever its
    output options say; on stdout it would corrupt ``plan --json``. Send file descriptor 1 to
    stderr while HiGHS runs (one solve at a time: the descriptors are the process's)."""
    with _SOLVER_LOCK:
        try:
            sys.stdout.flush()
            saved = os.dup(1)
        except (OSError, ValueError):  # no real stdout (embedded): nothing to protect
            yield
            return
        try:
            os.dup2(2, 1)
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


@dataclass
class _Cand:
    """One ticker the side may trade."""

    ticker: str
    name: str
    side: Side
    value: int
    target: int
    price: int
    upper: int  # most shares that may be traded
    first: int  # fewest shares of a non-empty order (dust floor)
    reason: str

    @property
    def sign(self) -> int:
        return 1 if self.side is Side.BUY else -1

    def dev(self, n: int) -> int:
        return abs(self.value + self.sign * n * self.price - self.target)


@dataclass
class _Solution:
    shares: list[int]
    status: str
    model: str
    bound_krw: float | None = None  # the solver's lower bound on the candidates' deviation (won)
    value_krw: float | None = None  # the candidates' deviation of the solver's answer (won)


class OptimalPlanner:
    name = "optimal"

    def __init__(self, fees: FeeModel | None = None, sell_untargeted: bool = True,
                 min_trade_value: int = 0, time_limit_s: float = TIME_LIMIT_S,
                 mip_rel_gap: float = MIP_REL_GAP) -> None:
        self.fees = fees or FeeModel()
        self.sell_untargeted = sell_untargeted
        self.min_trade_value = min_trade_value
        self.time_limit_s = time_limit_s
        self.mip_rel_gap = mip_rel_gap

    # ------------------------------------------------------------------------------- entry
    def plan(self, ctx: PlanningContext) -> Plan:
        """The side's plan; the context's policy (``min_trade_value``, ``sell_untargeted``) is
        combined with this planner's options, the stricter winning."""
        ctx = ctx.model_copy(update={
            "min_trade_value": max(self.min_trade_value, ctx.min_trade_value),
            "sell_untargeted": self.sell_untargeted and ctx.sell_untargeted,
        })
        if ctx.snapshot.total <= 0:
            return Plan(side=ctx.side, orders=[], planner=self.name, meta={"reason": "empty account"})
        plan = self._sells(ctx) if ctx.side is Side.SELL else self._buys(ctx)
        bad = failures(check_plan(ctx, plan, self.fees))
        if bad:  # never hand over a plan the checks refuse; this is a bug, say so plainly
            raise PlanningError(
                f"the optimal planner's {ctx.side.value} plan fails its own checks: "
                + "; ".join(f"{r.rule} {r.ticker or ''} {r.message}" for r in bad),
                rule=bad[0].rule, ticker=bad[0].ticker)
        return plan

    # ------------------------------------------------------------------------------- candidates
    def _candidates(self, ctx: PlanningContext, side: Side) -> list[_Cand]:
        total = ctx.snapshot.total
        out = []
        for row in ctx.drift.tickers:
            t = row.ticker
            if t == CASH_TICKER or not eligible(ctx, t, side):
                continue
            if row.asset_class == OTHER and not ctx.sell_untargeted:
                continue
            price = ctx.snapshot.price(t) or 0
            if price <= 0:
                continue
            tol = tolerance_krw(price, total)
            if side is Side.SELL:
                floor_value = row.target_value - tol  # may not end below this
                lowest = max(0, math.ceil((floor_value - 1e-6) / price)) if floor_value > 0 else 0
                upper = min(orderable(ctx, t), row.quantity - lowest)
                if row.asset_class == OTHER:
                    reason = "untargeted holding: sell in full"
                else:
                    cls = ctx.drift.cls(row.asset_class)
                    reason = (f"overweight by {row.value - row.target_value:,} KRW (class drift "
                              f"{cls.drift if cls else 0.0:+.2f}pp, Sub-MP drift {row.drift:+.2f}pp)")
            else:
                if t in ctx.sold_tickers:
                    continue
                highest = math.floor((row.target_value + tol + 1e-6) / price)
                upper = highest - row.quantity
                reason = (f"underweight by {row.target_value - row.value:,} KRW "
                          f"(Sub-MP drift {row.drift:+.2f}pp)")
            first = max(1, math.ceil(ctx.min_trade_value / price))
            if upper < first:
                continue
            out.append(_Cand(ticker=t, name=row.name, side=side, value=row.value, target=row.target_value,
                             price=price, upper=upper, first=first, reason=reason))
        return out

    # ------------------------------------------------------------------------------- sides
    def _sells(self, ctx: PlanningContext) -> Plan:
        sells = self._candidates(ctx, Side.SELL)
        buys = self._candidates(ctx, Side.BUY)
        cands = sells + buys
        budget = max(0, ctx.snapshot.cash - ctx.cash_buffer)
        # a short solve, kept when it is optimal or its plan is proven within ACCEPT_GAP of T
        sol = self._solve(ctx, cands, budget, exact_fees=False, r4_sells=True, time_limit_s=SHORT_LIMIT_S)
        status = sol.status
        if status != "optimal" and sol.value_krw is not None and sol.bound_krw is not None \
                and sol.value_krw - sol.bound_krw <= ACCEPT_GAP * ctx.snapshot.total:
            status = "within the accepted gap"
        elif status != "optimal":
            sol = self._solve(ctx, cands, budget, exact_fees=False, r4_sells=True)
            status = sol.status
        shares = sol.shares
        # exactly, in won: the sells alone must not add deviation (R4), and each sell goes on while
        # one more share brings its ticker closer (R2, R5)
        sell_shares = self._sells_r4(sells, shares[:len(sells)])
        for i, c in enumerate(sells):
            while True:
                step = 1 if sell_shares[i] > 0 else c.first
                n = sell_shares[i]
                if n + step > c.upper or c.dev(n + step) >= c.dev(n):
                    break
                sell_shares[i] = n + step
        shares = sell_shares + shares[len(sells):]
        orders = [PlanOrder(ticker=c.ticker, name=c.name, quantity=shares[i], reason=c.reason)
                  for i, c in enumerate(sells) if shares[i] > 0]
        bought = shares[len(sells):]
        projected = {c.ticker: n for c, n in zip(buys, bought, strict=True) if n > 0}
        return Plan(side=Side.SELL, orders=orders, planner=self.name,
                    meta={"solver": status, "model": sol.model, "projected_buys": projected,
                          "deviation_after_krw": self._deviation(ctx, cands, shares)})

    def _buys(self, ctx: PlanningContext) -> Plan:
        cands = self._candidates(ctx, Side.BUY)
        budget = buy_budget(ctx)
        # the LP relaxation first (a lower bound), its whole shares completed by the exact steps and
        # the swap search; when that plan is within the gap of the bound it is optimal, with no
        # branch and bound. Otherwise the MILP with fees in fractions of a won (a relaxation, quick
        # to solve) for at most SHORT_LIMIT_S, kept when its completed plan is proven within the gap
        # or ACCEPT_GAP of T; else the MILP with whole-won fees (the exact model), to time_limit_s
        accept = ACCEPT_GAP * ctx.snapshot.total
        sol = self._solve(ctx, cands, budget, exact_fees=True, r4_sells=False, relaxed=True)
        shares = self._complete(cands, sol.shares, budget)
        bound = sol.bound_krw
        status = "nothing to trade" if not cands else self._verdict(cands, shares, bound, accept)
        for limit, whole in ((SHORT_LIMIT_S, False), (None, True)):
            if status:
                break
            sol = self._solve(ctx, cands, budget, exact_fees=True, whole_fees=whole, r4_sells=False,
                              time_limit_s=limit)
            if sol.bound_krw is not None:
                bound = max(bound or 0.0, sol.bound_krw)
            # a time-limited solve may hand back a poor first plan; completing it share by share
            # would take longer than it is worth when it starts further off than the plan in hand
            if self._dev(cands, sol.shares) <= self._dev(cands, shares) + max(c.price for c in cands):
                found = self._complete(cands, sol.shares, budget)
                if self._dev(cands, found) < self._dev(cands, shares):
                    shares = found
            if whole:  # the exact model: HiGHS's own verdict, or the best plan at its time limit
                status = "optimal" if sol.status == "optimal" else self._verdict(cands, shares, bound, 0.0)
                status = status or sol.status
            else:
                status = self._verdict(cands, shares, bound, accept)
        gap = None if bound is None else max(0.0, self._dev(cands, shares) - bound)
        orders = [PlanOrder(ticker=c.ticker, name=c.name, quantity=shares[i], reason=c.reason)
                  for i, c in enumerate(cands) if shares[i] > 0]
        return Plan(side=Side.BUY, orders=orders, planner=self.name,
                    meta={"solver": status, "model": sol.model, "budget": budget,
                          "proven_gap_krw": None if gap is None else round(gap, 1),
                          "cost": self._cost(cands, shares),
                          "deviation_after_krw": self._deviation(ctx, cands, shares)})

    # ------------------------------------------------------------------------------- exact steps
    def _order_cost(self, c: _Cand, n: int) -> int:
        amount = n * c.price
        return amount + self.fees.cost(c.ticker, Side.BUY, amount) if n > 0 else 0

    def _cost(self, cands: list[_Cand], shares: list[int]) -> int:
        return sum(self._order_cost(c, n) for c, n in zip(cands, shares, strict=True))

    @staticmethod
    def _sells_r4(sells: list[_Cand], shares: list[int]) -> list[int]:
        """Trim sells, the ones that add the most deviation first, until the sells alone add none."""
        shares = list(shares)
        before = sum(c.dev(0) for c in sells)
        while sum(c.dev(n) for c, n in zip(sells, shares, strict=True)) > before:
            best: tuple[int, int, int] | None = None  # (deviation change, index, shares removed)
            for i, c in enumerate(sells):
                n = shares[i]
                if n > 0:
                    drop = n if n - 1 < c.first else 1
                    change = c.dev(n - drop) - c.dev(n)
                    if best is None or change < best[0]:
                        best = (change, i, drop)
            if best is None:
                break
            shares[best[1]] -= best[2]
        return shares

    def _repair(self, cands: list[_Cand], shares: list[int], budget: int) -> list[int]:
        """Drop shares, the cheapest in deviation first, until the exact cost fits the budget."""
        shares = list(shares)
        cost = self._cost(cands, shares)
        while cost > budget:
            best: tuple[int, int, int] | None = None  # (deviation added, index, shares removed)
            for i, c in enumerate(cands):
                n = shares[i]
                if n <= 0:
                    continue
                drop = n if n - 1 < c.first else 1
                added = c.dev(n - drop) - c.dev(n)
                if best is None or added < best[0]:
                    best = (added, i, drop)
            if best is None:
                break
            _, i, drop = best
            cost -= self._order_cost(cands[i], shares[i]) - self._order_cost(cands[i], shares[i] - drop)
            shares[i] -= drop
        return shares

    def _polish(self, cands: list[_Cand], shares: list[int], budget: int) -> list[int]:
        """Take the best step (one more share, or a first order) that fits and helps, until none."""
        shares = list(shares)
        cost = self._cost(cands, shares)
        while True:
            best: tuple[int, int, int, int] | None = None  # (-gain, index, step, extra cost)
            for i, c in enumerate(cands):
                n = shares[i]
                step = 1 if n > 0 else c.first
                if n + step > c.upper:
                    continue
                gain = c.dev(n) - c.dev(n + step)
                if gain <= 0:
                    continue
                extra = self._order_cost(c, n + step) - self._order_cost(c, n)
                if cost + extra > budget:
                    continue
                if best is None or -gain < best[0]:
                    best = (-gain, i, step, extra)
            if best is None:
                return shares
            _, i, step, extra = best
            shares[i] += step
            cost += extra

    @staticmethod
    def _dev(cands: list[_Cand], shares: list[int]) -> int:
        return sum(c.dev(n) for c, n in zip(cands, shares, strict=True))

    def _verdict(self, cands: list[_Cand], shares: list[int], bound_krw: float | None, accept: float) -> str:
        """"optimal" when the plan's deviation is within the relative gap of the solver's lower bound
        (or below it plus one won: the deviation is whole won, so that is the optimum itself);
        "within the accepted gap" when within ``accept`` won of it; else ""."""
        if bound_krw is None:
            return ""
        dev = self._dev(cands, shares)
        gap = dev - bound_krw
        if gap < 1 - 1e-6 or gap <= self.mip_rel_gap * dev:
            return "optimal"
        return "within the accepted gap" if gap <= accept else ""

    def _complete(self, cands: list[_Cand], shares: list[int], budget: int) -> list[int]:
        """Exact in won: fit the budget, take every single step that helps, then swaps."""
        return self._swap_fill(cands, self._polish(cands, self._repair(cands, shares, budget), budget), budget)

    def _swap_fill(self, cands: list[_Cand], shares: list[int], budget: int, rounds: int = 64) -> list[int]:
        """Exact local search on the spare cash: the best single move (one more share, or a first
        order) or swap (one more share of one ticker, one fewer of another) that fits and lowers
        the deviation, until none does. Vectorised over every pair (1,000 tickers: a million)."""
        k = len(cands)
        if k == 0:
            return shares
        shares = list(shares)
        cost = self._cost(cands, shares)
        for _ in range(rounds):
            gain = np.full(k, -1, dtype=np.int64)  # deviation removed by the add move of i
            add_cost = np.zeros(k, dtype=np.int64)
            loss = np.full(k + 1, np.iinfo(np.int64).max // 4, dtype=np.int64)  # added by removing j
            freed = np.zeros(k + 1, dtype=np.int64)
            loss[k] = 0  # the last column: no removal
            for i, c in enumerate(cands):
                n = shares[i]
                step = 1 if n > 0 else c.first
                if n + step <= c.upper:
                    gain[i] = c.dev(n) - c.dev(n + step)
                    add_cost[i] = self._order_cost(c, n + step) - self._order_cost(c, n)
                if n > 0:
                    drop = n if n - 1 < c.first else 1
                    loss[i] = c.dev(n - drop) - c.dev(n)
                    freed[i] = self._order_cost(c, n) - self._order_cost(c, n - drop)
            useful = np.flatnonzero(gain > 0)
            if useful.size == 0:
                break
            net = gain[useful][:, None] - loss[None, :]
            ok = (add_cost[useful][:, None] - freed[None, :] <= budget - cost) & (net > 0)
            ok[np.arange(useful.size), useful] = False  # a ticker does not swap with itself
            if not ok.any():
                break
            flat = int(np.argmax(np.where(ok, net, -1)))
            i, j = int(useful[flat // (k + 1)]), flat % (k + 1)
            c = cands[i]
            step = 1 if shares[i] > 0 else c.first
            cost += int(add_cost[i])
            shares[i] += step
            if j < k:
                drop = shares[j] if shares[j] - 1 < cands[j].first else 1
                cost -= int(freed[j])
                shares[j] -= drop
        return shares

    @staticmethod
    def _deviation(ctx: PlanningContext, cands: list[_Cand], shares: list[int]) -> int:
        moved = {c.ticker: c.dev(n) for c, n in zip(cands, shares, strict=True)}
        return sum(moved.get(r.ticker, abs(r.value - r.target_value))
                   for r in ctx.drift.tickers if r.ticker != CASH_TICKER)

    # ------------------------------------------------------------------------------- the MILP
    def _solve(self, ctx: PlanningContext, cands: list[_Cand], budget: int, *, exact_fees: bool,
               r4_sells: bool, whole_fees: bool = True, relaxed: bool = False,
               time_limit_s: float | None = None) -> _Solution:
        """Solve the model; variables are [n_k shares, d_k deviations in shares, f_k fees in won,
        y_k order flags].

        The fee of an order is a variable ``f`` with ``f >= cmin y`` and ``f >= rate x amount`` (plus
        the sell tax): the budget row makes the solver keep it as small as those allow, so it is
        ``max(cmin, rate x amount)``. With ``exact_fees`` (the buy side) ``f >= rate x amount - 1 +
        FEE_EPS``; with ``whole_fees`` too ``f`` is a whole number of won, whose least value is then
        ``floor(rate x amount)``, the broker's rounding: the model's budget is the exact one (without
        it, a relaxation by less than one won per order).
        Otherwise (the sell side's joint model) the fees are ``rate x amount`` unrounded: at most one
        won per order more than the broker charges on buys and that much less proceeds on sells."""
        k = len(cands)
        if k == 0:
            return _Solution(shares=[], status="nothing to trade", model="none", bound_krw=0.0)
        total = float(ctx.snapshot.total)
        rate = self.fees.commission_rate
        cmin = self.fees.commission_min
        use_flags = cmin > 0 or any(c.first > 1 for c in cands)
        nv = 3 * k + (k if use_flags else 0)
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        lo: list[float] = []
        hi: list[float] = []

        def add(row_terms: list[tuple[int, float]], lower: float, upper: float) -> None:
            r = len(lo)
            for col, v in row_terms:
                rows.append(r)
                cols.append(col)
                vals.append(v)
            lo.append(lower)
            hi.append(upper)

        # the money rows (budget, R4) count in units of the cheapest share, not of T: a tolerance
        # of 1e-7 of T would be 1,000 KRW on a 10-billion account, of the cheapest share ~0.001 KRW
        unit = float(min(c.price for c in cands))
        budget_terms: list[tuple[int, float]] = []
        for i, c in enumerate(cands):
            a = c.price / unit
            # d_i is the deviation counted in the ticker's own shares, so these rows have
            # coefficients of 1 whatever the price / T ratio (1e-7 .. 0.5); the objective weighs
            # d_i by p_i / T. d_i >= |e_i + sign n_i| with e_i = (v_i - t_i) / p_i
            e = (c.value - c.target) / c.price
            add([(k + i, 1.0), (i, -float(c.sign))], e, np.inf)
            add([(k + i, 1.0), (i, float(c.sign))], -e, np.inf)
            # the chord between the two whole share counts around the exact target: |.| is convex,
            # so this line is below it at every whole count, and it makes the LP relaxation the
            # convex hull of each ticker's term (without it, HiGHS branches on every rounding)
            root = math.floor(abs(c.value - c.target) / c.price)
            if 0 <= root < c.upper:
                lo_dev, hi_dev = c.dev(root) / c.price, c.dev(root + 1) / c.price
                slope = hi_dev - lo_dev
                add([(k + i, 1.0), (i, -slope)], lo_dev - slope * root, np.inf)
            # the fee f_i, in won: f_i >= rate x amount (+ tax) and f_i >= cmin y_i (+ tax)
            f = 2 * k + i
            tax = self.fees.tax_rate(c.ticker) if c.side is Side.SELL else 0.0
            if exact_fees:
                add([(f, 1.0), (i, -(rate + tax) * c.price)], -1.0 + FEE_EPS, np.inf)
            else:
                add([(f, 1.0), (i, -(rate + tax) * c.price)], 0.0, np.inf)
            if use_flags and cmin:
                add([(f, 1.0), (3 * k + i, -float(cmin)), (i, -tax * c.price)], 0.0, np.inf)
            budget_terms.append((i, float(c.sign) * a))
            budget_terms.append((f, 1.0 / unit))
            if use_flags:
                add([(i, 1.0), (3 * k + i, -float(c.upper))], -np.inf, 0.0)  # n <= upper y
                add([(i, 1.0), (3 * k + i, -float(c.first))], 0.0, np.inf)  # n >= first y
        add(budget_terms, -np.inf, budget / unit)
        if r4_sells:
            sells = [i for i, c in enumerate(cands) if c.side is Side.SELL]
            if sells:
                before = sum(abs(cands[i].value - cands[i].target) for i in sells) / unit
                add([(k + i, cands[i].price / unit) for i in sells], -np.inf, before)

        cost = np.zeros(nv)
        cost[k:2 * k] = [OBJECTIVE_SCALE * c.price / total for c in cands]
        integrality = np.zeros(nv)
        integrality[:k] = 1
        if exact_fees and whole_fees:
            integrality[2 * k:3 * k] = 1
        lb = np.zeros(nv)
        ub = np.full(nv, np.inf)
        ub[:k] = [c.upper for c in cands]
        if use_flags:
            integrality[3 * k:] = 1
            ub[3 * k:] = 1
        matrix = coo_array((vals, (rows, cols)), shape=(len(lo), nv)).tocsr()
        if relaxed:  # the LP relaxation: a lower bound, and a start for the exact steps
            integrality[:] = 0
        limit = self.time_limit_s if time_limit_s is None else min(time_limit_s, self.time_limit_s)
        options: dict[str, float | int] = {"mip_rel_gap": self.mip_rel_gap, "time_limit": limit}
        with _solver_stdout_to_stderr():
            res = milp(cost, integrality=integrality, bounds=Bounds(lb, ub),
                       constraints=LinearConstraint(matrix, np.array(lo), np.array(hi)), options=options)
        status = HIGHS_STATUS.get(res.status, f"status {res.status}")
        if res.status == 1 and res.x is None and time_limit_s is not None and limit < self.time_limit_s:
            # a short solve found nothing yet: no plan and no bound; the caller goes on
            return _Solution(shares=[0] * k, status=status, model="none")
        if res.status != 0 and (res.status != 1 or res.x is None):
            raise PlanningError(
                f"the {ctx.side.value} problem could not be solved: HiGHS {status} ({res.message}); "
                f"{k} ticker(s), budget {budget:,} KRW", status=res.status)
        if relaxed:  # whole shares below the relaxation's, which the exact steps then complete
            shares = [min(c.upper, max(0, math.floor(res.x[i] + 1e-6))) for i, c in enumerate(cands)]
        else:
            shares = [min(c.upper, max(0, int(round(res.x[i])))) for i, c in enumerate(cands)]
        shares = [n if n == 0 or n >= c.first else 0 for n, c in zip(shares, cands, strict=True)]
        # the solver's lower bound on the candidates' deviation and its plan's, back in won
        bound = res.fun if relaxed else getattr(res, "mip_dual_bound", None)
        to_krw = total / OBJECTIVE_SCALE
        return _Solution(shares=shares, status="relaxation" if relaxed else status,
                         model=("exact fees" if whole_fees else "fees within a won") if exact_fees
                         else "linear fees",
                         bound_krw=None if bound is None or not math.isfinite(bound) else bound * to_krw,
                         value_krw=None if res.fun is None else res.fun * to_krw)

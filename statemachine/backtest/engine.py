"""Replay rebalancing over a price history, with the live code: drift (:mod:`statemachine.drift`),
policies (:mod:`statemachine.policies`), planners, rule checks R1-R5 (:mod:`statemachine.rules`),
projection and fees (:mod:`statemachine.projection`, :mod:`statemachine.fees`). Pure: no I/O.

Each trading day, in order:

1. dividends with that ex-date are added to the cash (per share held at the previous close);
2. the account is valued at the day's closes (a :class:`Snapshot`) and its drift report made
   against the targets in force that day;
3. the policy decides whether to rebalance (the first day counts as a rebalance day for every
   policy when a threshold is exceeded, and band-edge and cost-aware plan that first rebalance as
   the threshold policy does, so all policies start from the targets);
4. a rebalance is what a live run does at max_phase 5 with every order filled at the close:
   sells planned and checked (R1-R5), applied; buys planned from the cash after the sells less
   the engine's cash buffer, checked, applied. A plan that fails its checks is recorded with the
   failures and not traded (it does not happen with the shipped planners; a test says so);
5. the day's value, weights and drift are recorded (after the rebalance).

Comparisons: **buy-and-hold** holds the portfolio of the first day (after its rebalance, if any)
and never trades; **ideal daily** rebalances every close to the target weights, fractionally and
at no cost (the benchmark of the tracking error).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..drift import drift_report
from ..errors import PlanningError
from ..models import CASH_TICKER, DriftReport, Holding, Plan, PlanningContext, Side, Snapshot, Targets
from ..policies import MarketView, Policy, PolicyState, plan_side, wants_rebalance
from ..ports import Planner
from ..projection import apply_plan
from ..rules import check_plan, eligible, failures
from ..settings import EngineSettings
from ..units import share_of
from .models import (
    BacktestConfig,
    BacktestResult,
    DayRow,
    PriceHistory,
    RebalanceRow,
    Summary,
    TradeRow,
)

Progress = Callable[[int, int], None]


def _snapshot(qty: dict[str, int], cash: int, prices: dict[str, int], targets: Targets) -> Snapshot:
    holdings = [Holding(ticker=t, name=targets.names.get(t, ""), quantity=q, orderable_quantity=q, price=prices[t])
                for t, q in qty.items() if q > 0]
    return Snapshot(holdings=holdings, cash=cash, prices=prices)


def _global_drift(drift: DriftReport) -> tuple[dict[str, float], dict[str, float]]:
    weights = {r.ticker: r.global_actual_pct for r in drift.tickers}
    gaps = {r.ticker: r.global_target_pct - r.global_actual_pct for r in drift.tickers}
    return weights, gaps


def held_gaps(qty: dict[str, int], cash: int, prices: dict[str, int], targets: Targets) -> tuple[int, dict[str, float]]:
    """The total and the global drift rows (target - actual, pp of the total) of a portfolio that is
    only measured, never planned (buy-and-hold): the rows and the arithmetic of
    :func:`statemachine.drift.drift_report`'s global columns, without building the report (a test
    holds the two equal)."""
    total = sum(q * prices[t] for t, q in qty.items()) + cash
    rows = list(dict.fromkeys([*targets.tickers(), *(t for t, q in qty.items() if q > 0)]))
    gaps = {t: targets.global_target_pct(t) - share_of(qty.get(t, 0) * prices[t], total) for t in rows}
    gaps[CASH_TICKER] = targets.cash_target_pct() - share_of(cash, total)
    return total, gaps


def _trades(plan: Plan, snap: Snapshot, cfg: BacktestConfig) -> list[TradeRow]:
    out = []
    for o in plan.orders:
        price = snap.price(o.ticker) or 0
        amount = o.quantity * price
        out.append(TradeRow(side=plan.side.value, ticker=o.ticker, quantity=o.quantity, price=price, amount=amount,
                            commission=cfg.fees.commission(amount), tax=cfg.fees.tax(o.ticker, plan.side, amount)))
    return out


def rebalance(snap: Snapshot, targets: Targets, cfg: BacktestConfig, planner: Planner,
              settings: EngineSettings, policy: Policy | None = None) -> tuple[Snapshot, list[TradeRow], str | None]:
    """One rebalance at the snapshot's prices: sells, then buys, each planned under the policy
    (default: the config's) and checked by R1-R5 before it is applied. Returns the account after,
    the trades, and the failed checks in a sentence (None when both sides passed)."""
    policy = policy or cfg.policy
    th = cfg.thresholds
    drift = drift_report(snap, targets, th)
    common = dict(targets=targets, thresholds=th, sell_untargeted=cfg.sell_untargeted)
    sell_ctx = PlanningContext(side=Side.SELL, snapshot=snap, drift=drift, **common)
    sells, checked = plan_side(planner, sell_ctx, cfg.fees, policy)
    bad = failures(check_plan(checked, sells, cfg.fees))
    if bad:
        return snap, [], "sells: " + "; ".join(f"{c.rule} {c.ticker or ''} {c.message}" for c in bad)
    trades = _trades(sells, snap, cfg)
    after, _ = apply_plan(snap, Side.SELL, sells.orders, cfg.fees, targets.names)
    mid = drift_report(after, targets, th)
    orderable = after.cash
    buy_ctx = PlanningContext(side=Side.BUY, snapshot=after, drift=mid, orderable_cash=orderable,
                              cash_buffer=settings.cash_buffer(orderable),
                              sold_tickers=[o.ticker for o in sells.orders], **common)
    buys, checked = plan_side(planner, buy_ctx, cfg.fees, policy)
    bad = failures(check_plan(checked, buys, cfg.fees))
    if bad:
        return after, trades, "buys: " + "; ".join(f"{c.rule} {c.ticker or ''} {c.message}" for c in bad)
    trades += _trades(buys, after, cfg)
    final, _ = apply_plan(after, Side.BUY, buys.orders, cfg.fees, targets.names)
    return final, trades, None


def _tradeable(snap: Snapshot, targets: Targets, drift: DriftReport, cfg: BacktestConfig) -> bool:
    """Is any ticker eligible (rule R1's test) to sell or to buy?"""
    ctx = PlanningContext(side=Side.SELL, snapshot=snap, targets=targets, thresholds=cfg.thresholds, drift=drift,
                          sell_untargeted=cfg.sell_untargeted)
    return any(eligible(ctx, r.ticker, side) for r in drift.tickers for side in (Side.SELL, Side.BUY))


def _summary(values: list[float], returns_vs: list[float] | None, abs_drifts: list[float], max_drifts: list[float],
             traded: int, commissions: int, taxes: int, rebalances: int, dividends: int) -> Summary:
    n = len(values)
    te = 0.0
    if returns_vs is not None and n > 2:
        diffs = [(values[i] / values[i - 1] - 1.0) - returns_vs[i - 1] for i in range(1, n) if values[i - 1] > 0]
        if len(diffs) > 1:
            m = sum(diffs) / len(diffs)
            te = math.sqrt(sum((d - m) ** 2 for d in diffs) / (len(diffs) - 1) * 252.0) * 100.0
    mean_value = sum(values) / n if n else 0.0
    return Summary(final_value=int(round(values[-1])),
                   total_return_pct=(values[-1] / values[0] - 1.0) * 100.0 if values[0] > 0 else 0.0,
                   tracking_error_pp=te, mean_abs_drift_pp=sum(abs_drifts) / n if n else 0.0,
                   max_abs_drift_pp=max(max_drifts) if max_drifts else 0.0,
                   turnover=traded / mean_value if mean_value > 0 else 0.0, traded_value=traded,
                   commissions=commissions, taxes=taxes, rebalances=rebalances, dividends=dividends)


def _make_planner(cfg: BacktestConfig, settings: EngineSettings) -> Planner:
    from ..whatif import make_planner  # the what-if command's planner names: optimal, greedy

    return make_planner(cfg.planner, cfg.fees, settings)


def run_backtest(history: PriceHistory, cfg: BacktestConfig, *, planner: Planner | None = None,
                 trading_days: list | None = None, progress: Progress | None = None) -> BacktestResult:
    """Replay ``cfg`` over ``history``. ``trading_days``: the exchange's sessions (the calendar
    policy's first-trading-day rule; default: the history's own dates). ``progress(i, n)`` is
    called every day."""
    settings = EngineSettings(fees=cfg.fees, cash_buffer_percent=cfg.cash_buffer_percent,
                              sell_untargeted=cfg.sell_untargeted)
    planner = planner or _make_planner(cfg, settings)
    days = history.dates
    n = len(days)
    if n == 0:
        raise PlanningError("backtest: the price history is empty", field="prices")
    all_tickers = set(history.closes)
    for change in cfg.timeline:
        missing = [t for t in change.targets.tickers() if t not in all_tickers]
        if missing:
            raise PlanningError(f"backtest: no prices for targeted ticker(s) {', '.join(missing)}", field="prices")
    missing_held = [t for t, q in cfg.holdings.items() if q > 0 and t not in all_tickers]
    if missing_held:
        raise PlanningError(f"backtest: no prices for held ticker(s) {', '.join(missing_held)}", field="prices")

    view = MarketView(trading_days=sorted(trading_days) if trading_days else list(days), closes={})
    state = PolicyState()
    qty = {t: q for t, q in cfg.holdings.items() if q > 0}
    cash = cfg.cash
    bh_qty: dict[str, int] = {}
    bh_cash = 0
    rows: list[DayRow] = []
    rebalances: list[RebalanceRow] = []
    values: list[float] = []
    bh_values: list[float] = []
    ideal_values: list[float] = []
    ideal_returns: list[float] = []
    abs_drifts: list[float] = []
    max_drifts: list[float] = []
    bh_abs: list[float] = []
    bh_max: list[float] = []
    dividends_total = bh_dividends = 0
    closes = history.closes
    for i, day in enumerate(days):
        prices = {t: c[i] for t, c in closes.items()}
        targets = cfg.targets_on(day)
        paid = history.dividends.get(day, {})
        for t, amount in paid.items():
            dividends_total += qty.get(t, 0) * amount
            cash += qty.get(t, 0) * amount
            if i > 0:
                bh_dividends += bh_qty.get(t, 0) * amount
                bh_cash += bh_qty.get(t, 0) * amount
        snap = _snapshot(qty, cash, prices, targets)
        drift = drift_report(snap, targets, cfg.thresholds)
        if cfg.policy.name == "volatility-aware":
            w = cfg.policy.vol_window
            view.closes = {t: c[max(0, i - w + 1): i + 1] for t, c in closes.items()}
        do, reason = wants_rebalance(cfg.policy, day, drift, view, state, first=i == 0)
        if do and cfg.policy.name != "calendar" and not _tradeable(snap, targets, drift, cfg):
            # a band is exceeded but no ticker may trade (say, the cash class alone is off): the
            # planners would return two empty plans; R1's own test says so without asking them
            do = False
        note = None if do else (reason if reason.startswith("postponed") else None)
        if do:
            before_pp = drift.total_abs_drift
            # the first day invests fully whatever the policy (band-edge, cost-aware start from the targets)
            first_policy = Policy() if i == 0 and cfg.policy.name in ("band-edge", "cost-aware") else None
            snap, trades, failed = rebalance(snap, targets, cfg, planner, settings, first_policy)
            qty = {h.ticker: h.quantity for h in snap.holdings if h.quantity > 0}
            cash = snap.cash
            drift = drift_report(snap, targets, cfg.thresholds)
            if trades or failed:
                rebalances.append(RebalanceRow(
                    date=day, reason=reason, trades=trades, commission=sum(t.commission for t in trades),
                    tax=sum(t.tax for t in trades), traded_value=sum(t.amount for t in trades),
                    drift_before_pp=before_pp, drift_after_pp=drift.total_abs_drift, failed=failed))
            else:
                do = False
        weights, gaps = _global_drift(drift)
        mx = max((abs(g) for g in gaps.values()), default=0.0)
        rows.append(DayRow(date=day, value=snap.total, cash=cash, weights=weights, drift=gaps,
                           max_abs_drift_pp=mx, rebalanced=do, note=note))
        values.append(float(snap.total))
        abs_drifts.append(sum(abs(g) for g in gaps.values()) / max(1, len(gaps)))
        max_drifts.append(mx)
        # buy-and-hold: the first day's portfolio (after its rebalance), held
        if i == 0:
            bh_qty, bh_cash, bh_dividends = dict(qty), cash, dividends_total
        bh_total, bh_gaps = held_gaps(bh_qty, bh_cash, prices, targets)
        bh_values.append(float(bh_total))
        bh_abs.append(sum(abs(g) for g in bh_gaps.values()) / max(1, len(bh_gaps)))
        bh_max.append(max((abs(g) for g in bh_gaps.values()), default=0.0))
        # ideal daily rebalance: fractional, free, at the targets of the previous close
        if i == 0:
            ideal_values.append(float(snap.total))
        else:
            prev_targets = cfg.targets_on(days[i - 1])
            growth = prev_targets.cash_target_pct() / 100.0
            for t in prev_targets.tickers():
                growth += prev_targets.global_target_pct(t) / 100.0 * closes[t][i] / closes[t][i - 1]
            ideal_returns.append(growth - 1.0)
            ideal_values.append(ideal_values[-1] * growth)
        if progress is not None:
            progress(i + 1, n)

    summary = _summary(values, ideal_returns, abs_drifts, max_drifts,
                       sum(r.traded_value for r in rebalances), sum(r.commission for r in rebalances),
                       sum(r.tax for r in rebalances), len(rebalances), dividends_total)
    first = rebalances[0] if rebalances and rebalances[0].date == days[0] else None
    bh = _summary(bh_values, ideal_returns, bh_abs, bh_max, first.traded_value if first else 0,
                  first.commission if first else 0, first.tax if first else 0, 1 if first else 0,
                  bh_dividends)
    ideal = _summary(ideal_values, ideal_returns, [0.0] * n, [0.0] * n, 0, 0, 0, n, 0)
    return BacktestResult(policy=cfg.policy.label(), planner=planner.name, synthetic=history.synthetic,
                          start=days[0], end=days[-1], days=rows, rebalances=rebalances, summary=summary,
                          buy_and_hold=bh, ideal_daily=ideal,
                          series={"buy_and_hold": bh_values, "ideal_daily": [round(v, 2) for v in ideal_values]})


__all__ = ["rebalance", "run_backtest"]

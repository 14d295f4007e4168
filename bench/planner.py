"""Planner benchmark: residual drift and planning time; writes its section of docs/benchmarks.md.

    .venv/bin/python bench/planner.py [--portfolios 1000] [--seed 1] [--out docs/benchmarks.md]

1. Residual: random small accounts (2-4 targeted tickers, some untargeted, prices 1,000-500,000
   KRW with shares worth T/40 or more, so that every whole-share plan can be enumerated). The buy
   side is planned from part of the cash by: naive floor rounding (each gap filled in proportion
   to the budget, rounded down), the greedy planner, the optimal planner, and a brute force over
   every share count (the exact optimum). The figure is the securities' absolute drift left (pp of
   T), the quantity R4 and the optimal planner minimise. A second set of larger accounts (5-60
   tickers, 1 million-10 billion KRW) runs the whole sell-then-buy flow; there the reference is
   the fractional-share lower bound (no whole-share plan can beat it).
2. Time: 20 random accounts of 10, 100 and 1,000 tickers; sell plan plus buy plan, each planner;
   median and worst in seconds, and ratios to the 10-ticker case measured in the same run.
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from statemachine.drift import drift_report  # noqa: E402
from statemachine.fees import FeeModel  # noqa: E402
from statemachine.models import (  # noqa: E402
    CASH_TICKER,
    Holding,
    Plan,
    PlanningContext,
    PlanOrder,
    Side,
    Snapshot,
    Targets,
    Thresholds,
)
from statemachine.planner_greedy import GreedyPlanner  # noqa: E402
from statemachine.planner_optimal import OptimalPlanner  # noqa: E402
from statemachine.projection import apply_plan, plan_cost  # noqa: E402
from statemachine.rules import (  # noqa: E402
    buy_budget,
    check_plan,
    eligible,
    failures,
    securities_deviation,
    tolerance_krw,
)

START, END = "<!-- planner:start -->", "<!-- planner:end -->"
TIMING_ACCOUNTS = 20
CLASSES = ("Stocks", "Bonds", "Alternatives")
FEES = FeeModel()


# ----------------------------------------------------------------------------- accounts
def account(rng: random.Random, n: int, small: bool) -> tuple[Snapshot, Targets]:
    if small:
        total = rng.randint(1_000_000, 20_000_000)
        lo, hi = max(1_000, total // 40), min(500_000, total // 3)
    else:
        total = int(10 ** rng.uniform(6, 10))
        lo, hi = 1_000, 500_000
    tickers = [str(100_000 + i) for i in range(n)]
    cls = {t: rng.choice(CLASSES) for t in tickers}
    sub = {c: {t: float(rng.randint(1, 9)) for t in tickers if cls[t] == c} for c in CLASSES}
    sub = {c: {t: w / sum(ws.values()) for t, w in ws.items()} for c, ws in sub.items() if ws}
    if rng.random() < 0.5:
        sub["Cash"] = {CASH_TICKER: 1.0}
    raw = {c: rng.randint(1, 9) for c in sub if c != "Cash"}
    raw["Cash"] = rng.randint(0, 3)
    mp = {c: 100.0 * w / sum(raw.values()) for c, w in raw.items()}
    tg = Targets.model_validate({"mp": mp, "sub_mp": sub})
    untargeted = [str(900_000 + i) for i in range(rng.randint(0, 2))]
    prices = {t: rng.randint(lo, hi) for t in tickers + untargeted}
    weights = {t: rng.randint(0, 9) for t in tickers + untargeted}
    weights[CASH_TICKER] = rng.randint(3, 12)
    scale = total / sum(weights.values())
    held = []
    for t in tickers + untargeted:
        q = int(weights[t] * scale) // prices[t]
        if q > 0:
            held.append(Holding(ticker=t, quantity=q, orderable_quantity=q, price=prices[t]))
    cash = total - sum(h.value for h in held)
    unheld = {t: p for t, p in prices.items() if t not in {h.ticker for h in held}}
    return Snapshot(holdings=held, cash=cash, prices=unheld), tg


def context(side: Side, snap: Snapshot, tg: Targets, th: Thresholds, **kw: object) -> PlanningContext:
    return PlanningContext(side=side, snapshot=snap, targets=tg, thresholds=th,
                           drift=drift_report(snap, tg, th), **kw)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- reference plans
def floor_plan(ctx: PlanningContext) -> Plan:
    """Naive: fill each eligible gap in proportion to the budget, round down; drop shares that the
    exact fees do not fit."""
    rows = [r for r in ctx.drift.tickers if r.ticker != CASH_TICKER and r.ticker not in ctx.sold_tickers
            and eligible(ctx, r.ticker, Side.BUY) and r.price > 0]
    budget = buy_budget(ctx)
    need = sum(r.target_value - r.value for r in rows) * (1 + FEES.commission_rate)
    share = min(1.0, budget / need) if need > 0 else 0.0
    qty = {r.ticker: math.floor((r.target_value - r.value) * share / r.price) for r in rows}
    orders = [PlanOrder(ticker=t, quantity=q) for t, q in qty.items() if q > 0]
    while orders and plan_cost(ctx.snapshot, orders, FEES) > budget:
        last = orders[-1]
        orders[-1] = last.model_copy(update={"quantity": last.quantity - 1})
        orders = [o for o in orders if o.quantity > 0]
    return Plan(side=Side.BUY, orders=orders, planner="floor")


def brute_force(ctx: PlanningContext) -> int:
    """The least securities deviation (KRW) of any buy plan (every share count enumerated)."""
    budget = buy_budget(ctx)
    total = ctx.snapshot.total
    fixed, front = 0, [(0, 0)]
    for row in ctx.drift.tickers:
        price = ctx.snapshot.price(row.ticker) or 0
        if row.ticker == CASH_TICKER:
            continue
        if not eligible(ctx, row.ticker, Side.BUY) or row.ticker in ctx.sold_tickers or price <= 0:
            fixed += abs(row.value - row.target_value)
            continue
        top = math.floor((row.target_value + tolerance_krw(price, total) + 1e-6) / price) - row.quantity
        options = [(n * price + FEES.cost(row.ticker, Side.BUY, n * price) if n else 0,
                    abs(row.value + n * price - row.target_value)) for n in range(0, top + 1)]
        cost = np.add.outer([c for c, _ in front], [c for c, _ in options]).ravel()
        dev = np.add.outer([d for _, d in front], [d for _, d in options]).ravel()
        keep = cost <= budget
        cost, dev = cost[keep], dev[keep]
        order = np.lexsort((dev, cost))
        front, best = [], None
        for c, d in zip(cost[order].tolist(), dev[order].tolist(), strict=True):
            if best is None or d < best:
                front.append((c, d))
                best = d
    return fixed + min(d for _, d in front)


def fractional_bound(ctx: PlanningContext) -> float:
    """Fractional shares, same budget: fill gaps until the cash runs out (a lower bound)."""
    budget = buy_budget(ctx) / (1 + FEES.commission_rate)
    dev = float(securities_deviation(ctx, Side.BUY))
    gaps = sum(r.target_value - r.value for r in ctx.drift.tickers
               if r.ticker != CASH_TICKER and r.ticker not in ctx.sold_tickers
               and eligible(ctx, r.ticker, Side.BUY) and r.price > 0)
    return dev - min(gaps, budget)


def counts(plan: Plan) -> Counter[str]:
    return Counter({o.ticker: o.quantity for o in plan.orders})


# ----------------------------------------------------------------------------- runs
def residual_small(n_portfolios: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    th = Thresholds(mp=0.5, sub_mp=1.0)
    res: dict[str, list[float]] = {k: [] for k in ("before", "floor", "greedy", "optimal", "exact")}
    equal = Counter[str]()
    failed = Counter[str]()
    for _ in range(n_portfolios):
        snap, tg = account(rng, rng.randint(2, 4), small=True)
        cash = snap.cash * rng.randint(10, 100) // 100
        ctx = context(Side.BUY, snap, tg, th, orderable_cash=cash, cash_buffer=cash // 200)
        total = snap.total
        exact = brute_force(ctx)
        res["before"].append(securities_deviation(ctx, Side.BUY) / total * 100)
        res["exact"].append(exact / total * 100)
        for name, plan in (("floor", floor_plan(ctx)), ("greedy", GreedyPlanner(FEES).plan(ctx)),
                           ("optimal", OptimalPlanner(FEES).plan(ctx))):
            dev = securities_deviation(ctx, Side.BUY, counts(plan))
            res[name].append(dev / total * 100)
            equal[name] += dev == exact
            failed[name] += bool(failures(check_plan(ctx, plan, FEES)))
    return {"res": res, "equal": equal, "failed": failed, "n": n_portfolios}


def residual_large(n_portfolios: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed + 1)
    th = Thresholds(mp=3.0, sub_mp=5.0)
    res: dict[str, list[float]] = {k: [] for k in ("before", "floor", "greedy", "optimal", "bound")}
    failed = Counter[str]()
    limited = 0
    for _ in range(n_portfolios):
        snap, tg = account(rng, rng.randint(5, 60), small=False)
        sell_ctx = context(Side.SELL, snap, tg, th)
        total = snap.total
        res["before"].append(sell_ctx.drift.securities_abs_drift)
        for name in ("floor", "greedy", "optimal"):
            planner = OptimalPlanner(FEES, time_limit_s=2.0) if name == "optimal" else GreedyPlanner(FEES)
            sells = planner.plan(sell_ctx) if name != "floor" else GreedyPlanner(FEES).plan(sell_ctx)
            after, _ = apply_plan(snap, Side.SELL, sells.orders, FEES)
            buy_ctx = context(Side.BUY, after, tg, th, orderable_cash=after.cash,
                              cash_buffer=int(after.cash * 0.005),
                              sold_tickers=[o.ticker for o in sells.orders])
            if name == "optimal":
                res["bound"].append(fractional_bound(buy_ctx) / total * 100)
            buys = floor_plan(buy_ctx) if name == "floor" else planner.plan(buy_ctx)
            limited += name == "optimal" and buys.meta.get("solver") not in ("optimal", "nothing to trade")
            failed[name] += bool(failures(check_plan(sell_ctx, sells, FEES)) or
                                 failures(check_plan(buy_ctx, buys, FEES)))
            res[name].append(securities_deviation(buy_ctx, Side.BUY, counts(buys)) / total * 100)
    return {"res": res, "failed": failed, "n": n_portfolios, "limited": limited}


def timing(seed: int, sizes: tuple[int, ...] = (10, 100, 1000),
           accounts: int = TIMING_ACCOUNTS) -> dict[int, dict[str, float]]:
    """Median and worst time (s) of a sell plan plus a buy plan over a few accounts per size."""
    rng = random.Random(seed + 2)
    th = Thresholds(mp=3.0, sub_mp=5.0)
    out: dict[int, dict[str, float]] = {}
    for n in sizes:
        runs: dict[str, list[float]] = {"greedy": [], "optimal": []}
        statuses: Counter[str] = Counter()
        for _ in range(accounts):
            snap, tg = account(rng, n, small=False)
            snap = snap.model_copy(update={"cash": snap.cash + 10 ** 10})  # room to buy at any size
            for name, planner in (("greedy", GreedyPlanner(FEES)), ("optimal", OptimalPlanner(FEES))):
                t0 = time.perf_counter()
                sell_ctx = context(Side.SELL, snap, tg, th)
                sells = planner.plan(sell_ctx)
                after, _ = apply_plan(snap, Side.SELL, sells.orders, FEES)
                sold = [o.ticker for o in sells.orders]
                buy_ctx = context(Side.BUY, after, tg, th, orderable_cash=after.cash,
                                  cash_buffer=int(after.cash * 0.005), sold_tickers=sold)
                buys = planner.plan(buy_ctx)
                runs[name].append(time.perf_counter() - t0)
                if name == "optimal":
                    statuses[f"sell {sells.meta.get('solver')}"] += 1
                    statuses[f"buy {buys.meta.get('solver')}"] += 1
        out[n] = {f"{k}_{f.__name__}": f(v) for k, v in runs.items() for f in (statistics.median, max)}
        out[n]["statuses"] = dict(sorted(statuses.items()))  # type: ignore[assignment]
    return out


# ----------------------------------------------------------------------------- report
def _row(name: str, xs: list[float], ref: list[float] | None) -> str:
    mean, med, p95 = statistics.fmean(xs), statistics.median(xs), float(np.percentile(xs, 95))
    excess = "" if ref is None else f"{statistics.fmean(a - b for a, b in zip(xs, ref, strict=True)):.4f}"
    return f"| {name} | {mean:.4f} | {med:.4f} | {p95:.4f} | {excess} |"


def report(small: dict, large: dict, times: dict[int, dict[str, float]], command: str) -> str:
    rs, rl = small["res"], large["res"]
    lines = [START, "## Planner: residual drift and planning time", "",
             f"Produced by `{command}` on {platform.python_implementation()} {platform.python_version()}, "
             f"{platform.machine()}; numbers from one run.", "",
             f"### Buy side, {small['n']} small random accounts (2-4 tickers), against the exact optimum", "",
             "Securities' absolute drift left after the buys, pp of T (lower is better); excess = mean "
             "difference to the brute-force optimum.", "",
             "| plan | mean | median | p95 | mean excess over exact |", "|---|---|---|---|---|",
             _row("before (no trade)", rs["before"], rs["exact"]),
             _row("naive floor rounding", rs["floor"], rs["exact"]),
             _row("greedy planner", rs["greedy"], rs["exact"]),
             _row("optimal planner", rs["optimal"], rs["exact"]),
             _row("exact (brute force)", rs["exact"], rs["exact"]), "",
             "| plan | equals the exact optimum | fails R1-R5 |", "|---|---|---|"]
    for name in ("floor", "greedy", "optimal"):
        lines.append(f"| {name} | {small['equal'][name]} / {small['n']} | {small['failed'][name]} |")
    lines += ["", f"### Sell then buy, {large['n']} random accounts (5-60 tickers, 1 million-10 billion KRW)",
              "",
              "Sells by the planner named (the naive row sells with the greedy planner), buys from the "
              "projected cash less a 0.5 % buffer; thresholds 3 / 5. The bound lets the same buys use "
              "fractional shares: on small accounts with many tickers one share is worth more than a "
              "ticker's whole target, so no whole-share plan comes near it (compare the medians).", "",
              "| plan | mean | median | p95 | mean excess over the bound |", "|---|---|---|---|---|",
              _row("before", rl["before"], None),
              _row("naive floor rounding (buys)", rl["floor"], rl["bound"]),
              _row("greedy planner", rl["greedy"], rl["bound"]),
              _row("optimal planner", rl["optimal"], rl["bound"]),
              _row("fractional lower bound", rl["bound"], rl["bound"]), "",
              f"Plans failing R1-R5: floor {large['failed']['floor']}, greedy {large['failed']['greedy']}, "
              f"optimal {large['failed']['optimal']}. Optimal buy plans not proven optimal (kept within "
              f"the accepted gap of 1e-5 of T, or stopped by the 2 s time limit): {large['limited']}.", "",
              f"### Planning time (sell plan + buy plan), {TIMING_ACCOUNTS} accounts per size", "",
              "Medians (worst in brackets), seconds; ratios of medians measured in this run. Each account "
              "has 10 billion KRW of extra cash, so the buys' cash binds only on some. The optimal planner "
              "solves the buy side's LP relaxation, completes its whole shares exactly (fit, single steps, "
              "swaps) and stops when that plan is proven within the relative gap (1e-7) of the bound, or "
              "within 1e-5 of T (accepted); else a MILP solve of at most 0.3 s judged the same way; only "
              "beyond that the exact model to the 5 s limit. The sell side: a 0.3 s solve, kept when "
              "optimal or within 1e-5 of T. How each plan ended, at 1,000 tickers: "
              + ", ".join(f"{k} {v}" for k, v in times[max(times)]["statuses"].items()) + ".",
              "",
              "| tickers | greedy s | optimal s | optimal / greedy | greedy vs 10 | optimal vs 10 |",
              "|---|---|---|---|---|---|"]
    base = times[min(times)]
    for n, t in times.items():
        g, o = t["greedy_median"], t["optimal_median"]
        lines.append(f"| {n} | {g:.3f} ({t['greedy_max']:.3f}) | {o:.3f} ({t['optimal_max']:.3f}) | "
                     f"{o / g:.0f}x | {g / base['greedy_median']:.0f}x | {o / base['optimal_median']:.0f}x |")
    lines += ["", END]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        text = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--portfolios", type=int, default=1000)
    ap.add_argument("--large", type=int, default=None, help="larger accounts (default: --portfolios)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = ap.parse_args()
    command = "python bench/planner.py " + " ".join(sys.argv[1:])
    small = residual_small(args.portfolios, args.seed)
    large = residual_large(args.large if args.large is not None else args.portfolios, args.seed)
    times = timing(args.seed)
    section = report(small, large, times, command.strip())
    write_section(args.out, section)
    print(section)


if __name__ == "__main__":
    main()

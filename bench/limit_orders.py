"""Limit-order benchmark: the total cost of a rebalance with market orders against marketable limit
orders, on the demo account, against a simulated exchange with a wide spread.

The exchange (adapters.sim.book) quotes every ticker ``--spread`` ticks on each side of its current
price (the mid) and holds ``--depth`` shares per price level; a market order walks the book until
it is filled, a limit order (ask + ``--ticks`` ticks for a buy, bid - ``--ticks`` for a sell) no
further than its price, its unfilled rest re-sent once (``partial_retries=1``) and then cancelled
by the timeout path. Each order meets the whole book (liquidity providers refill it).

Cost of a run = commissions + slippage against the mid (buys: paid - shares x mid; sells:
shares x mid - received). Both runs start from the same account; the optimal planner plans both.
A limit run may fill less than it intended (the rest is left for the next run): the table says how
much, and the cost per traded value next to the totals. Also run with unlimited depth (``--depth 0``
row): there a market order fills at the ask like the limit order, so the costs are equal.

Writes its section of docs/benchmarks.md between ``<!-- limit_orders:start -->`` and
``<!-- limit_orders:end -->``. Usage::

    .venv/bin/python bench/limit_orders.py [--spread 10] [--depth 200] [--ticks 2] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.memory import MemoryStore  # noqa: E402
from adapters.sim.account import DEMO_DIR, SimAccount  # noqa: E402
from adapters.sim.broker import SimulatedBroker  # noqa: E402
from bench.sections import write_section  # noqa: E402
from statemachine.engine import Engine  # noqa: E402
from statemachine.models import Targets  # noqa: E402
from statemachine.planner_optimal import OptimalPlanner  # noqa: E402
from statemachine.settings import EngineSettings  # noqa: E402
from tests.fakes import FakeClock  # noqa: E402

START, END = "<!-- limit_orders:start -->", "<!-- limit_orders:end -->"
TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))


@dataclass
class Result:
    style: str
    depth: int
    status: str
    sent: int
    intended: int
    filled: int
    traded: int
    fees: int
    slippage: int

    @property
    def cost(self) -> int:
        return self.fees + self.slippage

    @property
    def bps(self) -> float:
        return self.cost / self.traded * 10_000 if self.traded else 0.0


def one_run(tmp: Path, style: str, spread: int, depth: int, ticks: int) -> Result:
    clock = FakeClock()
    acc = SimAccount.demo(tmp / f"{style}-{depth}.json")
    acc.set_book("*", spread_ticks=spread, depth=depth)
    acc.clock = clock.now
    mids = dict(acc.read()["prices"])
    store = MemoryStore()
    planner = OptimalPlanner()
    settings = EngineSettings(fill_timeout_s=2, fill_poll_s=0.5, order_style=style, limit_ticks=ticks,
                              partial_retries=1)
    eng = Engine(store.unit_of_work, SimulatedBroker(acc), lambda name: planner, clock, settings, owner="bench")
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    with store.unit_of_work() as uow:
        orders = uow.orders(run.id)
    slippage = 0
    for o in acc.orders():
        mid_value = o["filled_qty"] * mids[o["ticker"]]
        slippage += (o["amount"] - mid_value) if o["side"] == "buy" else (mid_value - o["amount"])
    firsts = [o for o in orders if o.seq == 0]  # a remainder's re-send (seq 1..) is not intended again
    return Result(style=style, depth=depth, status=run.status.value, sent=len(acc.orders()),
                  intended=sum(o.quantity for o in firsts), filled=sum(o.filled_quantity for o in orders),
                  traded=sum(o["amount"] for o in acc.orders()), fees=sum(o["fees"] for o in acc.orders()),
                  slippage=slippage)


def section(results: list[Result], args: argparse.Namespace) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Limit orders: total cost against market orders",
        "",
        f"Measured {when} by `.venv/bin/python bench/limit_orders.py --spread {args.spread} --depth {args.depth} "
        f"--ticks {args.ticks}` (in process: the engine, the optimal planner, the simulated exchange of "
        f"`adapters/sim/book.py`, a fake clock). The demo account (3 sells, 4 buys); every ticker quoted "
        f"{args.spread} ticks each side of its mid (a {2 * args.spread}-tick spread), limit orders at "
        f"{args.ticks} tick(s) past the quote, a remainder re-sent once, then cancelled. Cost = commissions "
        f"+ slippage against the mid, KRW.",
        "",
        "| depth per level | orders | run status | shares filled / intended | traded KRW | commissions | "
        "slippage vs mid | total cost | cost, bp of traded |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        depth = "unlimited" if r.depth == 0 else f"{r.depth} shares"
        lines.append(f"| {depth}, {r.style} | {r.sent} | {r.status} | {r.filled:,} / {r.intended:,} | "
                     f"{r.traded:,} | {r.fees:,} | {r.slippage:,} | **{r.cost:,}** | {r.bps:.1f} |")
    thin = {r.style: r for r in results if r.depth == args.depth}
    if thin.get("market") and thin.get("limit"):
        m, lim = thin["market"], thin["limit"]
        lines += ["", f"With {args.depth} shares per level the limit run cost {lim.cost:,} KRW against "
                  f"{m.cost:,} KRW for market orders ({lim.bps:.1f} bp against {m.bps:.1f} bp of the value "
                  f"traded); it filled {lim.filled / lim.intended:.0%} of the shares it intended (the rest "
                  f"was cancelled and waits for the next run), the market run all of them by walking the "
                  f"book. With unlimited depth both fill at the quote and cost the same."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spread", type=int, default=10, help="ticks on each side of the mid")
    ap.add_argument("--depth", type=int, default=200, help="shares per price level (0: unlimited)")
    ap.add_argument("--ticks", type=int, default=2, help="a limit order's ticks past the quote")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        results = [one_run(tmp, style, args.spread, depth, args.ticks)
                   for depth in (args.depth, 0) for style in ("market", "limit")]
    text = section(results, args)
    print(text)
    write_section(args.out, START, END, text)


if __name__ == "__main__":
    main()

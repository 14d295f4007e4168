"""Residual drift of the Gemini planner's recorded plans against the greedy planner and the optimum.

    .venv/bin/python bench/planner_gemini.py            # print the tables
    .venv/bin/python bench/planner_gemini.py --write    # and update docs/benchmarks.md

Reads every reply recorded in tests/cassettes/gemini (and tests/cassettes/gemini_real, if a user
recorded one against the real API), parses it with the planner's own boundary check, and applies
the plan to the demo account at planning prices: the sell context is the demo account as it
stands; the buy context is the account after the greedy sells (the context every recorded buy
reply was made for). For each plan it reports the total absolute drift after it (pp of T, the
``total_abs_drift`` of the drift report, cash row included), the R1-R5 verdict and the fees,
next to the greedy planner's and the optimal planner's plans for the same context. The optimal
planner (statemachine.planner_optimal) is imported lazily; where it is missing its rows say so.

The replies in tests/cassettes/gemini come from the local FAKE server, which returned the greedy
planner's plans (or broken variants of them): they measure the pipeline, not a model.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.gemini.schema import parse_reply  # noqa: E402
from adapters.sim.account import DEMO_DIR, SimAccount  # noqa: E402
from adapters.sim.broker import SimulatedBroker  # noqa: E402
from statemachine.drift import drift_report  # noqa: E402
from statemachine.errors import PlanningError  # noqa: E402
from statemachine.models import Plan, PlanningContext, Side, Targets, Thresholds  # noqa: E402
from statemachine.planner_greedy import GreedyPlanner  # noqa: E402
from statemachine.projection import apply_plan  # noqa: E402
from statemachine.rules import check_plan, failures  # noqa: E402
from statemachine.settings import EngineSettings  # noqa: E402

CASSETTE_DIRS = [ROOT / "tests" / "cassettes" / "gemini", ROOT / "tests" / "cassettes" / "gemini_real"]
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- gemini:start -->", "<!-- gemini:end -->"
COMMAND = ".venv/bin/python bench/planner_gemini.py --write"
ES = EngineSettings()


@dataclass
class Row:
    source: str
    plan: Plan | None
    error: str | None = None


def contexts(tmp: Path) -> dict[Side, PlanningContext]:
    targets = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
    thresholds = Thresholds()
    broker = SimulatedBroker(SimAccount.demo(tmp / "bench_acct.json"))
    snap = broker.balance()
    missing = [t for t in targets.tickers() if snap.price(t) is None]
    snap = snap.model_copy(update={"prices": broker.prices(missing)})
    sell = PlanningContext(side=Side.SELL, snapshot=snap, targets=targets, thresholds=thresholds,
                           drift=drift_report(snap, targets, thresholds))
    sells = GreedyPlanner(ES.fees).plan(sell)
    after, _ = apply_plan(snap, Side.SELL, sells.orders, ES.fees, targets.names)
    buy = PlanningContext(side=Side.BUY, snapshot=after, targets=targets, thresholds=thresholds,
                          drift=drift_report(after, targets, thresholds), orderable_cash=after.cash,
                          cash_buffer=ES.cash_buffer(after.cash),
                          sold_tickers=[o.ticker for o in sells.orders])
    return {Side.SELL: sell, Side.BUY: buy}


def recorded(ctxs: dict[Side, PlanningContext]) -> dict[Side, list[Row]]:
    """Every 200 reply in the cassettes, parsed as the planner parses it."""
    out: dict[Side, list[Row]] = {Side.SELL: [], Side.BUY: []}
    for directory in CASSETTE_DIRS:
        for path in sorted(directory.glob("*.yaml")):
            data = yaml.safe_load(path.read_text())
            for i, row in enumerate(data["interactions"], 1):
                if row["response"]["status"]["code"] != 200:
                    continue
                prompt = json.loads(row["request"]["body"])["contents"][0]["parts"][0]["text"]
                side = Side.SELL if prompt.startswith("Goal: generate SELL") else Side.BUY
                body = json.loads(row["response"]["body"]["string"])
                parts = body["candidates"][0]["content"]["parts"]
                text = "".join(p.get("text", "") for p in parts if not p.get("thought"))
                source = f"{directory.name}/{path.stem} #{i}"
                ctx = ctxs[side]
                known = set(ctx.targets.tickers()) | {h.ticker for h in ctx.snapshot.holdings}
                try:
                    orders = parse_reply(text, side, known)
                except PlanningError as exc:
                    out[side].append(Row(source, None, exc.message))
                    continue
                out[side].append(Row(source, Plan(side=side, orders=orders, planner="gemini")))
    return out


def optimal(ctx: PlanningContext) -> Row:
    try:
        cls = importlib.import_module("statemachine.planner_optimal").OptimalPlanner
    except (ImportError, AttributeError):
        return Row("optimal", None, "statemachine.planner_optimal is not in this tree")
    try:
        return Row("optimal", cls(ES.fees, sell_untargeted=ES.sell_untargeted).plan(ctx))
    except PlanningError as exc:
        return Row("optimal", None, exc.message)


def measure(ctx: PlanningContext, row: Row) -> str:
    if row.plan is None:
        return f"| {row.source} | - | no plan | - | - | {row.error[:90] if row.error else ''} |"
    after, fees = apply_plan(ctx.snapshot, ctx.side, row.plan.orders, ES.fees, ctx.targets.names)
    residual = drift_report(after, ctx.targets, ctx.thresholds).total_abs_drift
    bad = failures(check_plan(ctx, row.plan, ES.fees))
    verdict = "pass" if not bad else "fail " + ",".join(sorted({c.rule for c in bad}))
    orders = ", ".join(f"{o.ticker}x{o.quantity}" for o in row.plan.orders)
    return f"| {row.source} | {residual:.4f} | {verdict} | {fees:,} | {len(row.plan.orders)} | {orders} |"


def report() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        ctxs = contexts(Path(tmp))
        rows = recorded(ctxs)
        lines = [
            "## Gemini planner: recorded plans vs greedy and the optimum",
            "",
            f"Produced by `{COMMAND}`.",
            "",
            "The replies replayed here were recorded against the **local fake Gemini server**",
            "(tests/fake_gemini.py), which answered with the greedy planner's plans or",
            "deliberately broken variants of them (an R2-failing quantity, prose around the JSON, a string",
            "quantity, an unknown ticker). The Gemini rows therefore measure the planner's pipeline",
            "(prompt, structured output, boundary checks, R1-R5), not a model's judgement; re-record",
            "against the real API (docs/gemini.md) for that.",
            "",
            "Residual drift = total absolute drift after the plan at planning prices, in pp of T (cash",
            "row included). Demo account; sell context = the account as it stands; buy context = after",
            "the greedy sells. On the sell side the sold value moves into the (already overweight) cash",
            "row, so the total barely moves; the buy side shows where a run ends. The optimum is the",
            "optimal planner's plan for the same context (statemachine.planner_optimal, when present).",
        ]
        for side in (Side.SELL, Side.BUY):
            ctx = ctxs[side]
            lines += ["", f"### {side.value} side (drift before: {ctx.drift.total_abs_drift:.4f} pp)", "",
                      "| plan | residual drift pp | R1-R5 | fees KRW | orders | plan / reason |",
                      "|---|---:|---|---:|---:|---|"]
            lines.append(measure(ctx, optimal(ctx)))
            lines.append(measure(ctx, Row("greedy", GreedyPlanner(ES.fees).plan(ctx))))
            lines += [measure(ctx, r) for r in rows[side]]
        good = [r for side in rows.values() for r in side if r.plan is not None]
        replies = sum(len(v) for v in rows.values())
        lines += ["", f"{replies} recorded replies, {len(good)} parsed into plans."]
    return "\n".join(lines)


def write(section: str) -> None:
    block = f"{START}\n{section}\n{END}"
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true",
                    help=f"update {DOC.relative_to(ROOT)} between the markers")
    args = ap.parse_args()
    section = report()
    print(section)
    if args.write:
        write(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

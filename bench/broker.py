"""KIS calls per full rebalance, and wall time against the rate limit.

    .venv/bin/python bench/broker.py            # writes the broker section of docs/benchmarks.md
    .venv/bin/python bench/broker.py --quick    # skips the 60-holding run at the paper rate

For 5, 20 and 60 holdings, a full run (the real Engine with the greedy planner, a small in-memory
UnitOfWork from tests/kis_helpers.py, KisBroker over HTTP) runs against the KIS simulator, which
enforces the paper (2/s) or the real (20/s) rate limit and answers EGW00201 beyond it. Counted:
every HTTP request the simulator received, by TR. The minimum the protocol allows is: the balance
pages once, one open-orders page, one send per order, one inquire-daily-ccld listing per side to
confirm the fills (a page per 15 rows on paper / 100 real), one orderable-cash read.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from kis_helpers import RealClock, kis_config  # noqa: E402, I001

from adapters.kis.broker import KisBroker  # noqa: E402
from adapters.kis_sim.simulator import SimulatorConfig, SimulatorServer  # noqa: E402
from adapters.memory import MemoryStore  # noqa: E402
from adapters.sim.account import SimAccount  # noqa: E402
from statemachine.engine import Engine  # noqa: E402
from statemachine.models import Side, Targets, Thresholds  # noqa: E402
from statemachine.planner_greedy import GreedyPlanner  # noqa: E402
from statemachine.settings import EngineSettings  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- broker:start -->", "<!-- broker:end -->"
CLASSES = ("Stocks", "Bonds", "Alternatives")
MP = {"Stocks": 30.0, "Bonds": 40.0, "Alternatives": 20.0, "Cash": 10.0}
TOTAL = 1_000_000_000


def scenario(n: int) -> tuple[dict[str, Any], Targets]:
    """n targeted ETFs spread over three classes; every other one 60% over its target, the rest 40%
    under, cash 1% (target 10%): a run sells about n/2 and buys about n/2."""
    sub: dict[str, dict[str, float]] = {c: {} for c in CLASSES}
    tickers = [f"{300000 + i:06d}" for i in range(n)]
    for i, t in enumerate(tickers):
        sub[CLASSES[i % 3]][t] = 0.0
    for c in CLASSES:
        for t in sub[c]:
            sub[c][t] = 1.0 / len(sub[c])
    data: dict[str, Any] = {"cash": TOTAL // 100, "names": {}, "prices": {}, "holdings": {}}
    for i, t in enumerate(tickers):
        c = CLASSES[i % 3]
        price = 10_000 + 5 * i
        target = TOTAL * MP[c] / 100 * sub[c][t]
        data["names"][t] = f"Bench ETF {t}"
        data["prices"][t] = price
        data["holdings"][t] = {"qty": int(target * (1.6 if i % 2 == 0 else 0.6) / price), "avg_cost": price}
    sub["Cash"] = {"CASH": 1.0}
    return data, Targets(mp_id="BENCH", mp=MP, sub_mp=sub)


def minimum_calls(n_rows: int, sells: int, buys: int, env: str) -> int:
    bal_page, ccld_page = (20, 15) if env == "paper" else (50, 100)
    return (
        math.ceil(n_rows / bal_page)
        + 1
        + sells
        + max(1, math.ceil(sells / ccld_page))
        + 1
        + buys
        + max(1, math.ceil((sells + buys) / ccld_page))
    )


def one_run(n: int, env: str, rate: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-kis-"))
    data, targets = scenario(n)
    SimAccount.create(tmp / "acct.json", data)
    cfg = SimulatorConfig(env=env, rate_limit_per_s=rate, token_issue_min_interval_s=0)  # type: ignore[arg-type]
    with SimulatorServer(tmp / "acct.json", cfg) as srv:
        broker = KisBroker(kis_config(srv.url, tmp, env=env, requests_per_second=rate), httpx.Client())
        broker.client.tokens.token()  # tokenP is not under the per-second limit
        store = MemoryStore()
        engine = Engine(
            store.unit_of_work, broker, lambda name: GreedyPlanner(), RealClock(), EngineSettings()
        )
        run = engine.start(
            account=broker.alias, planner="greedy", targets=targets, thresholds=Thresholds(mp=1.0, sub_mp=1.0)
        )
        t0 = time.monotonic()
        run = engine.run(run.id)
        wall = time.monotonic() - t0
        calls = sum(srv.simulator.calls.values())
        with store.unit_of_work() as uow:
            orders = uow.orders(run.id)
        sells = sum(1 for o in orders if o.side is Side.SELL)
        buys = sum(1 for o in orders if o.side is Side.BUY)
        return {
            "n": n,
            "env": env,
            "rate": rate,
            "status": run.status.value,
            "calls": calls,
            "by_tr": dict(sorted(srv.simulator.calls.items())),
            "sells": sells,
            "buys": buys,
            "minimum": minimum_calls(n, sells, buys, env),
            "wall": wall,
            "bound": calls / rate,
            "rate_limited": srv.simulator.rate_limited,
        }


def render(rows: list[dict[str, Any]], command: str) -> str:
    lines = [
        "## Broker: KIS calls and rate-limit wall time",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"(Python {platform.python_version()}). A full run = the real `Engine` (greedy planner, in-memory "
        "UnitOfWork) driving `KisBroker` over HTTP against the KIS simulator, which enforces the rate limit "
        "and answers EGW00201 beyond it; calls are the requests the simulator received (tokenP excluded, "
        "issued once beforehand). Minimum = balance pages once + 1 open-orders page + one send per order + "
        "one daily-ccld listing per side + 1 orderable-cash read.",
        "",
        "| holdings | env (limit) | orders sell/buy | calls | minimum | wall s | bound s (calls/N) "
        "| wall/bound | EGW00201 | status |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['env']} ({r['rate']:g}/s) | {r['sells']}/{r['buys']} | {r['calls']} | "
            f"{r['minimum']} | {r['wall']:.2f} | {r['bound']:.2f} | {r['wall'] / r['bound']:.3f} | "
            f"{r['rate_limited']} | {r['status']} |"
        )
    lines += ["", "Calls by TR id:", ""]
    for r in rows:
        lines.append(
            f"- {r['n']} holdings, {r['env']}: " + ", ".join(f"{k} {v}" for k, v in r["by_tr"].items())
        )
    lines += [
        "",
        "How the minimum is counted: the balance read once, every page (20 rows a page on paper, 50 "
        "real); one open-orders page (inquire-daily-ccld, unfilled only); one order-cash send per "
        "order; per side, one inquire-daily-ccld listing of the side's orders once they are sent "
        "(a page per 15 rows on paper, 100 real; the buy side's listing counted over every order of "
        "the day): it shows every fill and is also the side's final reconciliation; one "
        "orderable-cash read after the sells (DOMAIN.md 8: buys are planned on it). The engine polls "
        "fills with one listing of the side per interval (not one per order), its side "
        "reconciliation reuses the last listing when nothing was sent or cancelled after it, and "
        "the account after the sells and after the buys is the balance read at the start moved by "
        "the recorded fills (no balance re-read). Above the minimum only when fills are not "
        "immediate (another listing per poll interval), a page boundary, or a lost reply "
        "(reconciliation reads by ticker).",
    ]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n\n"
    block = f"{START}\n{text}{END}"
    if START in doc and END in doc:
        head, rest = doc.split(START, 1)
        doc = head + block + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(doc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 60-holding run at the paper rate")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    rows = []
    for env, rate in (("real", 20.0), ("paper", 2.0)):
        for n in (5, 20, 60):
            if args.quick and env == "paper" and n == 60:
                continue
            r = one_run(n, env, rate)
            print(json.dumps({k: v for k, v in r.items() if k != "by_tr"}), flush=True)
            rows.append(r)
    command = ".venv/bin/python bench/broker.py" + (" --quick" if args.quick else "")
    text = render(rows, command)
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"written to {DOC}")


if __name__ == "__main__":
    main()

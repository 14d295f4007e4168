"""``backtest``: replay a rebalancing policy over a price history (docs/backtest.md)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.cli.context import JsonOpt, app, emit, err, handled, out
from statemachine.errors import DomainError, TargetsError
from statemachine.policies import POLICY_NAMES

DEMO_TARGETS = Path(__file__).resolve().parents[1] / "sim" / "demo_data" / "demo_targets.json"


def _json_file(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DomainError(f"{what} file {path} does not exist", field=what) from None
    except json.JSONDecodeError as exc:
        raise DomainError(f"{what} file {path} is not valid JSON: {exc.msg} at line {exc.lineno}", field=what) from None


def _day(text: str | None, what: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DomainError(f"{what}: bad date {text!r} (YYYY-MM-DD)", field=what) from None


@app.command()
@handled
def backtest(
    prices: Annotated[Path | None, typer.Option(help="Daily closes CSV: date,ticker,close (KRX codes).")] = None,
    dividends: Annotated[Path | None, typer.Option(help="Dividends CSV: date,ticker,amount (KRW per share).")] = None,
    synthetic: Annotated[float | None, typer.Option(help="Use N years of SYNTHETIC prices (seeded GBM) "
                                                    "for the demo targets' tickers instead of --prices.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic history.")] = 20,
    targets: Annotated[Path | None, typer.Option(help="Targets JSON, or a timeline {\"timeline\": [{\"start\", "
                                                 "\"targets\"}]} (--synthetic default: the demo targets).")] = None,
    holdings: Annotated[str | None, typer.Option(help="Starting shares: JSON file, JSON, or 069500=10,... ")] = None,
    cash: Annotated[int, typer.Option(min=0, help="Starting cash, KRW.")] = 100_000_000,
    policy: Annotated[str, typer.Option(help=" | ".join(POLICY_NAMES))] = "threshold",
    planner: Annotated[str, typer.Option(help="optimal | greedy")] = "optimal",
    frequency: Annotated[str, typer.Option(help="calendar: monthly | quarterly")] = "monthly",
    edge_fraction: Annotated[float, typer.Option(help="band-edge: stop at this fraction of the band")] = 0.5,
    drift_value_bps: Annotated[float, typer.Option(help="cost-aware: value of removing 1 KRW of drift, bp")] = 50.0,
    spread_bps: Annotated[float, typer.Option(help="cost-aware: modelled slippage, bp")] = 0.0,
    min_trade_value: Annotated[int, typer.Option(help="cost-aware: smallest order, KRW")] = 0,
    vol_window: Annotated[int, typer.Option(help="volatility-aware: closes in the window")] = 20,
    vol_limit: Annotated[float, typer.Option(help="volatility-aware: annualised vol limit (0.3 = 30 %)")] = 0.30,
    max_postpone_days: Annotated[int, typer.Option(help="volatility-aware: postponement at most, trading days")] = 10,
    mp_threshold: Annotated[float, typer.Option("--mp-threshold")] = 3.0,
    sub_mp_threshold: Annotated[float, typer.Option("--sub-mp-threshold")] = 5.0,
    commission_rate: Annotated[float | None, typer.Option(help="Default: the configured fee model.")] = None,
    cash_buffer_percent: Annotated[float, typer.Option(help="Kept back from the cash for buys.")] = 0.5,
    start: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD).")] = None,
    chart: Annotated[Path | None, typer.Option(help="Write the value and drift chart here (.svg).")] = None,
    output: Annotated[Path | None, typer.Option(help="Write the whole result (every day) as JSON here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Replay rebalancing over a price history: drift, trades, costs, against buy-and-hold and an
    ideal daily rebalance. Exit code 2 on bad input."""
    from adapters.backtest import data, service
    from adapters.backtest.chart import render_svg
    from statemachine.fees import FeeModel

    if (prices is None) == (synthetic is None):
        raise DomainError("give --prices CSV or --synthetic YEARS (one of them)", field="prices")
    if planner not in ("optimal", "greedy"):
        raise DomainError(f"unknown planner '{planner}' (optimal or greedy)", field="planner")
    if synthetic is not None:
        if not 0 < synthetic <= 50:
            raise DomainError("--synthetic: years between 0 and 50", field="synthetic")
        history = data.synthetic_history(synthetic, seed=seed)
        targets_doc = _json_file(targets or DEMO_TARGETS, "targets")
    else:
        assert prices is not None
        history = data.read_prices(prices, dividends)
        if targets is None:
            raise TargetsError("--targets is required with --prices", field="targets")
        targets_doc = _json_file(targets, "targets")
    try:
        history = history.between(_day(start, "--from"), _day(end, "--to"))
    except ValueError as exc:
        raise DomainError(str(exc), field="--from") from None
    held = _json_file(Path(holdings), "holdings") if holdings and Path(holdings).is_file() else None
    fees = FeeModel() if commission_rate is None else FeeModel(commission_rate=commission_rate)
    cfg = service.make_config(
        history, targets_doc, holdings=service.holdings_from(json.dumps(held) if held is not None else holdings),
        cash=cash, planner=planner, mp_threshold=mp_threshold, sub_mp_threshold=sub_mp_threshold, fees=fees,
        cash_buffer_percent=cash_buffer_percent,
        policy=dict(name=policy, frequency=frequency, edge_fraction=edge_fraction, drift_value_bps=drift_value_bps,
                    spread_bps=spread_bps, min_trade_value=min_trade_value, vol_window=vol_window,
                    vol_limit=vol_limit, max_postpone_days=max_postpone_days))
    result = _run_with_progress(service, history, cfg)
    if chart is not None:
        chart.write_text(render_svg(result, threshold_pp=mp_threshold))
        err.print(f"chart written to {chart}")
    if output is not None:
        output.write_text(json.dumps(service.result_json(result), ensure_ascii=False, default=str))
        err.print(f"result written to {output}")
    if as_json:
        emit(service.result_json(result, days=False))
        return
    _print(result)


def _run_with_progress(service: Any, history: Any, cfg: Any) -> Any:
    """A rich progress bar on stderr for long histories (over a year of days)."""
    if len(history.dates) < 260 or not err.is_terminal:
        return service.run(history, cfg)
    from rich.progress import Progress

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("backtest", total=len(history.dates))
        return service.run(history, cfg, progress=lambda i, n: bar.update(task, completed=i))


def _print(result: Any) -> None:
    tag = " [bold](SYNTHETIC DATA)[/]" if result.synthetic else ""
    out.print(f"backtest {result.start} .. {result.end}, policy {result.policy}, planner {result.planner}{tag}")
    rows: list[tuple[str, ...]] = [("", "policy", "buy-and-hold", "ideal daily")]
    blocks = (result.summary, result.buy_and_hold, result.ideal_daily)
    for label, key, fmt in (("final value (KRW)", "final_value", "{:,.0f}"), ("total return %", "total_return_pct",
                            "{:.2f}"), ("tracking error pp", "tracking_error_pp", "{:.3f}"),
                            ("mean abs drift pp", "mean_abs_drift_pp", "{:.3f}"),
                            ("max abs drift pp", "max_abs_drift_pp", "{:.3f}"), ("turnover", "turnover", "{:.3f}"),
                            ("commissions (KRW)", "commissions", "{:,}"), ("taxes (KRW)", "taxes", "{:,}"),
                            ("rebalances", "rebalances", "{:,}")):
        rows.append((label, *(fmt.format(getattr(b, key)) for b in blocks)))
    for r in rows:
        out.print(f"  {r[0]:<20} {r[1]:>16} {r[2]:>16} {r[3]:>16}")
    for r in result.rebalances[:10]:
        out.print(f"  {r.date}  {len(r.trades)} trade(s), {r.traded_value:,} KRW, costs {r.commission + r.tax:,} KRW"
                  f"  ({r.reason})")
    if len(result.rebalances) > 10:
        out.print(f"  ... {len(result.rebalances) - 10} more rebalance(s) (--json or --output for all)")

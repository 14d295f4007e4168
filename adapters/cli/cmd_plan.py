"""``plan``: what-if planning from files, with no broker and no database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.cli.context import JsonOpt, app, emit, handled, out, state
from adapters.cli.messages import cli_error, tr
from statemachine.errors import RebalanceError, SnapshotError, TargetsError


def _load(path: Path, what: str, error: type[RebalanceError]) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise cli_error(error, "file.missing", {"field": what}, what=what, path=path) from None
    except json.JSONDecodeError as exc:
        raise cli_error(error, "file.not_json", {"field": what}, what=what, path=path, msg=exc.msg,
                        line=exc.lineno) from None


@app.command()
@handled
def plan(
    snapshot: Annotated[Path, typer.Option(help="Account snapshot JSON: cash, holdings, prices.")],
    targets: Annotated[Path, typer.Option(help="Targets JSON (the targets file format).")],
    mp_threshold: Annotated[float | None, typer.Option("--mp-threshold")] = None,
    sub_mp_threshold: Annotated[float | None, typer.Option("--sub-mp-threshold")] = None,
    planner: Annotated[str, typer.Option(help="optimal | greedy")] = "optimal",
    as_json: JsonOpt = False,
) -> None:
    """Plan sells and buys for a snapshot without any broker or database (a what-if)."""
    from statemachine.fees import FeeModel
    from statemachine.whatif import what_if

    snap = _load(snapshot, "snapshot", SnapshotError)
    tgt = _load(targets, "targets", TargetsError)
    s = state.settings
    assert s is not None  # read once by the callback
    if planner not in ("optimal", "greedy"):
        raise cli_error(TargetsError, "plan.unknown_planner", {"field": "planner"}, name=planner)
    result = what_if(snap, tgt, mp_threshold, sub_mp_threshold, planner,
                     FeeModel(commission_rate=s.commission_rate, commission_min=s.commission_min),
                     settings=s.engine_settings())
    if as_json:
        emit(result)
        return
    out.print(tr("plan.needed", answer=tr("plan.yes") if result["needed"] else tr("plan.no")))
    for side in ("sell_orders", "buy_orders"):
        for o in result.get(side, []):
            word = tr("side." + side.split("_")[0])
            out.print(f"  {word:<4} {o['quantity']:>8,} x {o['ticker']}  {o.get('reason', '')}")
    for c in result.get("checks", []):
        if not c.get("passed", True):
            out.print(f"  [red]✗[/] {c['rule']} {c.get('ticker') or ''} {c['message']}")
    before = (result.get("drift_before") or {}).get("total_abs_drift")
    after = (result.get("drift_after") or {}).get("total_abs_drift")
    if before is not None and after is not None:
        out.print(tr("plan.total_drift", before=f"{before:.2f}", after=f"{after:.2f}"))

"""``config get|set`` (thresholds, table rebalancing_config) and ``targets show|set`` (the target
allocation, table ai_strategy_decisions)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from adapters.cli.context import JsonOpt, config_app, emit, get_app, handled, out, read_targets, targets_app
from adapters.cli.messages import cli_error, tr
from statemachine.application import commands, queries
from statemachine.application.views import decision_recorded, targets_view, thresholds_view
from statemachine.errors import TargetsError


@config_app.command("get")
@handled
def config_get(as_json: JsonOpt = False) -> None:
    """Thresholds in force (the newest row)."""
    th = queries.thresholds(get_app().db.unit_of_work)
    if as_json:
        emit(thresholds_view(th))
    else:
        out.print(tr("config.get", mp=th.mp, sub=th.sub_mp))


@config_app.command("set")
@handled
def config_set(
    mp_threshold: Annotated[str | None, typer.Option("--mp-threshold", help="0-100, percentage points")] = None,
    sub_mp_threshold: Annotated[str | None, typer.Option("--sub-mp-threshold", help="0-100, points of the class")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Append a thresholds row (append-only; the newest is in force)."""
    if mp_threshold is None and sub_mp_threshold is None:
        raise cli_error(TargetsError, "config.set_needs", {"field": "thresholds"})
    a = get_app()
    new = commands.set_thresholds(a.db.unit_of_work, a.clock, mp=mp_threshold, sub_mp=sub_mp_threshold)
    if as_json:
        emit(thresholds_view(new))
    else:
        out.print(tr("config.set", mp=new.mp, sub=new.sub_mp))


@targets_app.command("show")
@handled
def targets_show(as_json: JsonOpt = False) -> None:
    """The latest strategy decision."""
    d = queries.latest_targets(get_app().db.unit_of_work)
    if d is None:
        raise cli_error(TargetsError, "targets.none", {"field": "targets"})
    if as_json:
        emit(targets_view(d))
        return
    out.print(tr("targets.decided", mp_id=d.targets.mp_id, at=f"{d.decided_at:%Y-%m-%d %H:%M:%S}"))
    for c, p in d.targets.mp.items():
        subs = ", ".join(f"{t} {w:.0%}" for t, w in d.targets.sub_mp.get(c, {}).items())
        out.print(f"  {c:<13} {p:>6.2f}%   {subs}")


@targets_app.command("set")
@handled
def targets_set(file: Path, as_json: JsonOpt = False,
                by: Annotated[str | None, typer.Option("--by", help="Who decided (recorded; default cli:<user>).")]
                = None) -> None:
    """Record a new strategy decision from a JSON targets file (validated first; nothing written if bad)."""
    t = read_targets(file)
    a = get_app()
    d = commands.set_targets(a.db.unit_of_work, a.clock, t, decided_by=(by or _cli_user())[:64])
    if as_json:
        emit(decision_recorded(d))
    else:
        out.print(tr("targets.recorded", mp_id=t.mp_id, id=d.id))


def _cli_user() -> str:
    """``cli:<login name>`` (``cli`` when the system cannot tell)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"

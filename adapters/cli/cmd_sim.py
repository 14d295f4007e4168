"""``simulator``: the KIS REST protocol simulator, standalone."""

from __future__ import annotations

from typing import Annotated, cast

import typer

from adapters.cli.context import app, handled, state


@app.command()
@handled
def simulator(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free one).")] = 0,
    env: Annotated[str, typer.Option(help="paper or real (TR ids and limits; never real money).")] = "paper",
    account: Annotated[str | None, typer.Option(help="Simulated account file (default REBALANCE_SIM_ACCOUNT_PATH; "
                                                     "created from the demo if missing).")] = None,
    session: Annotated[str | None, typer.Option(
        help="The simulated market's session: always-open, or krx (XKRX calendar, 09:00-15:30 KST, on the "
             "simulator's clock; orders outside it are refused as by the paper broker). Default "
             "REBALANCE_SIM_SESSION (always-open).")] = None,
) -> None:
    """Start the KIS simulator on loopback, printing its URL and test credentials (Ctrl-C stops it).

    Its clock is the system clock, or starts at REBALANCE_CLOCK_AT when that is set."""
    from adapters.clock import make_clock
    from adapters.kis_sim.simulator import main as serve
    from adapters.sim.account import SESSIONS, SimSession
    from statemachine.errors import DomainError

    assert state.settings is not None
    if env not in ("paper", "real"):
        raise typer.BadParameter("env must be paper or real")
    session = session or state.settings.sim_session
    if session not in SESSIONS:
        raise DomainError(f"--session must be one of {', '.join(SESSIONS)}, not '{session}'", field="session")
    clock = make_clock(state.settings.clock_at)
    serve(account or state.settings.sim_account_path, port=port, env=env, session=cast("SimSession", session),
          clock=clock.now)

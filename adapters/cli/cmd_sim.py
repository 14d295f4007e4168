"""``simulator``: the KIS REST protocol simulator, standalone."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import app, handled, state


@app.command()
@handled
def simulator(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free one).")] = 0,
    env: Annotated[str, typer.Option(help="paper or real (TR ids and limits; never real money).")] = "paper",
    account: Annotated[str | None, typer.Option(help="Simulated account file (default REBALANCE_SIM_ACCOUNT_PATH; "
                                                     "created from the demo if missing).")] = None,
) -> None:
    """Start the KIS simulator on loopback, printing its URL and test credentials (Ctrl-C stops it)."""
    from ..kis_simulator import main as serve

    assert state.settings is not None
    if env not in ("paper", "real"):
        raise typer.BadParameter("env must be paper or real")
    serve(account or state.settings.sim_account_path, port=port, env=env)

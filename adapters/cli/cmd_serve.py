"""``run_rebalance.py serve``: the HTTP API and the operator page (uvicorn).

Writes need ``REBALANCE_API_TOKEN``; without it the server listens on loopback only and refuses
writes. See :mod:`adapters.http.api`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from adapters.cli import exit_codes as ec
from adapters.cli.context import app, err, get_app, handled, state
from adapters.http.security import TOKEN_ENV, allowed_hosts, bind_problem


@app.command()
@handled
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (beyond loopback only with a token).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
) -> None:
    """Serve the HTTP API (/api, OpenAPI docs at /docs) and the operator page (/)."""
    import uvicorn

    from adapters.http.api import create_app

    assert state.settings is not None  # read once by the callback
    token = (state.settings.api_token.get_secret_value() if state.settings.api_token else None) or None
    problem = bind_problem(host, token)
    if problem:
        err.print(f"[red]error:[/] {problem}")
        raise typer.Exit(ec.BAD_INPUT)
    a = get_app()
    assert state.settings is not None
    api = create_app(a, token, allowed_hosts=allowed_hosts(host))
    err.print(
        f"serving account [bold]{a.broker().alias}[/] ({a.settings.broker}) on http://{host}:{port}/ "
        f"— writes {'need the bearer token' if token else f'disabled (no {TOKEN_ENV})'}"
    )
    uvicorn.run(api, host=host, port=port, log_config=None, access_log=False, server_header=False)

"""Building the KIS broker from settings: the real/paper host, or the bundled KIS simulator.

* ``REBALANCE_BROKER=kis``: the KIS REST client against the paper host (or the real one with the
  live-trading opt-in), credentials from ``REBALANCE_KIS_APPKEY`` / ``_APPSECRET`` / ``_ACCOUNT``.
* ``REBALANCE_BROKER=kis-sim``: the same client, over HTTP, against the KIS protocol simulator
  started in this process on a loopback port, in front of the simulated account file
  (``REBALANCE_SIM_ACCOUNT_PATH``). The demo and the crash tests use this.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from pydantic import SecretStr

from adapters.config import Settings
from adapters.kis.broker import KisBroker
from adapters.kis.config import KisConfig
from adapters.sim.account import SimAccount
from statemachine.errors import DomainError
from statemachine.ports import Broker, Clock

if TYPE_CHECKING:
    from adapters.kis_sim.server import SimulatorServer
    from adapters.sim.account import SimSession


_servers: dict[str, SimulatorServer] = {}
_lock = threading.Lock()


def _simulator_url(account_path: Path, rps: float, clock: Clock, session: SimSession) -> str:
    from adapters.kis_sim.simulator import SimulatorConfig, SimulatorServer

    key = str(account_path.resolve())
    with _lock:
        server = _servers.get(key)
        if server is None:
            server = SimulatorServer(account_path, SimulatorConfig(env="paper", rate_limit_per_s=rps),
                                     clock=clock.now, session=session)
            server.start()
            _servers[key] = server
        return server.url


def shared_limits_url(settings: Settings) -> str | None:
    """On PostgreSQL the request limiter and the token cache live in the database (every worker
    of every machine shares them); on SQLite (one machine) in the process and the local file."""
    from adapters.db.connect import database_url
    from adapters.kis.shared_limits import is_postgres

    url = database_url(settings.database_url)
    return url if is_postgres(url) else None


def make_kis_broker(settings: Settings, clock: Clock) -> Broker:
    ks = settings.kis()
    if settings.broker == "kis-sim":
        from adapters.kis_sim.simulator import TEST_APPKEY, TEST_APPSECRET

        path = Path(settings.sim_account_path)
        if not path.exists():
            SimAccount.demo(path, overwrite=False)
        acct = SimAccount(path).check()  # not an account: one line (exit 2) before any run starts
        if ks.sim_url:  # the shared multi-account simulator: this account's own (fake) key, shared limits
            from adapters.kis_sim.multi import tenant_credentials

            key, secret = tenant_credentials(settings.account_alias)
            config = KisConfig(env="paper", appkey=SecretStr(key), appsecret=SecretStr(secret),
                               account=SecretStr(f"{acct['cano']}-{acct['product']}"), base_url=ks.sim_url,
                               requests_per_second=ks.sim_rps, rate_margin=0.25,
                               limits_db_url=shared_limits_url(settings),
                               token_cache_path=path.parent / f".{path.name}.token.json",
                               order_timeout_s=settings.send_timeout_s)
            return KisBroker(config, httpx.Client(), alias=settings.account_alias, now=clock.now)
        url = _simulator_url(path, ks.sim_rps, clock, settings.sim_session)
        config = KisConfig(env="paper", appkey=SecretStr(TEST_APPKEY), appsecret=SecretStr(TEST_APPSECRET),
                           account=SecretStr(f"{acct['cano']}-{acct['product']}"), base_url=url,
                           requests_per_second=ks.sim_rps,
                           token_cache_path=path.parent / f".{path.name}.token.json",
                           token_min_issue_interval_s=0, order_timeout_s=settings.send_timeout_s)
        return KisBroker(config, httpx.Client(), alias=settings.account_alias, now=clock.now)
    missing = [f"REBALANCE_KIS_{n.upper()}" for n in ("appkey", "appsecret", "account") if getattr(ks, n) is None]
    if missing:
        raise DomainError(f"the KIS broker needs {', '.join(missing)} (or use REBALANCE_BROKER=sim / kis-sim)",
                          field=missing[0])
    config = KisConfig(env=ks.env, appkey=ks.appkey, appsecret=ks.appsecret, account=ks.account,
                       base_url=ks.base_url, live=ks.live, live_confirm=ks.live_confirm,
                       requests_per_second=ks.rps, limits_db_url=shared_limits_url(settings),
                       token_cache_path=Path(ks.token_cache_path).expanduser(),
                       order_timeout_s=settings.send_timeout_s)  # the engine's settle window counts from it
    return KisBroker(config, httpx.Client(), alias=settings.account_alias, now=clock.now)

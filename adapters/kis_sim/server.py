"""The KIS simulator's ASGI app (:class:`KisSimulator`: routing, the /uapi call sequence, control
from tests) and running it under uvicorn: :class:`SimulatorServer` in a background thread
(``start()`` returns the base URL), :func:`serve_simulator` in the foreground, :func:`main` as
the standalone command (``python -m adapters.kis_sim.simulator ACCOUNT [PORT]``).

A /uapi call goes: count it, latency, rate limit (EGW00201), a queued or random fault, the
gateway's credential and token checks, the TR id check, the TR handler, then the reply (or a
stall, or a dropped connection).
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import uvicorn
from starlette.requests import Request

from adapters.kis_sim import gateway as G
from adapters.kis_sim import oauth
from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.faults import Fault, FaultQueue
from adapters.kis_sim.tr_asking_price import asking_price
from adapters.kis_sim.tr_balance import balance
from adapters.kis_sim.tr_cancel import cancel
from adapters.kis_sim.tr_ccld import ccld
from adapters.kis_sim.tr_common import Handler
from adapters.kis_sim.tr_holiday import holiday
from adapters.kis_sim.tr_order import order
from adapters.kis_sim.tr_price import price
from adapters.kis_sim.tr_psbl import psbl
from adapters.kis_sim.tr_psbl_rvsecncl import psbl_rvsecncl
from adapters.kis_sim.tr_search_info import search_info
from adapters.kis_sim.wire import Drop, Send, drop, raw, reply
from adapters.sim.account import SimAccount, SimSession

HANDLERS: dict[str, Handler] = {
    G.BALANCE: balance,
    G.PSBL: psbl,
    G.ORDER: order,
    G.CCLD: ccld,
    G.RVSE: cancel,
    G.PRICE: price,
    G.SEARCH_INFO: search_info,
    G.PSBL_RVSECNCL: psbl_rvsecncl,
    G.HOLIDAY: holiday,
    G.ASKING_PRICE: asking_price,
}


class KisSimulator:
    """The ASGI app: one simulated KIS host (paper or real) in front of one :class:`SimAccount`."""

    def __init__(self, account: SimAccount, config: SimulatorConfig | None = None) -> None:
        self.account = account
        self.config = config or SimulatorConfig()
        self.calls: collections.Counter[str] = collections.Counter()  # by tr_id (or path), every request
        self.rate_limited = 0
        self._faults = FaultQueue(self.config.seed)
        self._window = G.RateWindow()
        self._tokens = oauth.TokenStore()
        self._lock = threading.Lock()

    def _now(self) -> float:
        """The simulated broker's wall time (its account's clock), as a POSIX timestamp."""
        return self.account.clock().timestamp()

    # -- control from tests ------------------------------------------------------------------------
    def inject(self, fault: Fault, times: int = 1, path: str | None = None) -> None:
        """Answer the next ``times`` /uapi calls (to ``path`` if given) with ``fault``."""
        self._faults.add(fault, times, path)

    def reset(self, config: SimulatorConfig | None = None) -> None:
        """Forget faults, counters and the rate window (tokens stay valid); optionally a new config."""
        with self._lock:
            if config is not None:
                self.config = config
            self._faults.reset(self.config.seed)
            self._window.clear()
            self.calls.clear()
            self.rate_limited = 0
            self._tokens.last_issue = 0.0

    def expire_tokens(self) -> None:
        self._tokens.expire_all()

    def reset_counters(self) -> None:
        with self._lock:
            self.calls.clear()
            self.rate_limited = 0

    # -- ASGI ----------------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                pass
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        req = Request(scope, receive)
        path = G.canonical_path(scope["path"])
        try:
            if path == "/oauth2/tokenP":
                await oauth.token(req, send, self.config, self._tokens, self._now)
            elif path == "/oauth2/revokeP":
                await oauth.revoke(req, send, self.config, self._tokens)
            elif path == "/uapi/hashkey":
                await oauth.hashkey(req, send, self.config)
            elif path in G.TRS:
                await self._uapi(req, send, path)
            else:
                await reply(send, 404, R.envelope("1", "OPSQ0001", f"없는 경로입니다 ({path})"))
        except Drop:
            return  # uvicorn closes a connection whose response was started but never completed

    async def _uapi(self, req: Request, send: Send, path: str) -> None:
        tr_id = req.headers.get("tr_id", "")
        with self._lock:
            self.calls[tr_id or path] += 1
        if self.config.latency_s:
            await asyncio.sleep(self.config.latency_s)
        if not self._window.admit(self.config.rate):
            with self._lock:
                self.rate_limited += 1
            return await reply(send, 500, R.envelope("1", *G.RATE_LIMITED), tr_id=tr_id)
        fault = self._faults.take(path, self.config)
        if fault == "http500":
            return await raw(
                send, 500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html"
            )
        if fault == "empty":
            return await raw(send, 200, b"", "application/json; charset=UTF-8")
        if fault == "html":
            return await raw(send, 200, b"<!DOCTYPE html><html><body>maintenance</body></html>", "text/html")
        if fault == "rate_limit":
            return await reply(send, 500, R.envelope("1", *G.RATE_LIMITED), tr_id=tr_id)
        if fault == "ledger_limit":
            return await reply(
                send, 500, R.envelope("1", "EGW00215", "초당 거래건수를 초과하였습니다.(원장)"), tr_id=tr_id
            )
        bad = (
            ("EGW00123", "기간이 만료된 token 입니다.")
            if fault == "token_expired"
            else G.auth_error(req, self.config, self._tokens, self._now)
        )
        if bad:
            return await reply(send, 500, R.envelope("1", *bad), tr_id=tr_id)
        if refused := G.tr_error(path, tr_id, req.method, self.config):
            return await reply(send, refused[0], refused[1], tr_id=tr_id)
        data = await G.fields(req, path)
        if G.TRS[path][0] == "POST" and (refusal := G.body_key_error(data)):
            return await reply(send, 200, refusal, tr_id=tr_id)
        status, payload, cont = HANDLERS[path](self.account, self.config, data, req, G.real_tr(tr_id))
        if fault == "timeout":
            await asyncio.sleep(self.config.timeout_sleep_s)
        if fault == "drop" or payload.pop("_drop", False):
            await drop(send)
        await reply(send, status, payload, tr_id=tr_id, tr_cont=cont)


# ------------------------------------------------------------------------------ running it
class ThreadedServer:
    """A uvicorn server (``self._server``) on a loopback port in a daemon thread: :meth:`start`
    returns its URL once it listens; :meth:`stop` asks it to exit and joins the thread."""

    _server: uvicorn.Server
    _thread: threading.Thread | None
    url: str
    THREAD_NAME = "kis-simulator"
    WHAT = "the KIS simulator"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.run, name=self.THREAD_NAME, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self.WHAT} did not start")
            time.sleep(0.01)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SimulatorServer(ThreadedServer):
    """The simulator under uvicorn (h11, so header casing survives) on a loopback port, in a thread."""

    def __init__(
        self,
        account_path: str | Path,
        config: SimulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "critical",
        clock: Callable[[], datetime] | None = None,
        session: SimSession = "always-open",
    ) -> None:
        self.account = SimAccount(account_path, clock=clock, session=session)
        self.simulator = KisSimulator(self.account, config)
        self._config = uvicorn.Config(
            self.simulator,
            host=host,
            port=port,
            http="h11",
            lifespan="off",
            log_level=log_level,
            access_log=False,
            server_header=False,
            date_header=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None
        self.url = ""



def serve_simulator(
    account_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    config: SimulatorConfig | None = None,
    ready: Callable[[str, SimulatorConfig], None] | None = None,
    *,
    session: SimSession = "always-open",
    clock: Callable[[], datetime] | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C). ``ready(url, config)`` is called once it listens."""
    cfg = config or SimulatorConfig()
    server = SimulatorServer(account_path, cfg, host=host, port=port, log_level="warning", session=session,
                             clock=clock)
    url = server.start()
    if ready:
        ready(url, cfg)
    try:
        while server._thread and server._thread.is_alive():
            server._thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def main(account_path: str, port: int = 0, env: str = "paper", session: SimSession = "always-open",
         clock: Callable[[], datetime] | None = None) -> None:
    """Start the simulator standalone, print its URL and the (fake) test credentials."""
    if not Path(account_path).exists():
        SimAccount.demo(account_path)
    acct = SimAccount(account_path).check()  # not an account: one line (exit 2), nothing served
    cfg = SimulatorConfig(env="real" if env == "real" else "paper")

    def ready(url: str, c: SimulatorConfig) -> None:
        print(f"KIS simulator ({c.env}) listening on {url}  (Ctrl-C to stop)")
        print(
            f"  appkey    {c.appkey}\n  appsecret {c.appsecret}\n  account   {acct['cano']}-{acct['product']}"
        )
        print(f"  rate limit {c.rate:g} req/s; account file {account_path}")
        market = ("always open" if session == "always-open"
                  else "the KRX session (XKRX calendar, 09:00-15:30 KST) on its own clock")
        print(f"  market    {market} (--session always-open|krx)", flush=True)

    serve_simulator(account_path, port=port, config=cfg, ready=ready, session=session, clock=clock)

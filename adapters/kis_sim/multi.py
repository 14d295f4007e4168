"""One KIS simulator host serving many accounts, each with its own app key, and the broker's
limits per app key: the request rate (EGW00201) and one token issue a minute (EGW00133).

The tenants come from a manifest (JSON: ``{"tenants": [{"alias", "appkey", "appsecret",
"account_file"}]}``, written by :func:`make_tenants`); each is a :class:`KisSimulator` of its own
(its account file, its token store, its rate window) behind one port. A request is routed by its
``appkey`` header (``/uapi``) or body field (``/oauth2``); an unknown key gets the broker's
EGW00103. Each tenant's account file keeps its orders: the per-account order log the duplicate
checks read (:func:`order_log`).

``GET /_sim/stats`` answers the per-tenant counts (requests, EGW00201 rate-limit replies,
EGW00133 token refusals, tokens issued): what a test or a bench asserts on. No key or token is
in it. ``python -m adapters.kis_sim.multi MANIFEST [--port N] [--rate R] [--latency S]`` serves it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import uvicorn

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.server import KisSimulator, ThreadedServer
from adapters.kis_sim.wire import Send, reply
from adapters.sim.account import SimAccount


def tenant_credentials(alias: str) -> tuple[str, str]:
    """The fake, plainly-not-real credentials of the simulated account ``alias`` (a real key is 36
    characters, a secret 180): derived from the alias, so the simulator and the account's broker
    agree without any key being stored."""
    h = hashlib.sha256(f"kis-sim-tenant|{alias}".encode()).hexdigest()
    return f"PSsimTENANT{h[:25]}", ("SIMtenant" + h + "0123456789abcdefXYZ" * 9)[:180]


def make_tenants(directory: Path, n: int, account: dict[str, Any], *, prefix: str = "acct") -> Path:
    """Write ``n`` account files (the same holdings and prices, distinct account numbers) and their
    manifest in ``directory``; returns the manifest's path."""
    directory.mkdir(parents=True, exist_ok=True)
    tenants = []
    for i in range(n):
        alias = f"{prefix}{i:03d}"
        key, secret = tenant_credentials(alias)
        path = directory / f"{alias}.json"
        SimAccount.create(path, {**account, "alias": alias, "cano": f"{60000000 + i:08d}", "product": "01"})
        tenants.append({"alias": alias, "appkey": key, "appsecret": secret, "account_file": str(path),
                        "account": f"{60000000 + i:08d}-01"})
    manifest = directory / "tenants.json"
    manifest.write_text(json.dumps({"tenants": tenants}, indent=1))
    manifest.chmod(0o600)
    return manifest


def load_tenants(manifest: Path) -> list[dict[str, str]]:
    return list(json.loads(Path(manifest).read_text())["tenants"])


def order_log(account_file: str | Path) -> list[dict[str, Any]]:
    """The orders the simulated broker accepted for the account, in arrival order."""
    return list(SimAccount(account_file).read()["orders"])


class MultiKisSimulator:
    """The ASGI app: routes each request to the tenant of its app key."""

    def __init__(self, tenants: list[dict[str, str]], base: SimulatorConfig | None = None) -> None:
        base = base or SimulatorConfig()
        self.by_key: dict[str, tuple[str, KisSimulator]] = {}
        self.token_refused: dict[str, int] = {}
        self.tokens_issued: dict[str, int] = {}
        for t in tenants:
            cfg = base.model_copy(update={"appkey": t["appkey"], "appsecret": t["appsecret"]})
            self.by_key[t["appkey"]] = (t["alias"], KisSimulator(SimAccount(t["account_file"]), cfg))
            self.token_refused[t["alias"]] = 0
            self.tokens_issued[t["alias"]] = 0
        self._lock = threading.Lock()

    def stats(self) -> dict[str, dict[str, int]]:
        out = {}
        for alias, sim in self.by_key.values():
            out[alias] = {"requests": sum(sim.calls.values()), "rate_limited": sim.rate_limited,
                          "token_refused": self.token_refused[alias], "tokens_issued": self.tokens_issued[alias]}
        return out

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    pass
                await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        if path == "/_sim/stats":
            return await reply(send, 200, self.stats(), kis_headers=False)
        body = b""
        if path.startswith("/oauth2") or path == "/uapi/hashkey":
            more = True
            while more:
                msg = await receive()
                body += msg.get("body", b"")
                more = msg.get("more_body", False)
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                data = {}
            appkey = str(data.get("appkey", "")) if isinstance(data, dict) else ""
            if path == "/uapi/hashkey":
                appkey = _header(scope, b"appkey")
            sent = False

            async def replay() -> dict[str, Any]:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            receive = replay
        else:
            appkey = _header(scope, b"appkey")
        tenant = self.by_key.get(appkey)
        if tenant is None:
            if path.startswith("/oauth2"):
                return await reply(send, 403, {"error_code": "EGW00103",
                                               "error_description": "유효하지 않은 AppKey입니다."}, kis_headers=False)
            return await reply(send, 500, R.envelope("1", "EGW00103", "유효하지 않은 AppKey입니다."))
        alias, sim = tenant
        if path == "/oauth2/tokenP":
            send = self._watch_token(alias, send)
        await sim(scope, receive, send)

    def _watch_token(self, alias: str, send: Send) -> Send:
        status = {"code": 0}

        async def watched(msg: dict[str, Any]) -> None:
            if msg["type"] == "http.response.start":
                status["code"] = msg["status"]
            elif msg["type"] == "http.response.body":
                with self._lock:
                    if status["code"] == 200:
                        self.tokens_issued[alias] += 1
                    elif b"EGW00133" in msg.get("body", b""):
                        self.token_refused[alias] += 1
            await send(msg)

        return watched


def _header(scope: dict[str, Any], name: bytes) -> str:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return str(v.decode("latin-1"))
    return ""


class MultiSimulatorServer(ThreadedServer):
    """The multi-tenant simulator under uvicorn on a loopback port, in a background thread."""

    THREAD_NAME = "kis-multi-simulator"
    WHAT = "the multi-account KIS simulator"

    def __init__(self, manifest: Path, config: SimulatorConfig | None = None, *, port: int = 0) -> None:
        self.app = MultiKisSimulator(load_tenants(manifest), config)
        self._server = uvicorn.Server(uvicorn.Config(
            self.app, host="127.0.0.1", port=port, http="h11", lifespan="off", log_level="critical",
            access_log=False, server_header=False, date_header=False, timeout_graceful_shutdown=1,
            backlog=2048, limit_concurrency=None))
        self._thread: threading.Thread | None = None
        self.url = ""


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - a command
    p = argparse.ArgumentParser(prog="python -m adapters.kis_sim.multi")
    p.add_argument("manifest")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--rate", type=float, default=2.0, help="requests per second per app key (EGW00201 above)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every /uapi reply")
    p.add_argument("--token-interval", type=float, default=60.0, help="EGW00133 inside this many seconds")
    a = p.parse_args(argv)
    cfg = SimulatorConfig(rate_limit_per_s=a.rate, latency_s=a.latency, token_issue_min_interval_s=a.token_interval)
    server = MultiSimulatorServer(Path(a.manifest), cfg, port=a.port)
    print(f"KIS multi-account simulator on {server.start()} ({len(server.app.by_key)} accounts)", flush=True)
    try:
        while server._thread and server._thread.is_alive():
            server._thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":  # pragma: no cover
    main()

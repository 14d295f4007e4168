"""No secret of any account (app key, app secret, full account number: from the environment
variables an account names or from its owner-only file) in the database rows, the logs, the
command line's output or the API's replies, including when its broker calls fail."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

from adapters.http.api import create_app
from adapters.sim.account import SimAccount
from tests.e2e.cli_helpers import DEMO_TARGETS, Cli
from tests.e2e.http_helpers import TOKEN, make_app

ISA = {"ISA_APPKEY": "PSg5dTKNWmXiYzQ3vJbPLcRaHfE8oU1nDkA2", "ISA_APPSECRET": "Qz7Lm2Xw9Rt4Yp8Kj3Hn6Bv1Cx5Zs0Ad" * 5,
       "ISA_ACCOUNT": "50001234-01"}
PENSION = {"appkey": "PSt8uYwQ2eR5tY7uI9oP1aS3dF6gH8jK0lZx", "appsecret": "Wn4Er7Ty1Ui3Op5As8Df0Gh2Jk6Lz9Xc" * 5,
           "account": "60005678-02"}
SECRETS = [*ISA.values(), *PENSION.values(), "50001234", "60005678"]


def _assert_clean(texts: dict[str, str]) -> None:
    for where, body in texts.items():
        for secret in SECRETS:
            assert secret not in body, f"{where} holds a secret"


def _db_texts(db_url: str) -> dict[str, str]:
    texts = {}
    engine = create_engine(db_url)
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).fetchall()
            texts[f"table {table}"] = "\n".join(repr(tuple(r)) for r in rows)
    engine.dispose()
    return texts


class _Refuser(BaseHTTPRequestHandler):
    """A KIS host that refuses every app key (EGW00103) and remembers what it was sent."""

    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        _Refuser.seen.append(json.loads(body or b"{}"))
        reply = json.dumps({"error_code": "EGW00103", "error_description": "invalid AppKey"}).encode()
        self.send_response(403)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


def test_no_account_secret_in_rows_logs_output_or_replies(tmp_path, monkeypatch):
    creds = tmp_path / "pension.json"
    creds.write_text(json.dumps(PENSION))
    os.chmod(creds, 0o600)
    # a broker host that refuses the keys: the KIS accounts' calls fail, with their credentials in hand
    host = ThreadingHTTPServer(("127.0.0.1", 0), _Refuser)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    _Refuser.seen.clear()
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'secrets.db'}", REBALANCE_LOG_LEVEL="DEBUG",
              REBALANCE_LOG_FORMAT="json", REBALANCE_KIS_BASE_URL=f"http://127.0.0.1:{host.server_port}",
              REBALANCE_KIS_TOKEN_CACHE_PATH=str(tmp_path / "cache" / "kis_token.json"),
              **ISA)
    SimAccount.demo(tmp_path / "sim1.json")
    outputs: dict[str, str] = {}

    def run(*args: str) -> int:
        res = cli(*args)
        outputs[" ".join(args)] = res.stdout + res.stderr
        return res.returncode

    assert run("targets", "set", str(DEMO_TARGETS)) == 0
    assert run("accounts", "add", "isa", "--broker", "kis-paper", "--masked-number", "5000****-01",
               "--appkey-env", "ISA_APPKEY", "--appsecret-env", "ISA_APPSECRET", "--account-env", "ISA_ACCOUNT") == 0
    assert run("accounts", "add", "pension", "--broker", "kis-real", "--credentials-file", str(creds)) == 0
    assert run("accounts", "add", "sim1", "--sim-account", str(tmp_path / "sim1.json")) == 0
    assert run("run", "--account", "sim1", "--json") == 0
    assert run("run", "--account", "isa", "--max-phase", "2", "--json") != 0  # the broker is unreachable
    assert run("run", "--account", "pension", "--max-phase", "2", "--json") != 0
    for args in (("accounts", "list", "--json"), ("accounts", "overview", "--json"), ("accounts", "show", "isa"),
                 ("accounts", "show", "pension", "--json"), ("config", "show")):
        run(*args)
    host.shutdown()
    # each account's own credentials were resolved and sent to its broker (and only there)
    assert [x.get("appkey") for x in _Refuser.seen] == [ISA["ISA_APPKEY"], PENSION["appkey"]]
    assert "EGW00103" in outputs["run --account isa --max-phase 2 --json"]
    assert "rebalance.engine" in outputs["run --account sim1 --json"]
    texts = {**outputs, **_db_texts(cli.db_url)}
    assert "ISA_APPKEY" in texts["table accounts"] and str(creds) in texts["table accounts"]

    for k, v in ISA.items():
        monkeypatch.setenv(k, v)
    app = make_app(tmp_path / "api", cli.db_url, targets=False)
    with TestClient(create_app(app, TOKEN)) as c:
        for path in ("/api/accounts", "/api/accounts/overview", "/api/accounts/isa", "/api/accounts/pension",
                     "/api/accounts/sim1", "/api/macro-trading/runs", "/api/macro-trading/rebalancing/history"):
            res = c.get(path)
            assert res.status_code == 200, (path, res.text)
            texts[f"GET {path}"] = res.text
    app.db.dispose()
    _assert_clean(texts)

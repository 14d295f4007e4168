"""Notifications when a run ends (adapters.notify, the engine's Notifier port), received by a
loopback webhook through apprise's ``json://``: one for each of the four events of real runs
against the simulator, never a secret, and a notifier outage changes nothing about the run."""

from __future__ import annotations

import json
import logging
import socket
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters.notify import AppriseNotifier
from adapters.scheduler.calendar import XKRX, market_hours_guard
from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.errors import SafetyStop
from statemachine.limits import TradingLimits
from statemachine.models import Side, Targets
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import EngineSettings
from statemachine.states import RunStatus
from tests.contract.helpers import open_store
from tests.fakes import FakeClock, ScriptedPlanner

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
SATURDAY = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 11:00 KST on a Saturday: the KRX is closed


class Receiver:
    """A webhook on 127.0.0.1 that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.got = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                n = int(self.headers.get("Content-Length") or 0)
                outer.bodies.append(json.loads(self.rfile.read(n)))
                outer.got.set()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=["sqlite"])
def db(request, tmp_path):
    yield from open_store(request, tmp_path)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there any more
    return port


def make_engine(db, tmp_path, notifier=None, *, planner=None, guards=None, start=None, name="account.json",
                **settings):
    account = SimAccount.demo(tmp_path / name)
    clock = FakeClock(start)
    account.clock = clock.now
    es = EngineSettings(fill_timeout_s=2, fill_poll_s=0.5, **settings)
    greedy = GreedyPlanner()
    eng = Engine(db.unit_of_work, SimulatedBroker(account), lambda n: planner or greedy, clock, es,
                 owner="test-owner", guards=guards, notifier=notifier)
    return eng, account


def notifier_for(receiver, secrets=()):
    return AppriseNotifier([receiver.url], public_url="http://rebalancer.example:8000/", secrets=secrets)


def one_message(receiver) -> dict:
    assert len(receiver.bodies) == 1, receiver.bodies
    return receiver.bodies[0]


def test_a_finished_run_is_notified_with_its_summary_and_link(db, tmp_path, receiver):
    eng, _ = make_engine(db, tmp_path, notifier_for(receiver))
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.SUCCEEDED
    msg = one_message(receiver)
    assert run.id in msg["title"] and "finished" in msg["title"] and msg["type"] == "success"
    body = msg["message"]
    assert f"Run: {run.id}" in body and "Account: demo" in body and "Outcome: SUCCEEDED" in body
    with db.unit_of_work() as uow:
        orders = uow.orders(run.id)
        h = uow.history_of(run.id)
    assert f"Orders: {len(orders)} sent, {len(orders)} filled" in body
    assert f"{h.drift_before['total_abs_drift']:.2%} before, {h.drift_after['total_abs_drift']:.2%} after" in body
    assert f"Page: http://rebalancer.example:8000/#runs/{run.id}" in body


def test_a_failed_run_is_notified_with_its_reason(db, tmp_path, receiver):
    bad = ScriptedPlanner("scripted", [[("411420", 10**6)]], side=Side.SELL, fallback=GreedyPlanner())
    eng, account = make_engine(db, tmp_path, notifier_for(receiver), planner=bad)
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.FAILED
    msg = one_message(receiver)
    assert msg["type"] == "failure" and "failed: FAILED" in msg["title"]
    assert "Reason: the sell plan failed the rule checks" in msg["message"]
    assert "Orders: 0 sent, 0 filled" in msg["message"] and account.orders() == []


def test_an_operator_abort_is_notified_as_a_failure(db, tmp_path, receiver):
    eng, _ = make_engine(db, tmp_path, notifier_for(receiver))
    run = eng.run(eng.start(account="demo", targets=TARGETS, max_phase=1).id)  # STOPPED: one message
    run2 = eng.start(account="demo", targets=TARGETS)
    eng.abort(run2.id, reason="changed my mind", actor="alice")
    assert [b["title"].split()[2] for b in receiver.bodies] == [run.id, run2.id]
    assert "ABORTED" in receiver.bodies[1]["title"] and "aborted by alice: changed my mind" in receiver.bodies[1][
        "message"]


def test_a_blocked_run_is_notified(db, tmp_path, receiver):
    eng, account = make_engine(db, tmp_path, notifier_for(receiver))
    account.set_faults(lose_reply_rate=1.0)
    run = eng.start(account="demo", targets=TARGETS)
    account.place("sell", "411420", 1)  # an order the run did not place: reconciliation is ambiguous
    done = eng.run(run.id)
    assert done.status is RunStatus.BLOCKED
    msg = one_message(receiver)
    assert msg["type"] == "warning" and "BLOCKED" in msg["title"]
    assert "Reason: " in msg["message"] and "411420" in msg["message"]
    assert eng.resume(run.id).status is RunStatus.BLOCKED
    assert len(receiver.bodies) == 1  # still blocked: nothing new to tell


def test_the_market_hours_guard_stop_is_notified(db, tmp_path, receiver):
    clock_start = SATURDAY
    eng, account = make_engine(db, tmp_path, notifier_for(receiver), start=clock_start)
    eng.guards = [market_hours_guard(XKRX, eng.clock.now)]
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.ABORTED and account.orders() == []
    msg = one_message(receiver)
    assert "stopped by a safety guard" in msg["title"] and "market-hours guard" in msg["message"]


def test_a_trading_limit_refusal_is_notified_as_a_guard_stop(db, tmp_path, receiver):
    eng, _ = make_engine(db, tmp_path, notifier_for(receiver), limits=TradingLimits(max_order_value_krw=1_000_000))
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.FAILED
    msg = one_message(receiver)
    assert "stopped by a safety guard" in msg["title"] and "L1" in msg["message"]


SECRETS = {"appkey": "PSabcdefghijklmnopqrstuvwxyz0123456789",
           "google": "AIzaSyA1234567890abcdefghijklmnopqrstuv",
           "token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0b2tlbiJ9.c2lnbmF0dXJl",
           "api": "my-api-token-0123456789",
           "account": "12345678-01"}


def test_no_secret_in_an_error_reaches_the_message(db, tmp_path, receiver):
    def leaky_guard(run):
        if run.state.value == "SELL_VALIDATED":
            raise SafetyStop(f"guard broke: appkey={SECRETS['appkey']} key {SECRETS['google']} "
                             f"Authorization: Bearer {SECRETS['token']} api_token={SECRETS['api']} "
                             f"account {SECRETS['account']}")

    eng, _ = make_engine(db, tmp_path, notifier_for(receiver, secrets=[SECRETS["api"]]), guards=[leaky_guard])
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.ABORTED
    msg = one_message(receiver)
    text = json.dumps(msg)
    assert "guard broke" in msg["message"] and "[REDACTED]" in msg["message"]
    for name, secret in SECRETS.items():
        assert secret not in text, name
        assert secret[:12] not in text, name


def _outcome(db, run_id):
    with db.unit_of_work() as uow:
        run = uow.get_run(run_id)
        h = uow.history_of(run_id)
        orders = uow.orders(run_id)
    hist = h.model_dump(exclude={"run_id"})
    return ((run.status, run.state, run.error, run.seq), hist,
            [(o.side, o.ticker, o.quantity, o.status, o.filled_quantity) for o in orders])


def test_a_notifier_outage_does_not_change_the_run(db, tmp_path, caplog):
    quiet, _ = make_engine(db, tmp_path / "a", name="a.json")
    (tmp_path / "a").mkdir(exist_ok=True)
    plain = quiet.run(quiet.start(account="demo", targets=TARGETS).id)
    down = AppriseNotifier([f"json://127.0.0.1:{closed_port()}/hook"])
    (tmp_path / "b").mkdir(exist_ok=True)
    loud, _ = make_engine(db, tmp_path / "b", down, name="b.json")
    with caplog.at_level(logging.WARNING, logger="rebalance.notify"):
        noisy = loud.run(loud.start(account="demo", targets=TARGETS).id)
    assert plain.status is RunStatus.SUCCEEDED
    assert _outcome(db, noisy.id) == _outcome(db, plain.id)
    warned = [r for r in caplog.records if r.name == "rebalance.notify" and r.levelno == logging.WARNING]
    assert warned and all(noisy.id in r.getMessage() and r.run_id == noisy.id for r in warned)


def test_a_notifier_that_raises_does_not_change_the_run(db, tmp_path, caplog):
    class Broken:
        def notify(self, notice):
            raise RuntimeError("service exploded")

    eng, _ = make_engine(db, tmp_path, Broken())
    with caplog.at_level(logging.WARNING):
        run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.SUCCEEDED
    assert any("notification of run" in r.getMessage() and run.id in r.getMessage() for r in caplog.records)


def test_bootstrap_wires_the_notifier_from_the_settings(tmp_path, receiver):
    from adapters.bootstrap import bootstrap
    from adapters.config import Settings
    from statemachine.errors import DomainError

    base = {"database_url": f"sqlite:///{tmp_path / 'r.db'}", "sim_account_path": str(tmp_path / "acct.json")}
    assert bootstrap(Settings(**base)).engine().notifier is None
    app = bootstrap(Settings(**base, notify_urls=f"{receiver.url} , {receiver.url}2", public_url="http://x:1"))
    n = app.engine().notifier
    assert isinstance(n, AppriseNotifier) and len(n._apprise) == 2 and n.public_url == "http://x:1"
    with pytest.raises(DomainError) as err:
        bootstrap(Settings(**base, notify_urls="nosuchservice://tok3n-secret"))
    assert "tok3n-secret" not in err.value.message and err.value.fields.get("field") == "notify_urls"


def test_the_cli_notifies_through_the_configured_urls(tmp_path, receiver):
    """The whole path: settings from the environment, the composition root, a CLI run, the webhook."""
    from tests.e2e.cli_helpers import Cli

    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'r.db'}", REBALANCE_NOTIFY_URLS=receiver.url,
              REBALANCE_PUBLIC_URL="http://127.0.0.1:8000")
    assert cli("targets", "set", str(DEMO_DIR / "demo_targets.json")).returncode == 0
    assert receiver.bodies == []  # recording targets is not a run
    res = cli("run", "--json")
    run = json.loads(res.stdout)["run"]
    msg = one_message(receiver)
    assert run["id"] in msg["title"] and f"Page: http://127.0.0.1:8000/#runs/{run['id']}" in msg["message"]
    assert receiver.url not in res.stdout + res.stderr  # the URLs are a secret setting

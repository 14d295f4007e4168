"""Issue 14, scenario 6: a balance reply marked success with no holding rows while its own summary
shows 79,960,000 KRW of securities was taken as an empty account, and the run bought ETFs that
were already overweight. A balance whose rows do not add up to its summary is an error, read
again under the read retry policy, never an empty account.

Unit level (KisBroker over a mocked transport) and end to end (the engine through KisBroker and
the KIS simulator, whose ``balance_rows_missing`` fault answers exactly that), on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kis_helpers import FakeKis, RealClock, balance_row, balance_summary, kis_config, kis_json, ok  # noqa: E402, I001

from adapters.kis.broker import KisBroker  # noqa: E402
from adapters.kis_sim.simulator import SimulatorConfig, SimulatorServer  # noqa: E402
from adapters.sim.account import SimAccount  # noqa: E402
from statemachine.engine import Engine  # noqa: E402
from statemachine.errors import RetryableError  # noqa: E402
from statemachine.planner_greedy import GreedyPlanner  # noqa: E402
from statemachine.settings import EngineSettings  # noqa: E402
from statemachine.states import RunState, RunStatus  # noqa: E402
from tests.integration.hostile import TARGETS  # noqa: E402

URL = "http://127.0.0.1:9"
SECURITIES = 79_960_000


def _broker(fake: FakeKis, tmp_path: Path) -> KisBroker:
    return KisBroker(kis_config(URL, tmp_path), fake.client(), sleep=lambda s: None)


def _empty_but_summarised() -> httpx.Response:
    return kis_json(200, ok(ctx_area_fk100="", ctx_area_nk100="", output1=[],
                            output2=[balance_summary(1_000_000, scts=SECURITIES)]), tr_cont="D")


def _good() -> httpx.Response:
    rows = [balance_row("069500", 2000, 39_980)]  # 79,960,000 KRW
    return kis_json(200, ok(ctx_area_fk100="", ctx_area_nk100="", output1=rows,
                            output2=[balance_summary(1_000_000, scts=SECURITIES)]), tr_cont="D")


def test_empty_rows_with_a_summary_of_securities_are_read_again(tmp_path):
    fake = FakeKis().add("inquire-balance", _empty_but_summarised()).add("inquire-balance", _good())
    snap = _broker(fake, tmp_path).balance()
    assert [(h.ticker, h.quantity) for h in snap.holdings] == [("069500", 2000)]
    assert len(fake.of("inquire-balance")) == 2


def test_a_balance_that_never_adds_up_is_an_error_not_an_empty_account(tmp_path):
    fake = FakeKis()
    for _ in range(3):  # the test config's read policy: 3 attempts
        fake.add("inquire-balance", _empty_but_summarised())
    with pytest.raises(RetryableError) as e:
        _broker(fake, tmp_path).balance()
    assert "79,960,000" in e.value.message and "do not add up" in e.value.message


def test_rows_short_of_the_summary_are_refused(tmp_path):
    rows = [balance_row("069500", 1000, 39_980)]  # half of what the summary counts
    reply = kis_json(200, ok(ctx_area_fk100="", ctx_area_nk100="", output1=rows,
                             output2=[balance_summary(0, scts=SECURITIES)]), tr_cont="D")
    fake = FakeKis()
    for _ in range(3):
        fake.add("inquire-balance", reply)
    with pytest.raises(RetryableError):
        _broker(fake, tmp_path).balance()


def _engine(db, url: str, tmp_path: Path) -> Engine:
    broker = KisBroker(kis_config(url, tmp_path), httpx.Client())
    broker.client.tokens.token()
    # a real clock: keep the settle window short (nothing here should need it)
    settings = EngineSettings(fill_poll_s=0.05, fill_timeout_s=5, settle_window_s=0.5, send_timeout_s=2)
    return Engine(db.unit_of_work, broker, lambda name: GreedyPlanner(), RealClock(), settings)


def _run(db, tmp_path: Path, **faults) -> tuple[object, SimAccount]:
    acct = SimAccount.demo(tmp_path / "acct.json")
    if faults:
        acct.set_faults(**faults)
    with SimulatorServer(tmp_path / "acct.json",
                         SimulatorConfig(rate_limit_per_s=0, token_issue_min_interval_s=0)) as srv:
        eng = _engine(db, srv.url, tmp_path)
        run = eng.start(account=eng.broker.alias, targets=TARGETS)
        try:
            return eng.run(run.id), acct
        except RetryableError:
            return eng.get(run.id), acct


def test_simulated_balance_without_rows_once_is_read_again_and_the_run_is_right(db, tmp_path):
    run, acct = _run(db, tmp_path, balance_rows_missing=1)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert acct.read()["faults"]["balance_rows_missing"] == 0  # the fault really answered once
    assert acct.positions() == REFERENCE  # as a fault-free run: nothing bought twice over


def test_simulated_balance_never_adding_up_stops_before_planning(db, tmp_path):
    run, acct = _run(db, tmp_path, balance_rows_missing=1000)
    assert run.status is RunStatus.RUNNING and run.state is RunState.CREATED  # resumable, nothing planned
    assert "do not add up" in (run.error or "")
    assert acct.orders() == []


REFERENCE = {"132030": 1185, "261240": 312, "357870": 95, "360750": 308, "411420": 714, "453850": 4039,
             "458730": 300}

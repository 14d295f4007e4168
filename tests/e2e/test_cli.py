"""The command line as a user meets it: bad input gives one clear line, an exit code, nothing written."""

from __future__ import annotations

import json

import pytest

from adapters.db.connect import Database
from adapters.sim.account import SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.models import Targets
from tests.e2e.cli_helpers import DEMO_TARGETS, Cli
from tests.fakes import FakeClock, ScriptedPlanner


@pytest.fixture
def cli(tmp_path):
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}")
    SimAccount.demo(c.account)
    return c


def one_line_error(res, code):
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    return lines[0]


def test_help_lists_commands_and_exit_codes(cli):
    res = cli("--help")
    assert res.returncode == 0
    for word in ("run", "resume", "status", "show", "history", "config", "targets", "diagram", "demo", "force",
                 "abort", "Exit codes"):
        assert word in res.stdout


def test_diagram_prints_mermaid_with_all_states(cli):
    res = cli("diagram")
    assert res.returncode == 0 and "stateDiagram-v2" in res.stdout
    assert "reject_sells (loop-back)" in res.stdout and "BOUGHT" in res.stdout


def test_unknown_run_and_finished_run(cli):
    assert "no database at" in one_line_error(cli("show", "nope"), 2)  # a reader creates no database (issue 21)
    assert cli("targets", "set", str(DEMO_TARGETS)).returncode == 0
    assert "no run with id 'nope'" in one_line_error(cli("show", "nope"), 3)
    done = cli.json("run", "--max-phase", "2")
    assert done["run"]["status"] == "STOPPED" and done["run"]["state"] == "DRIFT_CHECKED"
    assert SimAccount(cli.account).orders() == []
    assert "already finished" in one_line_error(cli("resume", done["run"]["id"]), 4)


def test_bad_targets_files_write_nothing(cli, tmp_path):
    bad = tmp_path / "bad.json"
    data = json.loads(DEMO_TARGETS.read_text())
    data["mp"]["Stocks"] = 25
    bad.write_text(json.dumps(data))
    assert "'mp' sums to 105" in one_line_error(cli("targets", "set", str(bad)), 2)
    bad.write_text("{not json")
    assert "not valid JSON" in one_line_error(cli("targets", "set", str(bad)), 2)
    assert "does not exist" in one_line_error(cli("targets", "set", str(tmp_path / "missing.json")), 2)
    assert "no targets" in one_line_error(cli("targets", "show"), 2)
    assert "no targets" in one_line_error(cli("run"), 2)


@pytest.mark.parametrize("args,needle", [
    (["--mp-threshold", "-1"], "between 0 and 100"),
    (["--sub-mp-threshold", "101"], "between 0 and 100"),
    (["--mp-threshold", "abc"], "must be a number"),
])
def test_bad_thresholds_write_nothing(cli, args, needle):
    assert needle in one_line_error(cli("config", "set", *args), 2)
    assert cli.json("config", "get") == {"mp_threshold_percent": 3.0, "sub_mp_threshold_percent": 5.0}


def test_config_set_then_get(cli):
    assert cli("config", "set", "--mp-threshold", "2.5").returncode == 0
    assert cli.json("config", "get") == {"mp_threshold_percent": 2.5, "sub_mp_threshold_percent": 5.0}


def test_unreachable_database(cli):
    res = cli("status", env_db="x", REBALANCE_DATABASE_URL="postgresql://postgres@127.0.0.1:9/nowhere")
    line = one_line_error(res, 9)
    assert "cannot reach the database" in line and "127.0.0.1:9" in line
    assert "unsupported database" in one_line_error(cli("status", REBALANCE_DATABASE_URL="nonsense://"), 9)
    assert "not valid" in one_line_error(cli("status", REBALANCE_DATABASE_URL="::"), 9)


def test_show_lists_three_failed_attempts_with_reasons(cli):
    db = Database(cli.db_url)
    targets = Targets.model_validate(json.loads(DEMO_TARGETS.read_text()))
    bad = ScriptedPlanner("scripted", [[("411420", 1)], [("453850", 5)], [("999999", 3)]])
    eng = Engine(db.unit_of_work, SimulatedBroker(SimAccount(cli.account)), lambda n: bad, FakeClock())
    run = eng.run(eng.start(account="demo", targets=targets).id)
    db.dispose()
    res = cli("show", run.id)
    assert res.returncode == 0
    text = res.stdout
    assert "FAILED" in text and text.count("sell plan, attempt") == 3
    assert "R2 411420" in text and "R1 453850" in text and "R3 999999" in text
    view = cli.json("show", run.id)
    assert [p["passed"] for p in view["plans"]] == [False, False, False]
    assert view["run"]["status"] == "FAILED"


def test_plan_what_if_from_files(cli, tmp_path):
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps({
        "cash": 20_000_000,
        "holdings": [{"ticker": "411420", "name": "A", "quantity": 2000, "price": 14000},
                     {"ticker": "069500", "name": "K200", "quantity": 150, "price": 35000}],
        "prices": {"360750": 19500, "458730": 10200, "453850": 9900, "357870": 105000, "132030": 13500,
                   "261240": 12800}}))
    out = cli.json("plan", "--snapshot", str(snap), "--targets", str(DEMO_TARGETS))
    assert out["needed"] is True
    sells = {o["ticker"]: o["quantity"] for o in out["sell_orders"]}
    assert sells["069500"] == 150 and 0 < sells["411420"] < 2000
    assert {o["ticker"] for o in out["buy_orders"]} >= {"453850", "132030"}
    assert all(c["passed"] for c in out["checks"])
    assert out["drift_after"]["total_abs_drift"] < out["drift_before"]["total_abs_drift"]
    snap.write_text(json.dumps({"cash": 1000, "holdings": [{"ticker": "411420", "quantity": -1, "price": 1}]}))
    assert "411420" in one_line_error(cli("plan", "--snapshot", str(snap), "--targets", str(DEMO_TARGETS)), 2)

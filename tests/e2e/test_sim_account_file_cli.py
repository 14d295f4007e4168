"""A copy of the bundled demo account file (a seed: cash and holdings, no orders yet) as an account's
simulated-account file, on the real command line: ``run --account X --max-phase 1`` works (it used
to end in a ``KeyError: 'orders'`` traceback), and a file that is not an account is one line naming
it, exit 2, no traceback and no run started."""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import create_engine, text

from adapters.sim.account import DEMO_DIR
from tests.e2e.cli_helpers import DEMO_TARGETS, Cli

AT = "2026-03-03T10:30:00+09:00"  # a Tuesday in the KRX session (the simulated market is always open anyway)


@pytest.fixture
def cli(tmp_path):
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'simfile.db'}", REBALANCE_CLOCK_AT=AT)
    assert c("targets", "set", str(DEMO_TARGETS)).returncode == 0
    return c


def _runs(cli: Cli) -> int:
    engine = create_engine(cli.db_url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM runs")).scalar_one()
    engine.dispose()
    return int(n)


@pytest.mark.parametrize("broker", ["sim", "kis-sim"])
def test_run_on_a_copied_demo_file(cli, tmp_path, broker):
    acct = tmp_path / "acct.json"
    shutil.copy(DEMO_DIR / "demo_account.json", acct)
    assert cli("accounts", "add", "myacct", "--broker", broker, "--sim-account", str(acct)).returncode == 0
    res = cli("run", "--account", "myacct", "--max-phase", "1")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr + res.stdout and "KeyError" not in res.stderr + res.stdout
    assert "Result: STOPPED" in res.stdout
    state = json.loads(acct.read_text())
    # read as the account with no orders yet (the in-process broker writes the runtime keys back;
    # the KIS simulator only reads for a phase-1 run)
    assert state.get("orders", []) == [] and state["cash"] == 20_000_000


def test_run_on_a_copied_demo_file_from_the_environment(cli, tmp_path):
    acct = tmp_path / "env-acct.json"
    shutil.copy(DEMO_DIR / "demo_account.json", acct)
    res = cli("run", "--max-phase", "1", REBALANCE_BROKER="sim", REBALANCE_SIM_ACCOUNT_PATH=str(acct))
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr


@pytest.mark.parametrize("content,words", [
    ('{"cash": 1000, "holdings": {"069500": {"qty": -3}}}',
     "is not a valid account: holdings['069500'].qty is -3; it must be a whole number >= 0"),
    ('{"cash": 1000, "holdings": ', "is not valid JSON: Expecting value at line 1, column 28"),
    ('{"cash": 1000}', "is not a valid account: it has no holdings"),
], ids=["negative-qty", "not-json", "no-holdings"])
def test_a_broken_file_is_one_line_and_exit_2(cli, tmp_path, content, words):
    acct = tmp_path / "broken.json"
    acct.write_text(content)
    assert cli("accounts", "add", "myacct", "--broker", "sim", "--sim-account", str(acct)).returncode == 0
    res = cli("run", "--account", "myacct", "--max-phase", "1", COLUMNS="400")
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"simulated account file {acct} {words}" in lines[0], res.stderr
    assert _runs(cli) == 0  # refused before a run started
    assert acct.read_text() == content
    res = cli("run", "--account", "myacct", "--max-phase", "1", "--json")
    assert res.returncode == 2 and json.loads(res.stdout)["error"] == "SimAccountError"

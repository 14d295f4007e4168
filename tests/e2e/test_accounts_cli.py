"""``accounts``, ``portfolios`` and ``run --account`` on the real command line (subprocesses, SQLite):
JSON for scripts, exit 2 and nothing stored for bad input, a run of the named account toward its
portfolio, and ``run-if-due`` over every enabled account."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from adapters.sim.account import SimAccount
from tests.e2e.cli_helpers import DEMO_TARGETS, Cli

FAKE_APPKEY = "PSg5dTKNWmXiYzQ3vJbPLcRaHfE8oU1nDkA2"


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path, f"sqlite:///{tmp_path / 'accounts.db'}")


def _rows(cli: Cli, table: str) -> list[dict]:
    engine = create_engine(cli.db_url)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(text(f"SELECT * FROM {table}")).mappings()]
    engine.dispose()
    return rows


def test_add_list_show_disable_enable(cli):
    res = cli("accounts", "add", "isa", "--broker", "kis-paper", "--masked-number", "1234****-01",
              "--appkey-env", "ISA_APPKEY", "--appsecret-env", "ISA_APPSECRET", "--account-env", "ISA_ACCOUNT",
              "--portfolio", "growth", "--mp-threshold", "2.5", "--json")
    assert res.returncode == 0, res.stderr
    added = json.loads(res.stdout)
    assert added["credentials"] == {"kind": "env", "appkey_env": "ISA_APPKEY", "appsecret_env": "ISA_APPSECRET",
                                    "account_env": "ISA_ACCOUNT"}
    assert added["thresholds"] == {"mp": 2.5, "sub_mp": 5.0}  # the one not given: the global one
    assert cli("accounts", "add", "general").returncode == 0
    listed = cli.json("accounts", "list")["accounts"]
    assert [a["alias"] for a in listed] == ["general", "isa"]
    shown = cli.json("accounts", "show", "isa")
    assert shown["needs_operator"] and "ISA_APPKEY" in shown["problems"][0]  # the variables are not set
    assert shown["last_run"] is None and shown["drift"]["verdict"] == "unknown"
    res = cli("accounts", "show", "isa", "--json", ISA_APPKEY=FAKE_APPKEY, ISA_APPSECRET="s" * 40,
              ISA_ACCOUNT="50001234-01")
    ok = json.loads(res.stdout)
    assert FAKE_APPKEY not in res.stdout + res.stderr and "50001234-01" not in res.stdout + res.stderr
    assert ok["problems"] == [] and not ok["needs_operator"]
    assert cli.json("accounts", "disable", "general")["enabled"] is False
    assert [a["alias"] for a in cli.json("accounts", "list", "--enabled-only")["accounts"]] == ["isa"]
    assert cli.json("accounts", "enable", "general")["enabled"] is True
    human = cli("accounts", "list", COLUMNS="200")  # a wide terminal: every cell on one line
    assert human.returncode == 0 and "1234****-01" in human.stdout and "ISA_APPKEY" in human.stdout
    changed = cli.json("accounts", "set", "isa", "--default-portfolio", "--global-thresholds")
    assert changed["portfolio"] is None and changed["thresholds"] is None


@pytest.mark.parametrize("args,words", [
    (["--appkey-env", FAKE_APPKEY, "--appsecret-env", "B_SECRET", "--account-env", "C_ACCOUNT"], "NAME"),
    (["--masked-number", "50001234-01"], "masked"),
    (["--broker", "kis"], "unknown broker"),
    (["--broker", "kis-real"], "credentials"),
    (["--credentials-file", FAKE_APPKEY], "path"),
    (["--schedule", "at ten"], "cron"),
    (["--mp-threshold", "150"], "between 0 and 100"),
])
def test_bad_input_exits_2_and_stores_nothing(cli, args, words):
    res = cli("accounts", "add", "bad", *args)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert words in res.stderr and FAKE_APPKEY not in res.stderr + res.stdout and "50001234-01" not in res.stderr
    assert _rows(cli, "accounts") == []


def test_unknown_and_duplicate_aliases_exit_2(cli):
    assert cli("accounts", "add", "isa").returncode == 0
    dup = cli("accounts", "add", "isa")
    assert dup.returncode == 2 and "exists" in dup.stderr
    for args in (("accounts", "show", "nope"), ("accounts", "disable", "nope"), ("run", "--account", "nope"),
                 ("portfolios", "show", "nope")):
        res = cli(*args)
        assert res.returncode == 2 and "nope" in res.stderr, args


def test_run_account_follows_its_portfolio_and_run_if_due_drives_every_enabled_account(cli, tmp_path):
    growth = json.loads(DEMO_TARGETS.read_text()) | {"mp_id": "GROWTH"}
    (tmp_path / "growth.json").write_text(json.dumps(growth))
    assert cli("targets", "set", str(DEMO_TARGETS)).returncode == 0
    assert cli.json("portfolios", "add", "growth", str(tmp_path / "growth.json"))["mp_id"] == "GROWTH"
    for alias in ("isa", "pension", "off"):
        SimAccount.demo(tmp_path / f"{alias}.json")
    assert cli("accounts", "add", "isa", "--portfolio", "growth", "--sim-account", str(tmp_path / "isa.json"),
               "--mp-threshold", "1", "--sub-mp-threshold", "2").returncode == 0
    assert cli("accounts", "add", "pension", "--sim-account", str(tmp_path / "pension.json")).returncode == 0
    assert cli("accounts", "add", "off", "--disabled", "--sim-account", str(tmp_path / "off.json")).returncode == 0
    ports = cli.json("portfolios", "list")
    assert ports["portfolios"][0]["accounts"] == ["isa"] and ports["default_followers"] == ["off", "pension"]
    assert cli.json("portfolios", "show", "growth")["mp_id"] == "GROWTH"

    res = cli("run", "--account", "isa", "--max-phase", "2", "--planner", "greedy", "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    run = json.loads(res.stdout)["run"]
    assert run["account"] == "isa" and run["mp_id"] == "GROWTH" and run["thresholds"] == {"mp": 1.0, "sub_mp": 2.0}

    due = cli("run-if-due", "--cron", "0 10 * * 1-5", "--now", "2026-11-25T10:00:30+09:00", "--max-phase", "2",
              "--planner", "greedy", "--json")
    assert due.returncode == 0, due.stderr[-2000:]
    results = json.loads(due.stdout)["accounts"]
    assert sorted(results) == ["isa", "pension"]  # "off" is disabled
    assert {a: r["run"]["account"] for a, r in results.items()} == {"isa": "isa", "pension": "pension"}
    assert results["pension"]["run"]["mp_id"] == "MP-4"  # the default portfolio: the strategist's decision
    over = cli.json("accounts", "overview")["accounts"]
    assert [(r["alias"], r["status"]) for r in over] == [("isa", "STOPPED"), ("off", None), ("pension", "STOPPED")]
    assert all(r["drift"]["verdict"] in ("rebalance needed", "within thresholds") for r in over if r["status"])


def test_with_no_accounts_rows_the_environment_account_runs_as_before(cli):
    SimAccount.demo(cli.account)
    assert cli("targets", "set", str(DEMO_TARGETS)).returncode == 0
    res = cli("run", "--max-phase", "2", "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout)["run"]["account"] == "demo"
    res = cli("run", "--account", "demo", "--max-phase", "2", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["run"]["account"] == "demo"
    assert "no accounts" in cli("accounts", "list").stdout
    over = cli.json("accounts", "overview")["accounts"]
    assert [(r["alias"], r["status"]) for r in over] == [("demo", "STOPPED")]


def test_a_stored_accounts_killed_run_resumes_without_naming_the_account(cli, tmp_path):
    assert cli("targets", "set", str(DEMO_TARGETS)).returncode == 0
    SimAccount.demo(tmp_path / "isa.json")
    assert cli("accounts", "add", "isa", "--sim-account", str(tmp_path / "isa.json")).returncode == 0
    killed = cli("run", "--account", "isa", crash_at="checkpoint@3")
    assert killed.returncode != 0
    run_id = _rows(cli, "runs")[0]["id"]
    res = cli("resume", run_id, "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    done = json.loads(res.stdout)["run"]
    assert done["account"] == "isa" and done["status"] == "SUCCEEDED"

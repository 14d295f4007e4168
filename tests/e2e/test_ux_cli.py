"""Issue 21 through the real command line: what a crash looks like to an operator (SQLite)."""

from __future__ import annotations

import json
import signal

import pytest

from adapters.sim.account import SimAccount
from tests.e2e.cli_helpers import DEMO_TARGETS, Cli


@pytest.fixture
def cli(tmp_path):
    url = f"sqlite:///{tmp_path / 'ux.db'}"
    c = Cli(tmp_path, url, REBALANCE_ACCOUNT_ALIAS="acct", COLUMNS="120")
    assert c("targets", "set", str(DEMO_TARGETS)).returncode == 0
    SimAccount.demo(c.account)
    return c


def _killed(cli: Cli) -> dict:
    killed = cli("run", crash_at="checkpoint@3")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    [run] = cli.json("status")["runs"]
    return run


def test_status_after_kill_9_says_the_lease_is_stale_and_what_to_do(cli):
    run = _killed(cli)
    assert run["status"] == "RUNNING" and run["lease"]["state"] == "stale" and run["lease"]["dead"] is True
    assert run["lease"]["holder"] == run["lease_owner"] and run["lease"]["actions"] == ["resume", "force", "abort"]
    text = cli("status")
    assert text.returncode == 0
    line = next(x for x in text.stdout.splitlines() if x.startswith(f"{run['id']}:"))
    assert f"stale lease: holder {run['lease_owner']} last seen" in line and "resume / force / abort" in line
    table = text.stdout[: text.stdout.index(line)]
    assert max(len(x) for x in table.splitlines()) <= 120  # the terminal's width ($COLUMNS), not a fixed 200


# ---------------------------------------------------------------------------- item 5: quiet surprises
def test_reading_a_mistyped_sqlite_path_creates_nothing_and_says_so(cli, tmp_path):
    missing = tmp_path / "typo_dir" / "rebalanse.db"
    for args in (["status"], ["history"], ["show", "x"], ["diagram", "--run", "x"]):
        res = cli("--db", f"sqlite:///{missing}", *args)
        assert res.returncode == 2, (args, res.stderr)
        assert f"no database at {missing}" in res.stderr and "creates none" in res.stderr
    assert not missing.parent.exists()


def test_a_bare_path_for_db_is_refused_with_the_url_to_write(cli):
    res = cli("--db", "rebalance.db", "status")
    assert res.returncode == 9
    assert "sqlite:///rebalance.db" in res.stderr and "Traceback" not in res.stderr


def test_the_default_database_points_at_the_demo_database(tmp_path):
    c = Cli(tmp_path, "", REBALANCE_ACCOUNT_ALIAS="acct")
    c.env.pop("REBALANCE_DATABASE_URL")
    (tmp_path / "var").mkdir()
    assert c("--db", "sqlite:///var/demo.db", "targets", "set", str(DEMO_TARGETS)).returncode == 0
    missing = c("status")  # no rebalance.db: refused, naming the demo's database
    assert missing.returncode == 2 and "add --db sqlite:///var/demo.db" in missing.stderr
    assert not (tmp_path / "rebalance.db").exists()
    assert c("targets", "set", str(DEMO_TARGETS)).returncode == 0  # a write creates the default database
    for cmd in ("status", "history"):
        res = c(cmd)
        assert res.returncode == 0 and "add --db sqlite:///var/demo.db" in res.stderr, res.stderr


def test_run_with_gemini_and_no_key_refuses_up_front(cli):
    env = {k: "" for k in ("GOOGLE_API_KEY", "GEMINI_API_KEY")}
    res = cli("run", "--planner", "gemini", **env)
    assert res.returncode == 2 and "planner gemini needs an API key" in res.stderr
    assert cli.json("status")["runs"] == [] and cli.json("history")["history"] == []


def test_show_unknown_json_prints_a_json_error_and_version(cli):
    res = cli("show", "nope", "--json")
    assert res.returncode == 3
    body = json.loads(res.stdout)
    assert body["error"] == "RunNotFound" and "nope" in body["message"] and body["exit_code"] == 3
    v = cli("--version")
    assert v.returncode == 0 and v.stdout.startswith("run_rebalance ")


# ---------------------------------------------------------------------------- item 7: progress, no line twice
def test_progress_per_order_and_each_step_reported_once(cli):
    quiet = cli("--log-level", "WARNING", "run")
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    sent = [x for x in quiet.stderr.splitlines() if x.startswith("… sent ")]
    filled = [x for x in quiet.stderr.splitlines() if x.startswith("… filled ")]
    assert len(sent) >= 2 and len(filled) == len(sent)  # one line per order sent and per fill
    assert any("order no" in x for x in sent) and not any(".0" in x.split("@")[-1] for x in filled)
    SimAccount.demo(cli.account)
    loud = cli("--log-level", "INFO", "run")
    assert loud.returncode == 0, loud.stderr[-2000:]
    lines = loud.stderr.splitlines()
    steps = [x.split("rebalance.engine: ", 1)[1] for x in lines if " -> " in x and "rebalance.engine: " in x]
    assert len(steps) >= 8 and len(steps) == len(set(steps))
    for step in ("planning sells", "executing", "reading the account"):  # the log says these: no progress echo
        assert not any(x.startswith("… ") and step in x for x in lines)


# ---------------------------------------------------------------------------- item 3: the crash in the timeline
def test_kill_and_resume_leave_an_interruption_in_the_timeline(cli):
    run = _killed(cli)
    resumed = cli("resume", run["id"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    view = cli.json("show", run["id"])
    [gap] = view["interruptions"]
    assert gap["died"] is True and gap["previous_holder"] == run["lease_owner"]
    assert gap["resumed_by"] != run["lease_owner"] and gap["after_seq"] == 3 and gap["gap_s"] >= 0
    assert gap["message"].startswith(f"interrupted in {run['state']}: process died (holder {run['lease_owner']})")
    # the step after the gap is timed from its resume, not from the last step before the crash
    step = next(t for t in view["transitions"] if t["seq"] == 4)
    assert step["duration_ms"] is not None and step["duration_ms"] < 30_000
    text = cli("show", run["id"]).stdout
    assert "⚡ after step 3: interrupted in" in text and "resumed by" in text

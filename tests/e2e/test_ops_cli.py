"""The operating commands through the real command line (SQLite): bad input is one clear line,
a non-zero exit and no change; run-if-due; SIGTERM to a real scheduler mid-run; JSON logs carry
the run id on every line of a run, library lines included; status shows age and lease holder."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from adapters.db import claims
from adapters.db.connect import Database
from adapters.sim.account import SimAccount
from tests.e2e.cli_helpers import DEMO_TARGETS, ROOT, Cli

DUE_NOW = "2026-11-25T10:00:05+09:00"  # a Wednesday in session; cron "0 10 * * *" is due


@pytest.fixture
def cli(tmp_path):
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'ops.db'}")
    SimAccount.demo(c.account)
    assert c("targets", "set", str(DEMO_TARGETS)).returncode == 0
    return c


def claimed(cli: Cli) -> list[claims.Claim]:
    db = Database(cli.db_url)
    try:
        return claims.claims(db.engine)
    finally:
        db.dispose()


def one_line_error(res: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_bad_schedule_input_is_one_line_and_starts_nothing(cli):
    one_line_error(cli("run-if-due", "--cron", "61 10 * * 1-5", "--now", DUE_NOW), 2, "does not parse")
    one_line_error(cli("schedule", "--cron", "every morning"), 2, "cron expression 'every morning'")
    one_line_error(cli("schedule", "--cron", "0 10 * * *", "--tz", "Nowhere/City"), 2, "unknown time zone")
    one_line_error(cli("run-if-due", "--cron", "0 10 * * *", "--now", "tomorrow"), 2, "--now")
    real = cli("run-if-due", "--cron", "0 10 * * *", "--now", DUE_NOW, REBALANCE_BROKER="kis")
    one_line_error(real, 2, "--now is for the simulated brokers only")
    assert cli.json("history")["history"] == [] and claimed(cli) == []


def test_run_if_due(cli):
    cli.env["REBALANCE_SIM_SESSION"] = "krx"  # the simulator keeps the KRX session: the scheduler follows it
    res = cli("run-if-due", "--cron", "0 10 * * *", "--now", "2026-11-25T11:00:00+09:00")
    assert res.returncode == 0 and "not due" in res.stdout
    res = cli("run-if-due", "--cron", "0 10 * * *", "--now", "2026-10-09T10:00:00+09:00")
    assert res.returncode == 0 and "not due" in res.stdout and "not a KRX trading day" in res.stdout
    ran = cli("run-if-due", "--cron", "0 10 * * *", "--now", DUE_NOW, "--json")
    assert ran.returncode == 0, ran.stderr
    data = json.loads(ran.stdout)
    assert data["outcome"] == "ran" and data["run"]["status"] == "SUCCEEDED"
    again = cli("run-if-due", "--cron", "0 10 * * *", "--now", DUE_NOW, "--json")  # a timer firing twice
    assert again.returncode == 0 and json.loads(again.stdout)["outcome"] == "claimed"
    assert len(cli.json("history")["history"]) == 1
    [claim] = claimed(cli)
    assert claim.run_id == data["run"]["id"] and claim.outcome == "SUCCEEDED"


def test_an_always_open_simulated_market_runs_a_due_time_on_a_sunday_night(cli):
    sunday_night = "2026-12-06T22:30:00+09:00"
    closed = cli("run-if-due", "--cron", "30 22 * * *", "--now", sunday_night, REBALANCE_SIM_SESSION="krx")
    assert closed.returncode == 0 and "not a KRX trading day" in closed.stdout  # krx session: closed
    ran = cli("run-if-due", "--cron", "30 22 * * *", "--now", sunday_night, "--json")  # always-open
    assert ran.returncode == 0, ran.stderr
    data = json.loads(ran.stdout)
    assert data["outcome"] == "ran" and data["run"]["status"] == "SUCCEEDED"
    assert data["run"]["id"].startswith("20261206-")  # the run lives on the named instant's clock
    placed = SimAccount(cli.account).orders()
    assert placed and all(o["placed_at"].startswith("2026-12-06T13:3") for o in placed)  # 22:3x KST


def test_operator_mistakes_are_refused_and_change_nothing(cli):
    # (every refused edge, blank reasons and retry refusals are covered in tests/integration)
    started = cli("run", "--max-phase", "5", "--json", crash_at="checkpoint:SELL_VALIDATED")
    assert started.returncode == -signal.SIGKILL
    [run] = cli.json("status")["runs"]
    rid = run["id"]
    one_line_error(
        cli("force", rid, "BOUGHT", "--reason", "skip ahead"),
        2,
        "cannot force a run from SELL_VALIDATED to BOUGHT",
        "allowed: DRIFT_CHECKED, CASH_FETCHED, SELL_VALIDATED, ABORTED",
    )
    one_line_error(cli("force", rid, "DRIFT_CHECKED"), 2, "force needs a reason")
    one_line_error(cli("retry", rid), 2, "retry needs a reason")
    ok = cli("abort", rid, "--reason", "operator drill", "--actor", "alice")
    assert ok.returncode == 0, ok.stderr
    text = cli("show", rid, COLUMNS="200").stdout  # the timeline names who, why, from and to (one line each)
    assert "abort: SELL_VALIDATED" in text and "alice" in text and "operator drill" in text
    trail = text.count("\n")
    one_line_error(cli("abort", rid, "--reason", "again"), 4, "already ABORTED")
    assert cli("show", rid, COLUMNS="200").stdout.count("\n") == trail
    assert SimAccount(cli.account).orders() == []


def test_kill_switch_file_aborts_the_run_before_any_order(cli):
    (cli.tmp / "KILL").write_text("")
    res = cli("run", "--json")
    assert res.returncode == 13, res.stderr  # ABORTED
    view = json.loads(res.stdout)
    assert view["run"]["status"] == "ABORTED" and "kill switch is on" in view["run"]["error"]
    assert SimAccount(cli.account).orders() == []


def test_json_logs_carry_the_run_id_on_every_line_of_a_run(cli):
    res = cli("--log-format", "json", "--log-level", "DEBUG", "run", "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    rid = json.loads(res.stdout)["run"]["id"]
    lines = [json.loads(ln) for ln in res.stderr.splitlines() if ln.strip()]  # every line is JSON
    mine = [i for i, ln in enumerate(lines) if ln["run_id"] == rid]
    during = lines[mine[0] : mine[-1] + 1]
    assert all(ln["run_id"] == rid for ln in during), [ln for ln in during if ln["run_id"] != rid][:3]
    libraries = {ln["logger"] for ln in during if not ln["logger"].startswith("rebalance")}
    assert libraries, "expected library lines (e.g. filelock) during the run"
    assert any(
        "finished SUCCEEDED" in ln["message"] and "cost" in ln["message"] and "->" in ln["message"]
        for ln in during
        if ln["level"] == "INFO"
    )


def test_sigterm_finishes_the_step_checkpoints_and_exits_0_then_resume_finishes(cli):
    acct = SimAccount(cli.account)
    acct.set_faults(partial_fill={"411420": 0.5}, fill_remainder_after_s=3)  # the sell step takes ~3 s
    env = dict(cli.env, REBALANCE_FILL_TIMEOUT_S="20")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "run_rebalance.py"),
            "schedule",
            "--cron",
            "0 10 * * *",
            "--now",
            DUE_NOW,
            "--poll-s",
            "1",
        ],
        env=env,
        cwd=cli.tmp,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen: list[str] = []
    validated = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if "order sell 411420" in line and "accepted" in line:  # its fill takes ~3 s from here
                validated.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert validated.wait(60), "".join(seen)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    took = time.monotonic() - t0
    reader.join(5)
    log = "".join(seen)
    assert rc == 0, log[-3000:]
    assert took < 15, took
    assert "SIGTERM received" in log and "stop requested" in log and "scheduler stopped" in log
    [run] = cli.json("status")["runs"]
    assert (run["status"], run["state"], run["lease_owner"]) == ("RUNNING", "SOLD", None), log[-4000:]
    sold = [o for o in acct.orders() if o["side"] == "sell"]
    assert (
        sold
        and all(o["remaining"] == 0 for o in sold)
        and not [o for o in acct.orders() if o["side"] == "buy"]
    )
    res = cli("resume", run["id"], "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    view = json.loads(res.stdout)
    assert view["run"]["status"] == "SUCCEEDED"
    keys = [(o["side"], o["ticker"]) for o in acct.orders()]
    assert len(keys) == len(set(keys))  # nothing sent twice


def test_status_shows_state_age_and_lease_holder(cli):
    cli("run", crash_at="checkpoint:DRIFT_CHECKED")
    res = cli("status", COLUMNS="200")  # wide enough that no header is cut
    assert res.returncode == 0
    for column in ("state", "status", "age", "lease holder"):
        assert column in res.stdout
    assert "DRIFT_CHECKED" in res.stdout and "RUNNING" in res.stdout

"""The scheduler's automatic buy-side recovery with the XKRX calendar, a named fake clock and the
kill switch read from the settings (issue 22), on SQLite and PostgreSQL: a PARTIAL run ending at
15:25 on a Friday waits through the closing and the weekend, sends nothing while the kill switch
is on, and is recovered on Monday inside the session."""

from __future__ import annotations

import json
from datetime import datetime

from adapters.bootstrap import kill_switch_on
from adapters.config import Settings
from adapters.scheduler.calendar import XKRX
from adapters.scheduler.runner import Schedule, Scheduler
from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.models import Targets
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import BuyRecoveryPolicy, EngineSettings
from statemachine.states import RunState, RunStatus
from statemachine.units import KST
from tests.fakes import FakeClock

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
FRIDAY_LATE = datetime(2026, 11, 27, 15, 25, tzinfo=KST)  # a session, five minutes before the close
MONDAY = datetime(2026, 11, 30, 9, 5, tzinfo=KST)
SELLS = {"411420", "360750", "069500"}


def test_the_scheduler_waits_for_the_session_and_the_kill_switch(db, tmp_path):
    clock = FakeClock(FRIDAY_LATE)
    account = SimAccount.demo(tmp_path / "account.json", clock=clock.now)
    buys = {t for w in TARGETS.sub_mp.values() for t in w if t != "CASH"} - SELLS
    account.set_faults(reject={t: "insufficient" for t in buys})

    def engine() -> Engine:
        return Engine(db.unit_of_work, SimulatedBroker(account), lambda name: GreedyPlanner(), clock,
                      EngineSettings(fill_timeout_s=2, fill_poll_s=0.5), owner="sched-engine")

    eng = engine()
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert (run.status, run.state) == (RunStatus.PARTIAL, RunState.BOUGHT)
    account.set_faults(reject={})
    settings = Settings(kill_switch=False, kill_switch_file=str(tmp_path / "KILL"))
    sched = Scheduler(db=db, engine_factory=engine, account="demo", schedule=Schedule.parse("0 10 * * 1-5"),
                      calendar=XKRX, clock=clock, owner="s1",
                      recovery=BuyRecoveryPolicy(enabled=True, delay_s=600, max_attempts=3, window_h=96),
                      kill_switch=lambda: kill_switch_on(settings))
    sent = len(account.orders())

    assert [r.outcome for r in sched.recover_buys(clock.now())] == ["waiting"]  # its delay first
    clock.set(datetime(2026, 11, 27, 15, 40, tzinfo=KST))  # the delay passed, the market closed
    [closed] = sched.recover_buys(clock.now())
    assert closed.outcome == "closed" and "waits for the market session" in closed.message
    clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=KST))  # Saturday
    assert [r.outcome for r in sched.recover_buys(clock.now())] == ["closed"]
    clock.set(MONDAY)
    (tmp_path / "KILL").write_text("stop")
    [killed] = sched.recover_buys(clock.now())
    assert killed.outcome == "killed" and str(tmp_path / "KILL") in killed.message
    assert len(account.orders()) == sent  # nothing sent while closed or killed
    with db.unit_of_work() as uow:
        assert [t for t in uow.transitions(run.id) if t.trigger == "retry_buys"] == []  # nothing counted
        assert uow.get_run(run.id).status is RunStatus.PARTIAL
    (tmp_path / "KILL").unlink()
    [ran] = sched.recover_buys(clock.now())
    assert ran.outcome == "ran" and ran.run.status is RunStatus.SUCCEEDED
    orders = [(o["side"], o["ticker"]) for o in account.orders()]
    assert len(orders) == len(set(orders)) and {t for s, t in orders if s == "sell"} == SELLS
    with db.unit_of_work() as uow:
        [retried] = [t for t in uow.transitions(run.id) if t.trigger == "retry_buys"]
    assert retried.actor == "auto-recovery" and retried.at == MONDAY
    off = Scheduler(db=db, engine_factory=engine, account="demo", schedule=Schedule.parse("0 10 * * 1-5"),
                    calendar=XKRX, clock=clock, owner="s2")
    assert off.recover_buys(clock.now()) == []  # off by default

"""The scheduler on a real database with the XKRX calendar and a fake clock: trading days and
session hours, one run per due time even with two schedulers, no overlap, resuming interrupted
runs, and a stop request that leaves the run at a checkpoint."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta

import pytest

from adapters.db import claims
from adapters.scheduler.calendar import XKRX, MarketStatus
from adapters.scheduler.runner import Schedule, Scheduler
from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.models import Targets
from statemachine.settings import EngineSettings
from statemachine.states import RunState, RunStatus
from statemachine.units import KST
from tests.fakes import FakeClock

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
DUE = datetime(2026, 11, 25, 10, 0, tzinfo=KST)  # a Wednesday, a KRX session


@pytest.fixture
def clock():
    """One time for the scheduler, its engines and the simulated account: each test names the
    instant it acts at with ``clock.set(...)``."""
    return FakeClock(DUE)


@pytest.fixture
def account(tmp_path, clock):
    return SimAccount.demo(tmp_path / "account.json", clock=clock.now)


@pytest.fixture
def targets_set(db):
    with db.unit_of_work() as uow:
        uow.add_targets(TARGETS, DUE - timedelta(days=1))
        uow.commit()


class Hooks:
    def __init__(self, at: str | None = None, action=None) -> None:
        self.at, self.action = at, action

    def point(self, name: str) -> None:
        if name == self.at and self.action:
            self.action()


def make_scheduler(db, account, clock, owner="s1", cron="0 10 * * 1-5", calendar=XKRX, hooks=None):
    engines: list[Engine] = []

    def factory() -> Engine:
        eng = Engine(
            db.unit_of_work,
            SimulatedBroker(account),
            lambda name: _greedy(),
            clock,
            EngineSettings(fill_timeout_s=2, fill_poll_s=0.5),
            owner=f"{owner}-engine",
            hooks=hooks,
        )
        engines.append(eng)
        return eng

    s = Scheduler(
        db=db,
        engine_factory=factory,
        account="demo",
        schedule=Schedule.parse(cron),
        calendar=calendar,
        clock=clock,
        owner=owner,
    )
    s.engines = engines  # type: ignore[attr-defined]
    return s


def _greedy():
    from statemachine.planner_greedy import GreedyPlanner

    return GreedyPlanner()


def runs(db):
    with db.unit_of_work() as uow:
        return uow.find_runs(account="demo", limit=100)


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 9, 24, 10, 0, tzinfo=KST),  # Chuseok (Thursday)
        datetime(2026, 9, 25, 10, 0, tzinfo=KST),  # Chuseok (Friday)
        datetime(2026, 10, 9, 10, 0, tzinfo=KST),  # Hangul Day (Friday)
        datetime(2026, 11, 28, 10, 0, tzinfo=KST),  # a Saturday
    ],
)
def test_no_run_on_a_holiday_or_weekend(db, account, targets_set, at, clock):
    s = make_scheduler(db, account, clock, cron="0 10 * * *")
    result = s.tick(clock.set(at))
    assert result.outcome == "closed" and "not a KRX trading day" in result.message
    assert runs(db) == [] and claims.claims(db.engine) == [] and account.orders() == []


def test_no_run_outside_the_session(db, account, targets_set, clock):
    s = make_scheduler(db, account, clock, cron="30 8,16 * * *")
    for at in (datetime(2026, 11, 25, 8, 30, tzinfo=KST), datetime(2026, 11, 25, 16, 30, tzinfo=KST)):
        result = s.tick(clock.set(at))
        assert result.outcome == "closed" and "outside the 2026-11-25 session" in result.message
    assert runs(db) == []


def test_not_due_between_cron_times(db, account, targets_set, clock):
    s = make_scheduler(db, account, clock)
    result = s.tick(clock.set(DUE + timedelta(minutes=11)))  # past the 10-minute grace
    assert result.outcome == "not_due" and "2026-11-26 10:00:00 KST" in result.message
    assert runs(db) == []


def test_a_calendar_that_cannot_answer_starts_nothing(db, account, targets_set, clock):
    class Broken:
        def status(self, at):
            return MarketStatus(False, False, "the XKRX calendar could not answer: boom")

    result = make_scheduler(db, account, clock, calendar=Broken()).tick(clock.set(DUE))
    assert result.outcome == "closed" and "could not answer" in result.message
    assert runs(db) == []


def test_a_due_run_starts_once_with_two_schedulers(db, account, targets_set, clock):
    a, b = make_scheduler(db, account, clock, owner="alpha"), make_scheduler(db, account, clock, owner="beta")
    barrier = threading.Barrier(2)
    results = {}

    def go(s):
        barrier.wait()
        results[s.owner] = s.tick(clock.set(DUE + timedelta(seconds=5)))

    threads = [threading.Thread(target=go, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    outcomes = sorted(r.outcome for r in results.values())
    assert outcomes.count("ran") == 1 and set(outcomes) <= {"ran", "claimed", "busy"}, results
    [run] = runs(db)
    assert run.status is RunStatus.SUCCEEDED and run.actor == "scheduler"
    [claim] = claims.claims(db.engine)
    assert claim.run_id == run.id and claim.outcome == "SUCCEEDED"
    assert claim.claimed_by == next(o for o, r in results.items() if r.outcome == "ran")
    # later ticks in the same slot, from either scheduler, do nothing
    assert a.tick(clock.set(DUE + timedelta(minutes=1))).outcome in ("not_due", "claimed")
    assert b.tick(clock.set(DUE + timedelta(minutes=2))).outcome in ("not_due", "claimed")
    assert len(runs(db)) == 1


def test_a_due_run_is_skipped_while_another_is_active(db, account, targets_set, caplog, clock):
    other = make_scheduler(db, account, clock).engine_factory()
    blocking = other.start(account="demo", targets=TARGETS)
    s = make_scheduler(db, account, clock, owner="s2")  # the run's lease is held, live, by s1's engine
    with caplog.at_level("WARNING", logger="rebalance.scheduler"):
        result = s.tick(clock.set(DUE))
    assert result.outcome == "busy" and blocking.id in result.message
    assert any("skipped" in r.getMessage() and blocking.id in r.getMessage() for r in caplog.records)
    assert [r.id for r in runs(db)] == [blocking.id] and claims.claims(db.engine) == []


def test_stop_request_leaves_the_run_at_a_checkpoint_and_resume_finishes_it(db, account, targets_set, clock):
    holder: list[Scheduler] = []
    s = make_scheduler(db, account, clock, hooks=Hooks("checkpoint:SELL_VALIDATED", lambda: holder[0].request_stop())
    )
    holder.append(s)
    result = s.tick(clock.set(DUE))
    assert result.outcome == "stopped"
    run = result.run
    assert (
        run.status is RunStatus.RUNNING and run.state is RunState.SELL_VALIDATED and run.lease_owner is None
    )
    assert account.orders() == []  # stopped before the order step
    assert "stopped at checkpoint SELL_VALIDATED" in claims.claims(db.engine)[0].outcome
    # a new scheduler resumes it when it starts (the session is open)
    fresh = make_scheduler(db, account, clock, owner="s2")
    [done] = fresh.resume_interrupted(clock.set(DUE + timedelta(minutes=1)))
    assert done.id == run.id and done.status is RunStatus.SUCCEEDED


def test_interrupted_runs_wait_for_the_session(db, account, targets_set, clock):
    holder: list[Scheduler] = []
    s = make_scheduler(db, account, clock, hooks=Hooks("checkpoint:DRIFT_CHECKED", lambda: holder[0].request_stop()))
    holder.append(s)
    run = s.tick(clock.set(DUE)).run
    assert run.status is RunStatus.RUNNING
    fresh = make_scheduler(db, account, clock, owner="s2")
    assert fresh.resume_interrupted(clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=KST))) == []  # Saturday
    assert runs(db)[0].status is RunStatus.RUNNING
    # the next due time in session resumes it first, then skips nothing: the account is free again
    result = fresh.tick(clock.set(datetime(2026, 11, 30, 10, 0, tzinfo=KST)))
    statuses = {r.id: r.status for r in runs(db)}
    assert statuses[run.id] is RunStatus.SUCCEEDED
    assert result.outcome == "ran" and result.run.status is RunStatus.NOT_NEEDED


def test_serve_logs_the_next_due_time_and_stops_promptly_when_idle(db, account, targets_set, caplog, clock):
    s = make_scheduler(db, account, clock)
    s.clock.advance(3600)  # 11:00 KST: nothing due until tomorrow
    clock.sleep = lambda seconds: time.sleep(0.01)  # idle in real time, the named instant stays put
    with caplog.at_level("INFO", logger="rebalance.scheduler"):
        t = threading.Thread(target=s.serve, kwargs={"poll_s": 30})
        t.start()
        for _ in range(100):
            if any("next run due at" in r.getMessage() for r in caplog.records):
                break
            time.sleep(0.05)
        s.request_stop()
        t.join(5)
    assert not t.is_alive()
    assert any("next run due at 2026-11-26 10:00:00 KST" in r.getMessage() for r in caplog.records)
    assert runs(db) == []

"""The scheduler: starts a rebalance at the times a cron expression names (in Asia/Seoul by
default), only on KRX trading days inside the session, one run per due time and account.

A due time is a cron fire time ``d``; it may start while ``d <= now < d + grace``. For each due
time, in order:

1. the calendar must say the session is open now (it fails closed: no answer, no run);
2. interrupted runs of the account (RUNNING, no live lease holder) are resumed first;
3. an active run (RUNNING or BLOCKED) means the due run is skipped, with a log line;
4. the slot is claimed in ``schedule_claims`` (unique per account and due time), so with two
   schedulers only one starts it; the loser logs who has it;
5. the run is started and driven; its id and outcome are written on the claim.

Steps 3-5 are the application's :func:`statemachine.application.scheduled.scheduled_start`.

With the automatic buy-side recovery on (``REBALANCE_BUY_RECOVERY_AUTO``), every pass of the loop
(and every ``run-if-due``) also retries the buy side of the account's recent PARTIAL runs whose
proceeds sit in cash, after the configured delay, at most N times, only inside the session (the
same calendar; outside it the attempt waits) and never with the kill switch on
(:func:`statemachine.application.scheduled.recover_buy_sides`).

:meth:`Scheduler.serve` loops until :meth:`Scheduler.request_stop` (the CLI calls it on SIGTERM
and SIGINT): the engine finishes the step it is in, commits its checkpoint and returns, leaving
the run RUNNING for ``resume`` (or for the next scheduler start).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

from adapters.scheduler.calendar import MarketCalendar
from adapters.scheduler.notify import notify_buy_recovery_exhausted
from statemachine.application.scheduled import Slot, TickResult, recover_buy_sides, scheduled_start
from statemachine.buy_recovery import RECOVERY_TRIGGER
from statemachine.engine import Engine
from statemachine.errors import DomainError, LeaseHeld, RebalanceError
from statemachine.ports import Clock, Store
from statemachine.records import RunRecord
from statemachine.settings import BuyRecoveryPolicy

log = logging.getLogger("rebalance.scheduler")


class ScheduleError(DomainError):
    """A cron expression that does not parse, an unknown time zone, a bad --now."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone '{name}' (use an IANA name such as Asia/Seoul)", field="tz"
        ) from None


@dataclass(frozen=True)
class Schedule:
    cron: str
    tz: ZoneInfo
    grace: timedelta = timedelta(minutes=10)

    @classmethod
    def parse(cls, cron: str | None, tz: str = "Asia/Seoul", grace_s: float = 600.0) -> Schedule:
        if not cron or not cron.strip():
            raise ScheduleError("no schedule: give --cron or set REBALANCE_SCHEDULE_CRON", field="cron")
        cron = " ".join(cron.split())
        zi = zone(tz)
        try:
            croniter(cron, datetime(2026, 1, 1, tzinfo=zi))  # any instant: only the syntax is checked
        except (CroniterError, ValueError, KeyError) as exc:
            raise ScheduleError(f"cron expression '{cron}' does not parse: {exc}", field="cron") from None
        if not croniter.is_valid(cron):
            raise ScheduleError(f"cron expression '{cron}' does not parse", field="cron")
        return cls(cron=cron, tz=zi, grace=timedelta(seconds=grace_s))

    def next_after(self, t: datetime) -> datetime:
        """The first fire time strictly after ``t``."""
        nxt: datetime = croniter(self.cron, t.astimezone(self.tz)).get_next(datetime)
        return nxt

    def latest(self, t: datetime) -> datetime:
        """The last fire time at or before ``t``."""
        probe = t.astimezone(self.tz) + timedelta(seconds=1)
        prev: datetime = croniter(self.cron, probe).get_prev(datetime)
        return prev

    def due(self, now: datetime) -> datetime | None:
        """The fire time that may start now (within the grace period), or None."""
        d = self.latest(now)
        return d if d <= now < d + self.grace else None


class Scheduler:
    def __init__(
        self,
        *,
        db: Store,
        engine_factory: Callable[[], Engine],
        account: str,
        schedule: Schedule,
        calendar: MarketCalendar,
        clock: Clock,
        owner: str,
        max_phase: int = 5,
        planner: str = "auto",
        recovery: BuyRecoveryPolicy | None = None,
        kill_switch: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.db = db
        self.engine_factory = engine_factory
        self.account = account
        self.schedule = schedule
        self.calendar = calendar
        self.clock = clock
        self.owner = owner
        self.max_phase = max_phase
        self.planner = planner
        self.recovery = recovery or BuyRecoveryPolicy()
        self.kill_switch = kill_switch
        self._stop = threading.Event()
        self._engine: Engine | None = None
        self._handled: set[datetime] = set()

    # ---------------------------------------------------------------- stopping
    def request_stop(self) -> None:
        """Stop after the current step (safe from a signal handler)."""
        self._stop.set()
        if self._engine is not None:
            self._engine.request_stop()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _engine_for_this(self) -> Engine:
        eng = self.engine_factory()
        self._engine = eng
        if self.stopping:
            eng.request_stop()
        return eng

    # ---------------------------------------------------------------- one decision
    def resume_interrupted(self, now: datetime) -> list[RunRecord]:
        """Resume the account's interrupted runs, if the session is open (fails closed)."""
        eng = self._engine_for_this()
        waiting = eng.interrupted()
        if not waiting:
            return []
        st = self.calendar.status(now)
        if not st.open:
            log.warning(
                "%d interrupted run(s) (%s) wait: %s; they resume at the next due time in session, or "
                "with 'resume'",
                len(waiting),
                ", ".join(r.id for r in waiting),
                st.reason,
            )
            return []
        done = []
        for r in waiting:
            if self.stopping:
                break
            try:
                log.info("resuming interrupted run %s at %s", r.id, r.state, extra={"run_id": r.id})
                done.append(eng.resume(r.id))
            except LeaseHeld as exc:
                log.info("not resuming %s: %s", r.id, exc.message, extra={"run_id": r.id})
            except RebalanceError as exc:
                log.error("resuming %s failed: %s", r.id, exc.message, extra={"run_id": r.id})
        return done

    def recover_buys(self, now: datetime) -> list[TickResult]:
        """One pass of the automatic buy-side recovery (nothing unless it is switched on)."""
        if not self.recovery.enabled or self.stopping:
            return []

        def market_open(at: datetime) -> tuple[bool, str]:
            st = self.calendar.status(at)
            return st.open, st.reason

        self._resume_interrupted_recoveries(now)
        results = recover_buy_sides(self.db.unit_of_work, self._engine_for_this, account=self.account, now=now,
                                    policy=self.recovery, market_open=market_open, kill_switch=self.kill_switch,
                                    on_exhausted=notify_buy_recovery_exhausted)
        for r in results:
            if r.outcome in ("ran", "stopped"):
                log.info("%s", r.message)
        return results

    def _resume_interrupted_recoveries(self, now: datetime) -> None:
        """A buy-side recovery left RUNNING (its process killed, a refusal as "market closed") is
        resumed on the next pass inside the session, not only at the next due time."""
        eng = self._engine_for_this()
        waiting = []
        for r in eng.interrupted():
            with self.db.unit_of_work() as uow:
                if any(t.trigger == RECOVERY_TRIGGER for t in uow.transitions(r.id)):
                    waiting.append(r)
        if not waiting or not self.calendar.status(now).open:
            return
        for r in waiting:
            if self.stopping:
                return
            try:
                log.info("resuming the interrupted buy-side recovery of run %s at %s", r.id, r.state,
                         extra={"run_id": r.id})
                eng.resume(r.id)
            except LeaseHeld as exc:
                log.info("not resuming %s: %s", r.id, exc.message, extra={"run_id": r.id})
            except RebalanceError as exc:
                log.error("resuming %s failed: %s", r.id, exc.message, extra={"run_id": r.id})

    def tick(self, now: datetime | None = None) -> TickResult:
        """Decide once: start the run that is due now, or say why not."""
        now = now or self.clock.now()
        due = self.schedule.due(now)
        if due is None:
            nxt = self.schedule.next_after(now)
            return TickResult("not_due", f"not due; next due at {_kst(nxt, self.schedule)}")
        if due in self._handled:
            nxt = self.schedule.next_after(now)
            return TickResult(
                "not_due",
                f"the run due at {_kst(due, self.schedule)} was handled; next due at "
                f"{_kst(nxt, self.schedule)}",
            )
        self._handled.add(due)
        return self.fire(due, now)

    def fire(self, due: datetime, now: datetime) -> TickResult:
        when = _kst(due, self.schedule)
        st = self.calendar.status(now)
        if not st.open:
            log.info("run due at %s skipped: %s", when, st.reason)
            return TickResult("closed", f"not due: {st.reason}", due)
        self.resume_interrupted(now)
        if self.stopping:
            return TickResult("stopped", "stop requested", due)
        return scheduled_start(self.db.unit_of_work, self._engine_for_this, Slot(self.account, due, when),
                               owner=self.owner, now=now, max_phase=self.max_phase, planner=self.planner)

    # ---------------------------------------------------------------- the loop
    def serve(self, poll_s: float = 30.0) -> None:
        """Run until a stop is requested: resume interrupted runs, then start each due run."""
        log.info(
            "scheduler %s for account %s: cron '%s' (%s), grace %ss",
            self.owner,
            self.account,
            self.schedule.cron,
            self.schedule.tz.key,
            int(self.schedule.grace.total_seconds()),
        )
        self.resume_interrupted(self.clock.now())
        announced: datetime | None = None
        while not self.stopping:
            self.recover_buys(self.clock.now())
            now = self.clock.now()
            result = self.tick(now)
            if result.outcome != "not_due":
                log.info("%s", result.message)
            if self.stopping:
                break
            now = self.clock.now()
            nxt = self.schedule.next_after(now)
            if nxt != announced:
                log.info("next run due at %s (in %s)", _kst(nxt, self.schedule), _span(nxt - now))
                announced = nxt
            self._idle(max(0.05, min(poll_s, (nxt - now).total_seconds())))
        log.info("scheduler stopped")

    def _idle(self, seconds: float) -> None:
        """Wait up to ``seconds`` on the scheduler's clock, in short slices, returning early once a
        stop is requested. (Time is the clock's: a timed wait on a lock would measure it on the
        system's monotonic clock instead, which a faked clock does not move.)"""
        end = self.clock.monotonic() + seconds
        while not self.stopping:
            left = end - self.clock.monotonic()
            if left <= 0:
                return
            self.clock.sleep(min(left, 0.25))


def _kst(t: datetime, schedule: Schedule) -> str:
    return f"{t.astimezone(schedule.tz):%Y-%m-%d %H:%M:%S %Z}"


def _span(d: timedelta) -> str:
    s = max(0, int(d.total_seconds()))
    h, rem = divmod(s, 3600)
    return f"{h}h{rem // 60:02d}m" if h else f"{rem // 60}m{rem % 60:02d}s"

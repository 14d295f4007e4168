"""Every enabled account in one process (issue 19, the single-machine default on SQLite): one
:class:`~adapters.scheduler.runner.Scheduler` per account, ticked one after the other.

Isolation: an account's failure is its own. Building its engine (an unset credentials variable, a
credentials file readable by others), its broker's outage or rate limit, a BLOCKED run, or any
unexpected exception is logged with the account's alias and recorded in :attr:`errors`; the
next account is ticked as if nothing happened. An account that could not be built is tried
again on the next pass (the file's mode may have been fixed).

The accounts are read again on every pass: an account added, enabled, disabled or changed while
the process runs is picked up without a restart.

Accounts are ticked in turn, so a run that takes long delays the next account's start; a due
time still starts only within its grace period (``REBALANCE_SCHEDULE_GRACE_S``). Many accounts
are the workers' job (PostgreSQL), not this loop's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from adapters.accounts_runtime import build_account_app
from adapters.bootstrap import App, follows_krx_session, kill_switch_on
from adapters.config import Settings
from adapters.db.accounts import AccountRepository
from adapters.db.connect import Database
from adapters.runtime import lease_owner
from adapters.scheduler.calendar import XKRX, AlwaysOpen
from adapters.scheduler.runner import Schedule, Scheduler, TickResult
from statemachine.accounts import Account
from statemachine.ports import Clock

log = logging.getLogger("rebalance.scheduler")


@dataclass
class _Entry:
    account: Account
    scheduler: Scheduler | None = None
    error: str | None = None


@dataclass
class AccountsScheduler:
    """The schedulers of every enabled account, over one database and one clock."""

    settings: Settings
    db: Database
    clock: Clock
    max_phase: int = 5
    planner: str | None = None
    cron: str | None = None  # the global schedule (default: REBALANCE_SCHEDULE_CRON)
    tz: str | None = None
    grace_s: float | None = None
    owner: str = field(default_factory=lambda: f"scheduler:{lease_owner()}")
    app_builder: Callable[[Settings, Account, Database, Clock], App] = (
        lambda s, a, db, clock: build_account_app(s, a, db=db, clock=clock))
    entries: dict[str, _Entry] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # alias -> the last error of its last pass
    _stop: threading.Event = field(default_factory=threading.Event)

    # ---------------------------------------------------------------- accounts
    def refresh(self) -> list[str]:
        """Read the enabled accounts; build the schedulers of new or changed ones. The aliases in turn."""
        current = {a.alias: a for a in AccountRepository(self.db.engine, self.clock).list(enabled_only=True)}
        for alias in list(self.entries):
            if alias not in current:
                log.info("account %s is disabled or gone: no longer scheduled", alias)
                del self.entries[alias]
        for alias, account in current.items():
            entry = self.entries.get(alias)
            if entry is None or entry.account != account or entry.scheduler is None:
                self.entries[alias] = self._build(account)
        return list(current)

    def _build(self, account: Account) -> _Entry:
        try:
            a = self.app_builder(self.settings, account, self.db, self.clock)
            s = a.settings
            schedule = Schedule.parse(account.schedule_cron or self.cron or s.schedule_cron, self.tz or s.schedule_tz,
                                      self.grace_s or s.schedule_grace_s)
            sched = Scheduler(db=a.db, engine_factory=a.engine, account=account.alias, schedule=schedule,
                              calendar=XKRX if follows_krx_session(s) else AlwaysOpen(), clock=self.clock,
                              owner=self.owner, max_phase=self.max_phase, planner=self.planner or s.planner,
                              recovery=s.buy_recovery(), kill_switch=lambda: kill_switch_on(s))
        except Exception as exc:  # noqa: BLE001 - one account's set-up never stops the others
            msg = _describe(exc)
            log.error("account %s cannot be scheduled: %s", account.alias, msg)
            self.errors[account.alias] = msg
            return _Entry(account, None, msg)
        if self.stopping:
            sched.request_stop()
        return _Entry(account, sched)

    # ---------------------------------------------------------------- one pass
    def tick_all(self, now: datetime | None = None) -> dict[str, TickResult]:
        """One decision per enabled account, in turn; a failure is that account's result only."""
        results: dict[str, TickResult] = {}
        for alias in self.refresh():
            if self.stopping:
                break
            entry = self.entries[alias]
            if entry.scheduler is None:
                results[alias] = TickResult("error", f"not scheduled: {entry.error}")
                continue
            at = now if now is not None else self.clock.now()  # time passed while the previous one ran
            try:
                entry.scheduler.recover_buys(at)
                result = entry.scheduler.tick(at)
            except Exception as exc:  # noqa: BLE001 - isolation: the next account goes on
                msg = _describe(exc)
                log.error("account %s: %s", alias, msg, extra={"account": alias})
                result = TickResult("error", msg)
            if result.outcome == "error":
                self.errors[alias] = result.message
            elif result.outcome in ("ran", "stopped"):
                self.errors.pop(alias, None)
            results[alias] = result
        return results

    def resume_interrupted(self) -> None:
        for alias in self.refresh():
            sched = self.entries[alias].scheduler
            if sched is None or self.stopping:
                continue
            try:
                sched.resume_interrupted(self.clock.now())
            except Exception as exc:  # noqa: BLE001
                log.error("account %s: resuming interrupted runs failed: %s", alias, _describe(exc))

    # ---------------------------------------------------------------- the loop
    def request_stop(self) -> None:
        self._stop.set()
        for e in self.entries.values():
            if e.scheduler is not None:
                e.scheduler.request_stop()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def serve(self, poll_s: float = 30.0) -> None:
        log.info("scheduler %s for %d account(s)", self.owner, len(self.refresh()))
        self.resume_interrupted()
        while not self.stopping:
            for alias, r in self.tick_all().items():
                if r.outcome != "not_due":
                    log.info("account %s: %s", alias, r.message)
            if self.stopping:
                break
            now = self.clock.now()
            nexts = [e.scheduler.schedule.next_after(now) for e in self.entries.values() if e.scheduler is not None]
            wait = min([poll_s, *((n - now).total_seconds() for n in nexts)])
            self._idle(max(0.05, wait))
        log.info("scheduler stopped")

    def _idle(self, seconds: float) -> None:
        end = self.clock.monotonic() + seconds
        while not self.stopping:
            left = end - self.clock.monotonic()
            if left <= 0:
                return
            self.clock.sleep(min(left, 0.25))


def _describe(exc: BaseException) -> str:
    return getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"

"""The composition root: builds the store, the broker, the planners and the engine from settings.

Entry points (CLI, HTTP API, scheduler) call :func:`bootstrap` and never construct adapters
themselves, so tests swap a URL or a transport, not code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adapters.clock import make_clock
from adapters.config import Settings
from adapters.db.connect import Database, database_url
from adapters.notify import make_notifier
from adapters.runtime import CrashHooks, lease_is_dead, lease_owner
from adapters.sim.account import SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.errors import DomainError, SafetyStop
from statemachine.ports import Broker, Clock, Planner
from statemachine.records import RunRecord


@dataclass
class App:
    settings: Settings
    db: Database
    broker_factory: object
    engine_factory: object
    clock: Clock

    def broker(self) -> Broker:
        return self.broker_factory()  # type: ignore[operator]

    def engine(self, progress=None) -> Engine:
        return self.engine_factory(progress)  # type: ignore[operator]


def make_broker(settings: Settings, clock: Clock) -> Broker:
    if settings.broker == "sim":
        path = Path(settings.sim_account_path)
        if not path.exists():
            SimAccount.demo(path, overwrite=False)
        account = SimAccount(path, clock=clock.now, session=settings.sim_session)
        account.check()  # a file that is not an account: one line (exit 2) before any run starts
        return SimulatedBroker(account, alias=settings.account_alias)
    from adapters.kis.bootstrap import make_kis_broker  # the KIS REST client

    return make_kis_broker(settings, clock)


def make_planners(settings: Settings, clock: Clock | None = None):
    """The planner registry, built once per engine (one Gemini client shared by every attempt).
    Imported lazily: the Gemini SDK is only loaded when a run plans. ``clock`` measures the Gemini
    planner's deadlines."""
    built: dict[str, object] = {}

    def factory(name: str) -> Planner:
        if "f" not in built:
            from adapters.planners import planner_factory

            built["f"] = planner_factory(settings, clock=clock)
        return built["f"](name)  # type: ignore[operator]

    return factory


PLANNER_NAMES = ("auto", "optimal", "greedy", "gemini")


def kill_switch_on(settings: Settings) -> str | None:
    """Why the kill switch is on ("setting" or the file's path), or None. Fails closed: a file that
    cannot be checked counts as on."""
    path = Path(settings.kill_switch_file)
    try:
        on_file = path.exists()
    except OSError:
        on_file = True
    if settings.kill_switch or on_file:
        return "setting" if settings.kill_switch else str(path)
    return None


def kill_switch_guard(settings: Settings):
    """Fails closed: the switch is on if the setting says so or the file exists (or cannot be read)."""

    def guard(run: RunRecord) -> None:
        why = kill_switch_on(settings)
        if why is not None:
            raise SafetyStop(f"kill switch is on ({why}); no new orders, run aborted at its checkpoint",
                             run_id=run.id)

    return guard


def follows_krx_session(settings: Settings) -> bool:
    """Does this broker's market keep the KRX session? The real broker always; a simulator only in
    its ``krx`` session (the default ``always-open`` simulated market trades at any hour)."""
    return settings.broker == "kis" or settings.sim_session == "krx"


def market_description(settings: Settings) -> str:
    """One line for the demo and ``config``: which market the orders go to, and its hours."""
    if settings.broker == "kis":
        return "the KIS broker: orders only inside the KRX session (XKRX calendar, 09:00-15:30 KST)"
    if settings.sim_session == "krx":
        return ("a simulated market keeping the KRX session (XKRX calendar, 09:00-15:30 KST, on the "
                "simulator's clock)")
    return ("a simulated market that is always open (set REBALANCE_SIM_SESSION=krx for the KRX session "
            "rules)")


def live_guards(settings: Settings, clock: Clock) -> list:
    """The market-hours guard (fails closed) wherever the market keeps the KRX session: always for
    the real broker, for a simulator only in its ``krx`` session (on the same clock)."""
    if not follows_krx_session(settings):
        return []
    from adapters.scheduler.calendar import XKRX, market_hours_guard

    return [market_hours_guard(XKRX, clock.now)]


def check_clock_setting(settings: Settings) -> None:
    if settings.clock_at and settings.broker == "kis":
        raise DomainError("REBALANCE_CLOCK_AT (a faked clock) is for the simulated brokers only; the KIS broker "
                          "runs on the real clock", field="clock_at")


def bootstrap(settings: Settings | None = None, *, db_url: str | None = None, clock: Clock | None = None,
              db: Database | None = None) -> App:
    """Build the application. ``clock``: the one clock of this process (default: the system clock,
    or one starting at ``REBALANCE_CLOCK_AT`` for a simulated broker); ``db``: an open database to
    share (several accounts in one process, adapters.accounts_runtime)."""
    settings = settings or Settings()
    check_clock_setting(settings)
    clock = clock or make_clock(settings.clock_at)
    db = db or Database(database_url(db_url or settings.database_url),
                        every_commit=settings.durability == "every-commit")
    es = settings.engine_settings()
    notifier = make_notifier(settings)

    def broker_factory() -> Broker:
        return make_broker(settings, clock)

    def engine_factory(progress=None) -> Engine:
        return Engine(db.unit_of_work, broker_factory(), make_planners(settings, clock), clock, es,
                      hooks=CrashHooks(settings.crash_at), owner=lease_owner(), lease_is_dead=lease_is_dead,
                      guards=[kill_switch_guard(settings), *live_guards(settings, clock)], progress=progress,
                      notifier=notifier)

    return App(settings=settings, db=db, broker_factory=broker_factory, engine_factory=engine_factory, clock=clock)

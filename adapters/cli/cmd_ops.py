"""Operating commands: ``schedule`` (a long-running scheduler), ``run-if-due`` (one decision, for
cron or a systemd timer) and ``retry`` (a new planning round for a run that failed its checks).

They register on the ``app`` of :mod:`adapters.cli.context` (:mod:`adapters.cli.app` imports them).

``--now ISO`` (``schedule`` and ``run-if-due``, simulated brokers only) starts the process clock at
that instant (as ``REBALANCE_CLOCK_AT`` does): the scheduler, the engine, its guards and the
simulator all read it, and real time then passes at the normal rate. Tests and drills use it to
make a due time "now"; the KIS broker always runs on the real clock.

The scheduler follows the broker's market: the XKRX calendar and session for the KIS broker and
for a simulator in its ``krx`` session; the default ``always-open`` simulated market is open at
every instant.
"""

from __future__ import annotations

import logging
import signal
from datetime import datetime, timedelta
from types import FrameType
from typing import Annotated, Any

import typer

from adapters.bootstrap import follows_krx_session, kill_switch_on
from adapters.cli import exit_codes as ec
from adapters.cli.context import JsonOpt, app, emit, err, finish, get_app, handled, out, progress, state
from adapters.clock import parse_instant
from adapters.runtime import lease_owner
from adapters.scheduler.calendar import XKRX, AlwaysOpen
from adapters.scheduler.runner import Schedule, ScheduleError, Scheduler, TickResult
from statemachine.application import commands
from statemachine.errors import DomainError
from statemachine.states import MAX_PHASE
from statemachine.timeline import run_summary

log = logging.getLogger("rebalance.scheduler")
# Errors are one line each (scripts and log collectors read them): no wrapping at the terminal width.
err.soft_wrap = True

CronOpt = Annotated[
    str | None,
    typer.Option("--cron", help='Cron expression, e.g. "0 10 * * 1-5" (default: REBALANCE_SCHEDULE_CRON).'),
]
TzOpt = Annotated[
    str | None,
    typer.Option(
        "--tz", help="Time zone of the cron expression (default: REBALANCE_SCHEDULE_TZ or Asia/Seoul)."
    ),
]
PhaseOpt = Annotated[
    int,
    typer.Option(
        "--max-phase",
        min=1,
        max=5,
        help="; ".join(f"{p.max_phase}: stop in {p.state.value}" for p in MAX_PHASE.values()),
    ),
]
PlannerOpt = Annotated[str | None, typer.Option(help="auto | optimal | greedy | gemini")]
NowOpt = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Tests and drills, simulated broker only: act as if it were this ISO time (with a UTC offset).",
    ),
]
GraceOpt = Annotated[
    float | None,
    typer.Option(
        "--grace-s",
        help="A due time may start this many seconds late (default: REBALANCE_SCHEDULE_GRACE_S, 600).",
    ),
]


def _schedule(cron: str | None, tz: str | None, grace_s: float | None) -> Schedule:
    s = state.settings
    assert s is not None
    return Schedule.parse(cron or s.schedule_cron, tz or s.schedule_tz, grace_s or s.schedule_grace_s)


def _now(now: str | None) -> datetime | None:
    """``--now``: the process clock starts at this instant (simulated brokers only) and then ticks,
    for the scheduler, the engine, its guards and the simulator alike."""
    if now is None:
        return None
    assert state.settings is not None
    try:
        t = parse_instant(now, field="now")
    except DomainError as exc:
        raise ScheduleError(f"--now {exc.message}", field="now") from None
    if state.settings.broker == "kis":
        raise ScheduleError("--now is for the simulated brokers only; the KIS broker runs on the real clock",
                            field="now")
    state.settings = state.settings.model_copy(update={"clock_at": t.isoformat()})
    return t


def _scheduler(schedule: Schedule, max_phase: int, planner: str | None, show_progress: bool) -> Scheduler:
    a = get_app()
    return Scheduler(
        db=a.db,
        engine_factory=lambda: a.engine(progress=progress() if show_progress else None),
        account=a.broker().alias,
        schedule=schedule,
        calendar=XKRX if follows_krx_session(a.settings) else AlwaysOpen(),
        clock=a.clock,
        owner=f"scheduler:{lease_owner()}",
        max_phase=max_phase,
        planner=planner or a.settings.planner,
        recovery=a.settings.buy_recovery(),
        kill_switch=lambda: kill_switch_on(a.settings),
    )


def _accounts_scheduler(cron: str | None, tz: str | None, grace_s: float | None, now: str | None, max_phase: int,
                        planner: str | None) -> Any:
    """With rows in ``accounts``: the scheduler of every enabled account (adapters.scheduler.accounts);
    None for the environment's single-account set-up."""
    from adapters.db.accounts import AccountRepository
    from adapters.scheduler.accounts import AccountsScheduler

    a = get_app()
    if AccountRepository(a.db.engine, a.clock).count() == 0:
        return None
    if cron:
        Schedule.parse(cron, tz or a.settings.schedule_tz)  # a bad --cron is refused before anything runs
    _now(now)
    a = get_app()  # on the clock --now set
    return AccountsScheduler(settings=a.settings, db=a.db, clock=a.clock, max_phase=max_phase, planner=planner,
                             cron=cron, tz=tz, grace_s=grace_s)


def _accounts_run_if_due(multi: Any, as_json: bool) -> None:
    results = multi.tick_all()
    code = max([_tick_code(r) for r in results.values()], default=ec.OK)
    if as_json:
        emit({"accounts": {alias: {"outcome": r.outcome, "message": r.message,
                                   "due_at": r.due_at.isoformat() if r.due_at else None,
                                   "run": run_summary(r.run) if r.run else None} for alias, r in results.items()}})
    else:
        for alias, r in results.items():
            (out if r.outcome in ("not_due", "closed", "ran") else err).print(f"{alias}: {r.message}")
    raise typer.Exit(code)


@app.command()
@handled
def schedule(
    cron: CronOpt = None,
    tz: TzOpt = None,
    max_phase: PhaseOpt = 5,
    planner: PlannerOpt = None,
    grace_s: GraceOpt = None,
    now: NowOpt = None,
    poll_s: Annotated[float, typer.Option("--poll-s", help="Wake up at least this often.")] = 30.0,
) -> None:
    """Run rebalances at the cron times, only on KRX trading days inside the session.

    Resumes interrupted runs when it starts; never overlaps runs for the account; a due time
    starts once even with several schedulers. SIGTERM or SIGINT: the current step finishes and
    checkpoints, the run stays RUNNING for 'resume', and the scheduler exits 0."""
    multi = _accounts_scheduler(cron, tz, grace_s, now, max_phase, planner)
    if multi is not None:  # accounts rows: every enabled account, one after the other
        sched: Any = multi
    else:
        sched_ = _schedule(cron, tz, grace_s)
        _now(now)
        sched = _scheduler(sched_, max_phase, planner, show_progress=False)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if sched.stopping:
            return
        log.warning("%s received: finishing the current step, then exiting", signal.Signals(signum).name)
        sched.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sched.serve(poll_s=poll_s)
    raise typer.Exit(ec.OK)


def _tick_code(result: TickResult) -> int:
    if result.outcome == "busy":
        return ec.BUSY
    if result.run is not None and result.outcome in ("ran", "error"):
        return ec.BY_STATUS[result.run.status]
    if result.outcome == "error":
        return ec.OUTSIDE_FAILURE
    return ec.OK


@app.command("run-if-due")
@handled
def run_if_due(
    cron: CronOpt = None,
    tz: TzOpt = None,
    max_phase: PhaseOpt = 5,
    planner: PlannerOpt = None,
    grace_s: GraceOpt = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One scheduling decision, for cron or a systemd timer: start the run that is due now, or print
    "not due" (exit 0). Exit codes as for 'run'; 75 when another run of the account is active."""
    multi = _accounts_scheduler(cron, tz, grace_s, now, max_phase, planner)
    if multi is not None:
        _accounts_run_if_due(multi, as_json)
    sched_ = _schedule(cron, tz, grace_s)
    _now(now)
    sched = _scheduler(sched_, max_phase, planner, show_progress=not as_json)
    sched.recover_buys(sched.clock.now())
    result = sched.tick(sched.clock.now())
    data: dict[str, Any] = {
        "outcome": result.outcome,
        "message": result.message,
        "due_at": result.due_at.isoformat() if result.due_at else None,
        "run": run_summary(result.run) if result.run else None,
    }
    if as_json:
        emit(data)
    else:
        (out if result.outcome in ("not_due", "closed", "ran") else err).print(result.message)
    raise typer.Exit(_tick_code(result))


@app.command()
@handled
def retry(
    run_id: str,
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail).")] = "",
    actor: Annotated[str, typer.Option(help="Who (recorded).")] = "operator",
    max_age_min: Annotated[
        float,
        typer.Option(
            "--max-age-min", min=0, help="Refuse when the account data the new plan would use is older."
        ),
    ] = 30.0,
    buy_side: Annotated[
        bool,
        typer.Option(
            "--buy-side",
            help="Retry the buy side of a PARTIAL run whose sells all filled: re-read the account and the "
            "orderable cash, re-plan, check and buy (same run; --max-age-min does not apply).",
        ),
    ] = False,
    planner: PlannerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A new planning round for a run that FAILED its plan checks (in SELL_PLANNED or BUY_PLANNED):
    forced back along the operator edge with the attempts reset, recorded, then driven on.
    --planner: plan the new round with another planner (e.g. optimal after Gemini failed).
    With --buy-side: the buy side of a PARTIAL run (exit 2 when its sells did not finish or it is not
    PARTIAL on its buy side, 4 when it finished otherwise, 75 when another run holds the account)."""
    a = get_app()
    if planner is not None:
        from adapters.cli.app import _check_planner
        from adapters.cli.guards import check_planner_usable

        _check_planner(planner)
        check_planner_usable(planner, a.settings)
    eng = a.engine(progress=None if as_json else progress())
    if buy_side:
        done = commands.retry_buy_side(eng, run_id, reason=reason, actor=actor)
    else:
        done = commands.retry(eng, run_id, reason=reason, actor=actor, max_age=timedelta(minutes=max_age_min),
                              planner=planner)
    finish(a, done, as_json)

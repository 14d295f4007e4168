"""Recovery before a run goes on: a send a previous runner may still have in flight, and the replay check.

The replay check: before a run resumes, its recorded steps must be a walk the code's table allows.

Like DBOS, each recorded step is keyed by its number (``seq``) and name (``trigger``). Resuming a
run whose history the code cannot have produced (rows edited or lost, or written by code with
another table) would build the next step on outputs that do not mean what the code thinks, so the
check refuses with :class:`ReplayMismatch`, naming the run, the step number, what the code expected
and what was recorded. The rules, conservative:

* seq runs 0, 1, 2 ... without a gap; step 0 is ``start`` into CREATED; the run's ``seq`` is the last;
* every later step leaves the state the previous one entered, along an edge of the table
  (engine, loop-back or operator edge) or as a status row that stays put (``AUDITS``: an abort,
  a block, a side that failed its checks);
* the run's state is the last step's destination;
* every stored output kind was produced by a recorded step that produces it (``PRODUCERS``), and
  every recorded step that always stores an output kind has it (``REQUIRED``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..errors import ReplayMismatch
from ..models import OrderRecord, OrderStatus
from ..records import RunRecord, TransitionRecord
from ..states import TRANSITIONS, RunState
from ..timeline import LEASE_NOTE
from .base import run_log
from .ledger import LedgerMixin

#: Status rows (``Outcome.audit``): the state stays; the states they may be recorded in (None: any).
AUDITS: dict[str, frozenset[RunState] | None] = {
    "abort": None,
    "status": None,
    "blocked": frozenset({RunState.SELL_VALIDATED, RunState.BUY_VALIDATED}),
    "sell_side_failed": frozenset({RunState.SELL_PLANNED}),
    "buy_side_failed": frozenset({RunState.BUY_PLANNED}),
    "buy_recovery_exhausted": frozenset({RunState.BUY_PLANNED, RunState.BOUGHT}),  # statemachine.buy_recovery
}
#: Output kind -> the steps (triggers or audits) that may store it.
PRODUCERS: dict[str, frozenset[str]] = {
    "snapshot": frozenset({"fetch"}),
    "cancelled_open_orders": frozenset({"fetch"}),
    "drift_before": frozenset({"check_drift"}),
    "sell_fills": frozenset({"sell"}),
    "cash": frozenset({"fetch_cash", "force_sold_by_hand", "force_replan_buys"}),  # a force into CASH_FETCHED
    "buy_fills": frozenset({"buy"}),
    "drift_after": frozenset({"buy", "buy_side_failed"}),
    "blocked": frozenset({"blocked"}),
}
#: Step -> the output kinds it always stores.
REQUIRED: dict[str, tuple[str, ...]] = {
    "fetch": ("snapshot",),
    "check_drift": ("drift_before",),
    "sell": ("sell_fills",),
    "fetch_cash": ("cash",),
    "force_sold_by_hand": ("cash",),
    "buy": ("buy_fills",),
    "blocked": ("blocked",),
}
START = "start"


def _step(t: TransitionRecord) -> str:
    return f"{t.trigger} {t.source} -> {t.dest}"


def _allowed_from(state: str) -> list[str]:
    edges = [f"{t.trigger} {t.source.value} -> {t.dest.value}" for t in TRANSITIONS if t.source.value == state]
    audits = [f"{name} {state} -> {state}" for name, where in AUDITS.items()
              if where is None or state in {s.value for s in where}]
    return edges + audits


def _allowed(t: TransitionRecord, state: str) -> bool:
    if t.source != state:
        return False
    if any(e.trigger == t.trigger and e.source.value == state and e.dest.value == t.dest for e in TRANSITIONS):
        return True
    where = AUDITS.get(t.trigger, frozenset())
    return t.dest == state and (where is None or state in {s.value for s in where})


def check_replay(run: RunRecord, transitions: list[TransitionRecord], output_kinds: set[str]) -> None:
    """Raise ReplayMismatch when the recorded steps of ``run`` are not a walk the table allows."""

    def mismatch(step: int, expected: str, recorded: str, what: str) -> ReplayMismatch:
        return ReplayMismatch(
            f"run {run.id} cannot be replayed: step {step} {what}: the code expects {expected}, the database "
            f"records {recorded}. Its history was changed or written by other code; abort it and start a "
            f"new run", run_id=run.id, step=step, expected=expected, recorded=recorded)

    if not transitions:
        raise mismatch(0, f"{START} - -> {RunState.CREATED.value}", "no step", "is missing")
    state = "-"
    for n, t in enumerate(transitions):
        if t.seq != n:
            raise mismatch(n, f"step number {n}", f"step number {t.seq} ({_step(t)})", "is out of sequence")
        if n == 0:
            if (t.trigger, t.source, t.dest) != (START, "-", RunState.CREATED.value):
                raise mismatch(0, f"{START} - -> {RunState.CREATED.value}", _step(t), "does not start the run")
        elif not _allowed(t, state):
            raise mismatch(n, "one of: " + "; ".join(_allowed_from(state)), _step(t),
                           "is not an edge of the transition table")
        state = t.dest
    last = transitions[-1].seq
    if run.seq != last:
        raise mismatch(run.seq, f"the run's checkpoint {run.seq} to be its last step",
                       f"last step {last} ({_step(transitions[-1])})", "does not match the run's checkpoint")
    if run.state.value != state:
        raise mismatch(last, f"state {state} (where step {last} led)", f"state {run.state.value} on the run",
                       "does not match the run's state")
    triggers = {t.trigger for t in transitions}
    for kind in sorted(output_kinds):
        if kind.startswith(LEASE_NOTE):
            continue  # who resumed the run and when (the timeline's interruptions): no step's output
        producers = PRODUCERS.get(kind)
        if producers is None or not producers & triggers:
            raise mismatch(last, f"output {kind!r} only after a step of {sorted(producers or [])}",
                           f"output {kind!r} with no such step", "has an output no recorded step produced")
    for t in transitions:
        missing = [k for k in REQUIRED.get(t.trigger, ()) if k not in output_kinds]
        if missing:
            raise mismatch(t.seq, f"output(s) {', '.join(missing)} stored by {_step(t)}", "none stored",
                           "lost its output")


class RecoveryMixin(LedgerMixin):
    """Wait out a taken-over run's send in flight; check a run's recorded steps before it resumes."""

    def _send_in_flight(self, run: RunRecord) -> tuple[OrderRecord, datetime] | None:
        """The newest pending send (INTENT or UNKNOWN, sent at least once) whose outcome may still
        show at the broker, with the moment that stops being possible (its start plus
        ``send_timeout_s + settle_window_s``); None when there is none."""
        with self.uow() as uow:
            pending = [o for o in uow.orders(run.id)
                       if o.status in (OrderStatus.INTENT, OrderStatus.UNKNOWN) and o.sends > 0]
        if not pending:
            return None
        last = max(pending, key=lambda o: o.send_started_at or o.updated_at or o.created_at)
        started = last.send_started_at or last.updated_at or last.created_at
        until = started + timedelta(seconds=self.settings.send_timeout_s + self.settings.settle_window_s)
        return (last, until) if until > self.clock.now() else None

    def _await_pending_sends(self, run: RunRecord) -> None:
        """After a takeover, wait out a send the previous runner may still have in flight.

        A runner frozen mid-send (SIGSTOP, a long GC pause, a partitioned host) loses its lease, but
        its request may still reach the broker, and the broker's order list may show it only later.
        Reconciling before then would find nothing and send the order a second time. So a new owner
        waits until the newest pending send (INTENT or UNKNOWN, sent at least once) is older than
        ``send_timeout_s + settle_window_s``, renewing its own lease meanwhile."""
        inflight = self._send_in_flight(run)
        if inflight is None:
            return
        last, until = inflight
        started = last.send_started_at or last.updated_at or last.created_at
        left = (until - self.clock.now()).total_seconds()
        run_log(run.id).warning(
            "took run %s over with a send in flight: %s %s x%d (%s, send started %s); waiting %.1fs, until its "
            "deadline plus the settle window (%gs + %gs) has passed, before reconciling, so that the earlier "
            "runner's order, if it reached the broker, shows in the order list and is not sent twice",
            run.id, last.side.value, last.ticker, last.quantity, last.status.value, f"{started:%H:%M:%S}", left,
            self.settings.send_timeout_s, self.settings.settle_window_s)
        step = max(0.5, self.settings.lease_ttl_s / 3)
        while (left := (until - self.clock.now()).total_seconds()) > 0:
            self.clock.sleep(min(left, step))
            self._renew(run)

    def _check_replay(self, run_id: str) -> None:
        """Raise ReplayMismatch when the run's recorded steps are not a walk the table allows."""
        with self.uow() as uow:  # one read: the run, its steps and its outputs as one committed whole
            uow.snapshot()
            fresh, steps, kinds = uow.get_run(run_id), uow.transitions(run_id), set(uow.outputs(run_id))
        check_replay(fresh, steps, kinds)

"""The small interfaces the engine depends on. Adapters implement them; the engine never
imports an adapter.

* :class:`Broker`   - the account: balance, open orders, prices, orderable cash, orders, fills.
* :class:`Planner`  - proposes a sell or buy plan for a :class:`PlanningContext`.
* :class:`UnitOfWork` - one database transaction over the repository; rolls back unless committed.
* :class:`Clock`    - time and sleeping, so tests can fake both.
* :class:`Hooks`    - named points in the engine where tests may crash the process.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, Self

from .errors import BrokerError, LeaseHeld
from .models import (
    BrokerOrder,
    OpenOrder,
    OrderRecord,
    OrderStatus,
    PlaceResult,
    Plan,
    PlanningContext,
    Quote,
    Side,
    Snapshot,
    Targets,
    Thresholds,
)
from .notices import RunNotice
from .records import (
    Checkpoint,
    Fence,
    HistoryRecord,
    PlanAttemptRecord,
    RunRecord,
    StrategyDecision,
    TransitionRecord,
)


class Clock(Protocol):
    def now(self) -> datetime: ...  # timezone-aware, UTC
    def sleep(self, seconds: float) -> None: ...
    def monotonic(self) -> float: ...


class Hooks(Protocol):
    def point(self, name: str) -> None: ...


class NoHooks:
    def point(self, name: str) -> None:
        return None


class Notifier(Protocol):
    """Tells the operator that a run ended (:mod:`statemachine.notices`). Best effort: the engine
    calls it after the run's outcome is committed and ignores (logs) anything it raises."""

    def notify(self, notice: RunNotice) -> None: ...


class Broker(abc.ABC):
    """One brokerage account. Every read returns only complete, successful answers (all pages,
    ``rt_cd == "0"``); anything else raises. Order sends are never retried inside the adapter."""

    alias: str = "account"

    @abc.abstractmethod
    def balance(self) -> Snapshot:
        """Holdings (every page) and the settled cash deposit."""

    @abc.abstractmethod
    def prices(self, tickers: list[str]) -> dict[str, int]:
        """Current prices; raises when one cannot be had."""

    def quote(self, ticker: str) -> Quote:
        """Best bid and ask and the day's price limits (limit orders price from them). A broker
        that cannot quote refuses, so a limit run fails before planning instead of guessing."""
        raise BrokerError(f"{type(self).__name__} gives no order-book quotes; limit orders need them",
                          code="NO_QUOTE", ticker=ticker)

    @abc.abstractmethod
    def orderable_cash(self) -> int:
        """Cash a buy may use now, sale proceeds included, without margin debt."""

    @abc.abstractmethod
    def place_order(self, side: Side, ticker: str, quantity: int, order_type: str = "01",
                    price: int = 0) -> PlaceResult:
        """Send one cash order. Raises OrderRejected when the broker refused it (nothing placed),
        OrderOutcomeUnknown when the outcome is not known (never resend blindly)."""

    @abc.abstractmethod
    def daily_orders(self, day: date, ticker: str | None = None, side: Side | None = None,
                     odno: str | None = None, unfilled_only: bool = False) -> list[BrokerOrder]:
        """The day's orders with their fills, every page read."""

    @abc.abstractmethod
    def cancel_order(self, odno: str, org_no: str, quantity: int) -> PlaceResult:
        """Cancel the open remainder of an order."""

    def open_orders(self, day: date) -> list[OpenOrder]:
        return [OpenOrder(odno=o.odno, ticker=o.ticker, side=o.side, quantity=o.quantity,
                          remaining=o.remaining, org_no=o.org_no)
                for o in self.daily_orders(day, unfilled_only=True) if o.remaining > 0]


class Planner(Protocol):
    name: str

    def plan(self, ctx: PlanningContext) -> Plan: ...


PlannerFactory = Callable[[str], Planner]


@dataclass(frozen=True)
class ConfigRow:
    """One row of the thresholds history (table ``rebalancing_config``; the newest is in force)."""

    id: int
    mp_threshold_percent: float
    sub_mp_threshold_percent: float
    updated_at: datetime


@dataclass(frozen=True)
class Claim:
    """The claim of one scheduled slot (table ``schedule_claims``): who started the run due at
    ``due_at`` for ``account``, which run, and how it ended."""

    account: str
    due_at: datetime
    claimed_by: str
    claimed_at: datetime
    run_id: str | None
    outcome: str | None


class UnitOfWork(abc.ABC):
    """One transaction. Leaving the ``with`` block without :meth:`commit` rolls back.

    Fencing: every write about a run takes ``fence``, the (owner, epoch) the writer got from
    :meth:`acquire_lease`. The write happens only if the run's lease is still held by exactly
    that owner at exactly that epoch, checked atomically with the write (in the same transaction,
    the run's row locked); otherwise it writes nothing and raises ``LeaseHeld``. A lease that
    expired but that nobody took over is still held: its owner may renew it and write."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    def snapshot(self) -> None:
        """The reads that follow, in this unit of work, see one committed state of the store (call it
        before anything else). By default nothing to do: a unit of work that reads one state anyway."""
        return None

    # -- runs and their checkpoints ------------------------------------------------------------
    def save(self, cp: Checkpoint) -> int | None:
        """Write one durable fact (:class:`~statemachine.records.Checkpoint`) and commit it: all of it
        or nothing, every part fenced by ``cp.fence``. Returns the new order's id (``cp.new_order``).
        Raises what the single writes below raise (``LeaseHeld`` for a lost lease or a moved
        checkpoint, ``RunNotFound``, ``KeyError`` for an unknown order); nothing is written then.

        This composition of the single writes is the reference; a store may do the same in fewer
        statements (the SQL store: one transaction on the driver, one statement on PostgreSQL)."""
        try:
            new_id = self._save_parts(cp)
        except BaseException:
            self.rollback()  # nothing of a refused checkpoint may be committed later by this unit of work
            raise
        self.commit()
        return new_id

    def _save_parts(self, cp: Checkpoint) -> int | None:
        if cp.new_run is not None:
            self.add_run(cp.new_run)
        if cp.run_fields:
            self.update_run(cp.run_id, fence=cp.fence, expect_seq=cp.expect_seq, **cp.run_fields)
        if cp.transition is not None:
            self.add_transition(cp.transition, fence=cp.fence)
        for kind, payload in cp.outputs.items():
            self.put_output(cp.run_id, cp.output_seq, kind, payload, fence=cp.fence)
        if cp.new_attempt is not None:
            self.add_plan_attempt(cp.new_attempt, fence=cp.fence)
        if cp.attempt_update is not None:
            side, n, upd = cp.attempt_update
            self.update_plan_attempt(cp.run_id, side, n, fence=cp.fence, **upd)
        for order_id, upd in cp.order_updates.items():
            self.update_order(order_id, fence=cp.fence, **upd)
        new_id = None
        if cp.new_order is not None:
            o = cp.new_order
            new_id = self.add_order(run_id=cp.run_id, account=o.account, side=o.side, ticker=o.ticker, name=o.name,
                                    quantity=o.quantity, attempt=o.attempt, seq=o.seq, status=o.status,
                                    created_at=o.created_at, fence=cp.fence).id
        if cp.history is not None:
            self.add_history(cp.history, fence=cp.fence)
        if cp.release:
            self.release_lease(cp.run_id, cp.fence)
        return new_id

    @abc.abstractmethod
    def add_run(self, run: RunRecord) -> None:
        """Insert a run (its creator holds its lease, ``run.fence``); raises LeaseHeld when the
        account already has an active run."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> RunRecord:
        """Raises RunNotFound."""

    def peek_run(self, run_id: str) -> RunRecord:
        """The run as last committed, read on its own: not part of this unit of work's transaction,
        so nothing this unit of work writes later is atomic with it (a decision to write goes
        through a fenced write, or :meth:`get_run` in the transaction). A store may read it
        cheaper than :meth:`get_run` (the SQL store: on its checkpoint connection, no transaction
        of its own); by default the same read. Raises RunNotFound."""
        return self.get_run(run_id)

    @abc.abstractmethod
    def find_runs(self, *, account: str | None = None, statuses: list[str] | None = None,
                  limit: int = 50) -> list[RunRecord]: ...

    @abc.abstractmethod
    def update_run(self, run_id: str, *, fence: Fence, expect_seq: int | None = None, **fields: Any) -> None:
        """Update a run held by ``fence``; with ``expect_seq`` only if no other transition was
        committed since. Raises LeaseHeld otherwise."""

    @abc.abstractmethod
    def add_transition(self, record: TransitionRecord, *, fence: Fence) -> None: ...

    @abc.abstractmethod
    def transitions(self, run_id: str) -> list[TransitionRecord]: ...

    @abc.abstractmethod
    def put_output(self, run_id: str, seq: int, kind: str, payload: dict[str, Any], *, fence: Fence) -> None: ...

    @abc.abstractmethod
    def outputs(self, run_id: str) -> dict[str, dict[str, Any]]:
        """The newest payload of each kind."""

    @abc.abstractmethod
    def add_plan_attempt(self, record: PlanAttemptRecord, *, fence: Fence) -> None: ...

    @abc.abstractmethod
    def update_plan_attempt(self, run_id: str, side: Side, attempt: int, *, fence: Fence, **fields: Any) -> None: ...

    @abc.abstractmethod
    def plan_attempts(self, run_id: str) -> list[PlanAttemptRecord]: ...

    # -- orders --------------------------------------------------------------------------------
    @abc.abstractmethod
    def add_order(self, *, run_id: str, account: str, side: Side, ticker: str, name: str, quantity: int,
                  attempt: int, seq: int, status: OrderStatus, created_at: datetime,
                  fence: Fence) -> OrderRecord: ...

    @abc.abstractmethod
    def update_order(self, order_id: int, *, fence: Fence, **fields: Any) -> OrderRecord:
        """Update an order of a run held by ``fence`` (adopting, recording an order number,
        fills, status); raises LeaseHeld otherwise."""

    @abc.abstractmethod
    def orders(self, run_id: str) -> list[OrderRecord]: ...

    @abc.abstractmethod
    def known_odnos(self, account: str, since: datetime) -> set[str]:
        """Broker order numbers adopted by this account's intents created at or after ``since``
        (order numbers restart every trading day, so older ones say nothing about today's)."""

    # -- leases ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def acquire_lease(self, run_id: str, owner: str, now: datetime, ttl_s: float,
                      steal_if: Callable[[str], bool] | None = None) -> Fence | None:
        """Take or renew the run's lease; ``steal_if(owner)`` may declare a live lease dead.

        Returns the fence to write with, or None when someone else holds the lease. The epoch is
        incremented when the lease changes owner (taken over, stolen, or taken while free) and
        kept when its owner takes it again."""

    def renew_lease(self, run_id: str, fence: Fence, now: datetime, ttl_s: float) -> bool:
        """Extend a lease ``fence`` still holds (expired or not); False once anyone else took it or
        it was released. Unlike :meth:`acquire_lease` it never takes a free lease: a runner that
        stalled past its lease must not resume sending orders after another process finished."""
        if self.get_run(run_id).fence != fence:
            return False
        return self.acquire_lease(run_id, fence.owner, now, ttl_s) == fence

    @abc.abstractmethod
    def release_lease(self, run_id: str, fence: Fence) -> None:
        """Give the lease up; raises LeaseHeld when ``fence`` no longer holds it."""

    # -- targets, thresholds, history ----------------------------------------------------------------
    @abc.abstractmethod
    def add_history(self, record: HistoryRecord, *, fence: Fence) -> None: ...

    @abc.abstractmethod
    def latest_targets(self) -> StrategyDecision | None: ...

    @abc.abstractmethod
    def add_targets(self, targets: Targets, decided_at: datetime, decided_by: str | None = None) -> StrategyDecision:
        ...

    @abc.abstractmethod
    def decisions(self, limit: int = 20, offset: int = 0) -> list[StrategyDecision]:
        """Strategy decisions, newest first (the order :meth:`latest_targets` uses)."""

    @abc.abstractmethod
    def count_decisions(self) -> int: ...

    @abc.abstractmethod
    def latest_thresholds(self) -> Thresholds: ...

    def peek_thresholds(self) -> Thresholds:
        """:meth:`latest_thresholds`, read on its own (as :meth:`peek_run`): for a reader that writes
        nothing based on it in this unit of work."""
        return self.latest_thresholds()

    @abc.abstractmethod
    def add_thresholds(self, thresholds: Thresholds, at: datetime) -> None: ...

    @abc.abstractmethod
    def history(self, limit: int = 50) -> list[HistoryRecord]: ...

    # What the entry points used to reach around the unit of work for (issue 15).
    @abc.abstractmethod
    def history_of(self, run_id: str) -> HistoryRecord | None:
        """The history row of one run (a keyed lookup, however many runs there are), or None
        while the run has not finished."""
        ...

    @abc.abstractmethod
    def config_rows(self, limit: int = 20) -> list[ConfigRow]:
        """The newest thresholds rows, newest first."""
        ...

    # -- schedule claims -------------------------------------------------------------------------
    @abc.abstractmethod
    def claim_slot(self, account: str, due_at: datetime, owner: str, now: datetime) -> tuple[bool, Claim]:
        """Claim the slot ``(account, due_at)``: returns (won, the slot's claim). Exactly one
        claimer wins a slot, across processes (a unique constraint decides); losing does not spoil
        this unit of work. The claim is the winner's once it commits."""
        ...

    @abc.abstractmethod
    def get_claim(self, account: str, due_at: datetime) -> Claim | None:
        ...

    @abc.abstractmethod
    def record_outcome(self, account: str, due_at: datetime, *, run_id: str | None = None,
                       outcome: str | None = None) -> None:
        """Write the run started for a slot and/or how it ended (``outcome`` cut to 2,000 chars)."""
        ...

    @abc.abstractmethod
    def claims(self, account: str | None = None, limit: int = 50) -> list[Claim]:
        """The newest claims (by due time), newest first."""
        ...


def lost_lease(run: RunRecord, fence: Fence) -> LeaseHeld:
    """The error a fenced write raises (the same words from every store)."""
    holder = f"held by {run.lease_owner}" if run.lease_owner else "released since"
    return LeaseHeld(f"{fence.owner} lost the lease of run {run.id} (its epoch {fence.epoch}): another runner "
                     f"took over (epoch {run.lease_epoch}, {holder}); this process writes nothing more on it",
                     run_id=run.id, owner=run.lease_owner, epoch=run.lease_epoch, stale_epoch=fence.epoch)


def check_fence(run: RunRecord, fence: Fence) -> None:
    """Raise :func:`lost_lease` unless ``fence`` still holds the run's lease."""
    if run.fence != fence:
        raise lost_lease(run, fence)


class Store(Protocol):
    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]: ...


Progress = Callable[[str], None]
Iter = Iterator

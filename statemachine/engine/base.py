"""What every part of the engine shares: its collaborators, the step :class:`Outcome`, run logging.

The engine is one class, :class:`~statemachine.engine.runner.Engine`, built in layers, each a
module of one idea: leases (:mod:`.leases`), the ledger (:mod:`.ledger`), recovery and the replay
check (:mod:`.recovery`), planning (:mod:`.planning`), the step bodies (:mod:`.steps`) and the
public commands (:mod:`.runner`). Each layer builds on the ones before it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from ..models import OrderRecord, Side
from ..ports import Broker, Clock, Hooks, PlannerFactory, UnitOfWork
from ..records import Fence, PlanAttemptRecord, RunRecord, TransitionRecord
from ..settings import EngineSettings
from ..states import RunStatus

log = logging.getLogger("rebalance.engine")
Guard = Callable[[RunRecord], None]
#: The run this thread is driving, for log lines of libraries that know nothing of runs.
current_run_id: ContextVar[str | None] = ContextVar("current_run_id", default=None)


@dataclass
class Outcome:
    """What a step produced. ``trigger=None`` records a status change without moving."""

    trigger: str | None
    outputs: dict[str, BaseModel] = field(default_factory=dict)  # kind -> record (statemachine.step_records)
    status: RunStatus | None = None
    error: str | None = None
    reason: str | None = None
    run_fields: dict[str, Any] = field(default_factory=dict)
    new_attempt: PlanAttemptRecord | None = None
    attempt_update: tuple[Side, int, dict[str, Any]] | None = None
    audit: str | None = None  # name of the audit row when trigger is None
    #: order id -> fields of the side's orders not committed yet (their broker answers and fill
    #: results): committed with this transition (statemachine.orders.base.ExecutorBase.pending)
    order_updates: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass
class RunMemo:
    """What has been committed about one run, kept by the engine driving it (issue 18): the steps
    read it instead of reading their own writes back. Loaded from the database once when a run is
    entered (``resume``, or ``run`` of a run this engine did not start); updated after every commit.

    ``extended``: the clock's monotonic time of the
    last commit that extended the lease (a transition, a send), so renewals are made only when due."""

    run: RunRecord
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: list[PlanAttemptRecord] = field(default_factory=list)
    orders: dict[int, OrderRecord] = field(default_factory=dict)
    #: the run's transitions (its history row's recovery account reads them when it finishes)
    transitions: list[TransitionRecord] = field(default_factory=list)
    extended: float | None = None


class RunLog(logging.LoggerAdapter):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs.setdefault("extra", {})["run_id"] = self.extra["run_id"]  # type: ignore[index]
        return msg, kwargs


def run_log(run_id: str) -> RunLog:
    return RunLog(log, {"run_id": run_id})



class EngineBase:
    """The engine's collaborators (set by :class:`Engine.__init__`) and the fences of the runs it holds."""

    uow: Callable[[], AbstractContextManager[UnitOfWork]]
    broker: Broker
    planners: PlannerFactory
    clock: Clock
    settings: EngineSettings
    hooks: Hooks
    owner: str
    lease_is_dead: Callable[[str], bool]
    guards: list[Guard]
    progress: Callable[[str], None]
    _stop_requested: threading.Event
    #: run id -> the (owner, epoch) this engine got when it took the run's lease; every write
    #: about the run carries it, so once another runner took over, this engine writes nothing.
    _fences: dict[str, Fence]
    #: run id -> what was committed about it (only while this engine drives it)
    _memos: dict[str, RunMemo]

    def get(self, run_id: str) -> RunRecord:
        with self.uow() as uow:
            return uow.get_run(run_id)

"""The application layer: the use cases the CLI, the HTTP API and the scheduler share.

Entry points only translate: they parse arguments or requests, call one function here, and
render or serialize what it returns (errors become exit codes or HTTP statuses at the entry
point). Like the rest of ``statemachine/`` it does no I/O of its own: it reaches the world only
through what it is handed (a unit-of-work factory, the engine, a broker factory, the clock).

* :mod:`.commands`  - start a run, resume, force, abort, retry (and retry a PARTIAL run's buy side), set
  targets, set thresholds.
* :mod:`.queries`   - run detail, run list and status, drift now, thresholds and config rows,
  targets, history, the history of one run.
* :mod:`.scheduled` - a scheduled start: claim the slot, start and drive the run, record the outcome;
  and the automatic buy-side recovery of PARTIAL runs (``recover_buy_sides``).
* :mod:`.views`     - the JSON shapes the entry points print or answer (unchanged since the first
  version: the golden CLI session and the OpenAPI snapshot hold them).

The engine is seen through :class:`Runs`, the public methods of
:class:`statemachine.engine.Engine` the use cases call.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from statemachine.models import Targets, Thresholds
from statemachine.policies import Policy
from statemachine.ports import Broker, UnitOfWork
from statemachine.records import RunRecord

UowFactory = Callable[[], AbstractContextManager[UnitOfWork]]


class Runs(Protocol):
    """What the use cases ask of the engine (its public methods)."""

    @property
    def broker(self) -> Broker: ...

    def start(self, *, account: str, max_phase: int = 5, planner: str = "auto", actor: str = "cli",
              targets: Targets | None = None, thresholds: Thresholds | None = None,
              policy: Policy | None = None) -> RunRecord: ...

    def run(self, run_id: str) -> RunRecord: ...

    def resume(self, run_id: str) -> RunRecord: ...

    def get(self, run_id: str) -> RunRecord: ...

    def check_resumable(self, run_id: str) -> RunRecord: ...

    def force(self, run_id: str, target: str, *, reason: str, actor: str) -> RunRecord: ...

    def abort(self, run_id: str, *, reason: str, actor: str) -> RunRecord: ...


__all__ = ["Runs", "UowFactory"]

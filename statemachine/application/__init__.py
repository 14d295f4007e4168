"""The application layer: the use cases the CLI, the HTTP API and the scheduler share.

Entry points only translate: they parse arguments or requests, call one function here, and
render or serialize what it returns (errors become exit codes or HTTP statuses at the entry
point). Like the rest of ``statemachine/`` it does no I/O of its own: it reaches the world only
through the ports it is handed (a unit-of-work factory, the engine, the broker, the clock).

* :mod:`.commands`  - start a run, resume, force, abort, retry, set targets, set thresholds.
* :mod:`.queries`   - run detail, run list and status, drift now, thresholds and config rows,
  targets, history, the history of one run.
* :mod:`.scheduled` - a scheduled start: claim the slot, start and drive the run, record the outcome.
* :mod:`.views`     - the JSON shapes the entry points print or answer (unchanged since the first
  version: the golden CLI session and the OpenAPI snapshot hold them).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from statemachine.ports import UnitOfWork

UowFactory = Callable[[], AbstractContextManager[UnitOfWork]]

__all__ = ["UowFactory"]

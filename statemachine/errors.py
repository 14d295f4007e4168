"""The error hierarchy.

::

    RebalanceError                    every error this project raises on purpose
    +-- DomainError                   bad input or a rule of the domain (never retried)
    |   +-- TargetsError              malformed or inconsistent targets (names the field)
    |   +-- ThresholdError            threshold outside 0-100 or not a number
    |   +-- SnapshotError             a snapshot that cannot be planned on (names the ticker)
    |   +-- PlanningError             no plan can be made (infeasible problem)
    |   +-- TransitionError           an edge that the table does not allow
    |   +-- RunNotFound / RunFinished
    |   +-- IncompatibleCheckpoint    a run written by another checkpoint format
    |   +-- ReplayMismatch            stored history disagrees with the code
    +-- AdapterError                  the outside world failed
        +-- RetryableError            safe to try again (rate limit, timeout on a read, 5xx on a read)
        |   +-- MarketClosed          the broker refused an order as outside its session (resume later)
        +-- BrokerError               the broker said no (carries code and message)
        |   +-- OrderRejected         an order refused by the broker; nothing was placed
        +-- OrderOutcomeUnknown       an order send whose result is not known (never resent blindly)
        +-- LeaseHeld                 another process drives this run or account
        +-- SafetyStop                a fail-closed guard said no (kill switch, hours, live opt-in)

Every error carries structured ``fields`` (ticker, rule, broker code...) for logs, the CLI and
the API.
"""

from __future__ import annotations

from typing import Any


class RebalanceError(Exception):
    exit_code = 1

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message, **self.fields}


class DomainError(RebalanceError):
    exit_code = 2


class TargetsError(DomainError):
    pass


class ThresholdError(DomainError):
    pass


class SnapshotError(DomainError):
    pass


class PlanningError(DomainError):
    pass


class TransitionError(DomainError):
    pass


class RunNotFound(DomainError):
    exit_code = 3


class RunFinished(DomainError):
    exit_code = 4


class IncompatibleCheckpoint(DomainError):
    exit_code = 5


class ReplayMismatch(DomainError):
    exit_code = 5


class AdapterError(RebalanceError):
    exit_code = 6


class RetryableError(AdapterError):
    pass


class MarketClosed(RetryableError):
    """The broker refused an order because its market is closed. Nothing was placed; the run
    stops at its checkpoint (RUNNING, lease released) and ``resume`` sends it inside the session."""


#: Broker codes meaning "outside the session / not a trading day" (KIS_API.md, error codes).
MARKET_CLOSED_CODES = frozenset({"APBK0918", "APBK0919", "KIOK0320", "40580000"})


class BrokerError(AdapterError):
    def __init__(self, message: str, code: str = "", **fields: Any) -> None:
        super().__init__(message, code=code, **fields)
        self.code = code


class OrderRejected(BrokerError):
    pass


class OrderOutcomeUnknown(AdapterError):
    pass


class LeaseHeld(AdapterError):
    exit_code = 75  # EX_TEMPFAIL: another runner has it; try later


class SafetyStop(AdapterError):
    exit_code = 7

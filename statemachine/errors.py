"""The error hierarchy: the one drawing of every exception class in the project.

::

    RebalanceError                    every error this project raises on purpose (retryable = False)
    +-- DomainError                   bad input or a rule of the domain (never retried; exit 2, HTTP 422)
    |   +-- TargetsError              malformed or inconsistent targets (names the field)
    |   +-- ThresholdError            threshold outside 0-100 or not a number
    |   +-- SnapshotError             a snapshot that cannot be planned on (names the ticker)
    |   +-- PlanningError             no plan can be made (infeasible problem)
    |   +-- TransitionError           an edge that the table does not allow
    |   +-- RunNotFound / RunFinished (exit 3 / 4)
    |   +-- IncompatibleCheckpoint    a run written by another checkpoint format (exit 5)
    |   +-- ReplayMismatch            stored history disagrees with the code (exit 5)
    |   +-- ScheduleError             adapters.scheduler.runner: a bad cron, time zone or --now
    |   +-- AccountError              statemachine.accounts: a bad account or portfolio (names the field)
    |   |   +-- CredentialsError      an account's credentials cannot be resolved (unset variable, file mode)
    |   |   +-- AccountExists         an alias already taken (HTTP 409)
    |   +-- AccountNotFound           no account (or portfolio) by that name (exit 2, HTTP 404)
    |   +-- DataError                 adapters.backtest.data: a price or dividend CSV row that cannot be read
    |   +-- SimAccountError           adapters.sim.account: a simulated account file that is not an account
    |   +-- BadDatabase               adapters.cli.guards: a --db the CLI refuses before connecting (a bare
    |   |                             path; a missing SQLite file for a reading command)
    |   +-- ConfirmationRequired      adapters.http.errors: a trading call without "confirm": true (HTTP 409)
    +-- RunGuard                      the run may not go on now; nothing is wrong with it (never retried here)
    |   +-- LeaseHeld                 another process drives this run or account (exit 75, HTTP 409)
    |   +-- SafetyStop                a fail-closed guard said no: kill switch, hours, live opt-in
    |                                 (exit 7, HTTP 503)
    +-- AdapterError                  the outside world failed (exit 6, HTTP 502)
    |   +-- RetryableError            safe to try again (retryable = True): rate limit, timeout or 5xx on a read
    |   |   +-- MarketClosed          the broker refused an order as outside its session (resume later)
    |   |   +-- KisRetryable          adapters.kis.errors: a KIS read may be tried again (timeout, 5xx page)
    |   |   |   +-- KisRateLimited    adapters.kis.errors: EGW00201 / EGW00215
    |   |   |   +-- KisInconsistentBalance  adapters.kis.broker: balance pages that disagree
    |   |   +-- KisRetryExhausted     adapters.kis.errors: a read's retry policy ran out (``attempts``)
    |   +-- BrokerError               the broker said no (carries code and message)
    |   |   +-- OrderRejected         an order refused by the broker; nothing was placed
    |   |   +-- KisAuthError          adapters.kis.errors: bad key/secret, paper key on the real host
    |   |   |   +-- KisTokenExpired   adapters.kis.errors: EGW00123 / EGW00121 (reissue once)
    |   |   |   +-- KisTokenThrottled adapters.kis.errors: EGW00133 (one issuance per minute)
    |   |   +-- KisMalformedReply     adapters.kis.errors: HTML page, empty body, missing field
    |   +-- OrderOutcomeUnknown       an order send whose result is not known (never resent blindly)
    |   +-- DatabaseError             adapters.db.connect: the database cannot be reached (exit 9, HTTP 503)
    +-- Unauthorized                  adapters.http.security: no or wrong bearer token (HTTP 401)
    +-- WritesDisabled                adapters.http.security: the server has no token (HTTP 403)

Not part of the tree (never leave their module): ``adapters.sim.account.SimRejected`` (the
simulated account's refusal, which the simulators turn into a KIS reply) and
``adapters.kis_sim.simulator._Drop`` (the simulator dropping a connection).

Exit codes and HTTP statuses are mapped in one place each (``adapters.cli.app`` and
``adapters.http.errors``). Whether an error may be tried again is the class attribute
``retryable``, not its place in the tree: code deciding a retry reads ``exc.retryable``.

Every error carries structured ``fields`` (ticker, rule, broker code...) for logs, the CLI and
the API.
"""

from __future__ import annotations

from typing import Any, ClassVar


class RebalanceError(Exception):
    exit_code: ClassVar[int] = 1
    retryable: ClassVar[bool] = False

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


class AccountError(DomainError):
    pass


class CredentialsError(AccountError):
    pass


class AccountExists(AccountError):
    status_code = 409


class AccountNotFound(DomainError):
    status_code = 404


class IncompatibleCheckpoint(DomainError):
    exit_code = 5


class ReplayMismatch(DomainError):
    exit_code = 5


class RunGuard(RebalanceError):
    """A guard of the run (its lease, a safety rule) refused to go on; raised by the engine and the
    adapters alike, so not an :class:`AdapterError`."""


class LeaseHeld(RunGuard):
    exit_code = 75  # EX_TEMPFAIL: another runner has it; try later


class SafetyStop(RunGuard):
    exit_code = 7


class AdapterError(RebalanceError):
    exit_code = 6


class RetryableError(AdapterError):
    retryable = True


class MarketClosed(RetryableError):
    """The broker refused an order because its market is closed. Nothing was placed; the run
    stops at its checkpoint (RUNNING, lease released) and ``resume`` sends it inside the session."""


#: Broker codes meaning "outside the session / not a trading day" (docs/kis.md, error codes).
MARKET_CLOSED_CODES = frozenset({"APBK0918", "APBK0919", "KIOK0320", "40580000"})


class BrokerError(AdapterError):
    def __init__(self, message: str, code: str = "", **fields: Any) -> None:
        super().__init__(message, code=code, **fields)
        self.code = code


class OrderRejected(BrokerError):
    pass


class OrderOutcomeUnknown(AdapterError):
    pass


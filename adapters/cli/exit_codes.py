"""Exit codes: one table, shown in ``--help`` and the README."""

from __future__ import annotations

from statemachine.states import RunStatus

OK = 0
UNEXPECTED = 1
BAD_INPUT = 2
NOT_FOUND = 3
FINISHED = 4
INCOMPATIBLE = 5
OUTSIDE_FAILURE = 6  # broker or network failed; the run is resumable
SAFETY_STOP = 7
DATABASE = 9
RUN_PARTIAL = 10
RUN_FAILED = 11
RUN_BLOCKED = 12
RUN_ABORTED = 13
BUSY = 75  # another runner holds the account or the run

BY_STATUS = {
    RunStatus.SUCCEEDED: OK,
    RunStatus.NOT_NEEDED: OK,
    RunStatus.STOPPED: OK,
    RunStatus.RUNNING: OUTSIDE_FAILURE,
    RunStatus.PARTIAL: RUN_PARTIAL,
    RunStatus.FAILED: RUN_FAILED,
    RunStatus.BLOCKED: RUN_BLOCKED,
    RunStatus.ABORTED: RUN_ABORTED,
}

TABLE = """Exit codes: 0 ok (SUCCEEDED, NOT_NEEDED, STOPPED) | 1 unexpected error | 2 bad input |
3 unknown run | 4 run already finished | 5 incompatible checkpoint | 6 broker/network failure (resumable) |
7 safety stop | 9 database unreachable | 10 PARTIAL | 11 FAILED | 12 BLOCKED | 13 ABORTED |
75 another runner is active"""

"""The engine: walks a run through the transition table, one committed checkpoint per step.

A package of one idea per module (see :mod:`.base`); this module re-exports what the rest of the
code imports from ``statemachine.engine``."""

from .base import EngineBase, Guard, Outcome, RunLog, current_run_id, log, run_log
from .leases import _Heartbeat
from .recovery import check_replay
from .runner import Engine, _new_run_id

__all__ = ["Engine", "EngineBase", "Guard", "Outcome", "RunLog", "_Heartbeat", "_new_run_id",
           "check_replay", "current_run_id", "log", "run_log"]

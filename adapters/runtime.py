"""Process-level pieces: lease owners and their liveness, crash hooks for tests,
and logging with the run id on every line."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import uuid
from datetime import UTC, datetime

from statemachine.engine import current_run_id

from .clock import SystemClock  # noqa: F401 - re-exported for callers of the old location


def lease_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def lease_is_dead(owner: str) -> bool:
    """True only when the owner is a process on this host that no longer exists."""
    try:
        host, pid, _ = owner.rsplit(":", 2)
        pid_n = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname() or pid_n == os.getpid():
        return False
    try:
        os.kill(pid_n, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid_n)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


class CrashHooks:
    """Kill this process with SIGKILL at a named point, for crash tests only.

    ``REBALANCE_CRASH_AT=name`` or ``name@N`` (the N-th time the point is reached). Points:
    ``checkpoint``, ``checkpoint:<STATE>``, ``order:intent_committed``, ``order:before_send``,
    ``order:accepted_before_record``, ``order:sent_committed``, ``order:between_polls``.
    """

    def __init__(self, spec: str | None) -> None:
        self.name, self.nth = None, 1
        if spec:
            name, _, nth = spec.partition("@")
            self.name, self.nth = name, int(nth or 1)
        self.seen = 0

    def point(self, name: str) -> None:
        if self.name is None or name != self.name:
            return
        self.seen += 1
        if self.seen == self.nth:
            logging.getLogger("rebalance").warning("crash hook: SIGKILL at %s", name)
            for h in logging.getLogger().handlers:
                h.flush()
            os.kill(os.getpid(), signal.SIGKILL)


class _RunIdFilter(logging.Filter):
    """Every line carries a run id: the record's own, else the run this thread drives, else "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "run_id"):
            record.run_id = current_run_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(), "level": record.levelname,
               "logger": record.name, "run_id": getattr(record, "run_id", "-"), "message": record.getMessage()}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text", stream: object = None) -> None:
    handler = logging.StreamHandler(stream)  # type: ignore[arg-type]
    handler.addFilter(_RunIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s run=%(run_id)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "alembic", "uvicorn.access", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

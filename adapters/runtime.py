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
from typing import TextIO

from adapters.clock import SystemClock  # noqa: F401 - re-exported for callers of the old location
from statemachine.engine import current_run_id


def _boot_id() -> str:
    """The kernel's boot id ('' when unreadable: then no owner is ever judged dead)."""
    try:
        with open(f"{_PROC}/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    """This process's PID namespace, e.g. 'pid:[4026531836]' ('' when unreadable)."""
    try:
        return os.readlink(f"{_PROC}/self/ns/pid")
    except OSError:
        return ""


#: Owner identities: ``v2|host|boot id|pid namespace|pid|random``. The boot id and the PID
#: namespace tell two containers (or two boots) sharing a hostname apart; a pid means something
#: only within its own namespace and boot.
OWNER_VERSION = "v2"
_SEP = "|"
_MAX_OWNER = 128  # runs.lease_owner is String(128)
_MAX_HOST = 32
_PROC = "/proc"


def _host() -> str:
    return socket.gethostname().replace(_SEP, "_")[:_MAX_HOST]


def lease_owner() -> str:
    """This process's identity as a lease owner, unique per call (a random suffix). At most 128
    characters (the host name is cut to 32), about 106 at most in practice, so that a prefix such
    as the scheduler's ``scheduler:`` still fits a String(128) column."""
    fields = [OWNER_VERSION, _host(), _boot_id(), _pid_namespace(), str(os.getpid()), uuid.uuid4().hex[:8]]
    return _SEP.join(fields)[:_MAX_OWNER]


def lease_is_dead(owner: str) -> bool:
    """True only when ``owner`` names a process of this host, this boot and this PID namespace
    that no longer exists (or is a zombie). Anything else - another host, another container on the
    same hostname (another PID namespace), another boot, an old-format owner string, /proc
    unreadable - is False: such a lease must expire by its heartbeat stopping (fail closed)."""
    parts = owner.split(_SEP)
    if len(parts) != 6 or parts[0] != OWNER_VERSION:
        return False
    _, host, boot, ns, pid, _suffix = parts
    try:
        pid_n = int(pid)
    except ValueError:
        return False
    here_boot, here_ns = _boot_id(), _pid_namespace()
    if not here_boot or not here_ns:
        return False  # cannot tell where we are: trust the lease until it expires
    if (host, boot, ns) != (_host(), here_boot, here_ns):
        return False
    if pid_n <= 0 or pid_n == os.getpid():
        return False
    try:
        os.kill(pid_n, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False
    return _is_zombie(pid_n)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"{_PROC}/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class CrashHooks:
    """Kill (or freeze) this process at a named point, for crash tests only.

    ``REBALANCE_CRASH_AT=name`` or ``name@N`` (the N-th time the point is reached): SIGKILL.
    ``REBALANCE_CRASH_AT=stop:name@N``: SIGSTOP instead, every thread frozen (heartbeat included)
    until a SIGCONT, as a process paused by the kernel, a debugger or a VM migration. Points:
    ``checkpoint``, ``checkpoint:<STATE>``, ``order:intent_committed``, ``order:before_send``,
    ``order:accepted_before_record``, ``order:sent_committed``, ``order:between_polls``.
    """

    def __init__(self, spec: str | None) -> None:
        self.name, self.nth, self.signal = None, 1, signal.SIGKILL
        if spec:
            if spec.startswith("stop:"):
                spec, self.signal = spec[len("stop:"):], signal.SIGSTOP
            name, _, nth = spec.partition("@")
            self.name, self.nth = name, int(nth or 1)
        self.seen = 0

    def point(self, name: str) -> None:
        if self.name is None or name != self.name:
            return
        self.seen += 1
        if self.seen == self.nth:
            logging.getLogger("rebalance").warning("crash hook: %s at %s", self.signal.name, name)
            for h in logging.getLogger().handlers:
                h.flush()
            os.kill(os.getpid(), self.signal)


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


def setup_logging(level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream)
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

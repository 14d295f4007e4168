"""Background runs of the HTTP server: one thread per run, each with an engine of its own.

The database is the truth: a thread only drives a run it holds the lease of, and a server that
stops (or dies) leaves the run at its last checkpoint for ``resume``. This registry only answers
"is a thread of this server driving run X right now" and lets shutdown wait a little.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from statemachine.errors import RebalanceError
from statemachine.records import RunRecord

log = logging.getLogger("rebalance.http")


class BackgroundRuns:
    def __init__(self) -> None:
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def launch(self, run_id: str, drive: Callable[[], RunRecord]) -> bool:
        """Start ``drive`` in a thread for ``run_id``; False when one is already driving it."""
        with self._lock:
            current = self._threads.get(run_id)
            if current is not None and current.is_alive():
                return False
            thread = threading.Thread(
                target=self._drive, args=(run_id, drive), name=f"run-{run_id}", daemon=True
            )
            self._threads[run_id] = thread
            thread.start()
            return True

    @staticmethod
    def _drive(run_id: str, drive: Callable[[], RunRecord]) -> None:
        try:
            done = drive()
            log.info(
                "background run %s stopped: %s in %s",
                run_id,
                done.status,
                done.state,
                extra={"run_id": run_id},
            )
        except RebalanceError as exc:
            log.error(
                "background run %s stopped on an error: %s", run_id, exc.message, extra={"run_id": run_id}
            )
        except Exception:  # noqa: BLE001 - a thread has nobody to raise to; the run keeps its checkpoint
            log.exception(
                "background run %s crashed; it stays at its last checkpoint", run_id, extra={"run_id": run_id}
            )

    def driving(self, run_id: str) -> bool:
        with self._lock:
            t = self._threads.get(run_id)
            return t is not None and t.is_alive()

    def active(self) -> list[str]:
        with self._lock:
            return [rid for rid, t in self._threads.items() if t.is_alive()]

    def join(self, timeout: float = 10.0) -> list[str]:
        """Wait up to ``timeout`` seconds in all; return the runs still being driven."""
        with self._lock:
            threads = list(self._threads.values())
        per = timeout / max(1, len(threads))
        for t in threads:
            t.join(per)
        return self.active()

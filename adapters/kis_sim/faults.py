"""Fault injection in the KIS simulator.

Per process (this module's :class:`FaultQueue`): one-shot faults queued by
:meth:`KisSimulator.inject <adapters.kis_sim.server.KisSimulator.inject>` for the next /uapi calls
(to one path, or any), and random ones drawn from :class:`SimulatorConfig`'s ``error_5xx_rate`` and
``timeout_rate``: a 5xx HTML page, a stall past the client's timeout, a dropped reply (the
request is applied, then the connection closed), an empty or HTML body, EGW00201 / EGW00215 rate
limits, an expired token.

Shared across processes, in the account file's ``faults`` (:meth:`SimAccount.set_faults`,
applied by :class:`adapters.sim.account.SimAccount`): partial fills, rejects, a closed market,
lost order replies, ``accept_delay_s``, ``list_lag_s``, ``clock_skew_s``, and
``balance_rows_missing``, which the balance inquiry takes here (:func:`take_balance_fault`).
"""

from __future__ import annotations

import random
import threading
from typing import Any, Literal

from adapters.kis_sim.config import SimulatorConfig
from adapters.sim.account import SimAccount

Fault = Literal["http500", "timeout", "drop", "empty", "html", "rate_limit", "ledger_limit", "token_expired"]


class FaultQueue:
    """The one-shot faults waiting for the next calls, and the random draws of the config."""

    def __init__(self, seed: int) -> None:
        self._queue: list[tuple[Fault, str | None]] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def add(self, fault: Fault, times: int, path: str | None) -> None:
        with self._lock:
            self._queue.extend([(fault, path)] * times)

    def reset(self, seed: int) -> None:
        """Forget the queued faults; restart the random draws from ``seed``."""
        with self._lock:
            self._queue.clear()
            self._rng = random.Random(seed)

    def take(self, path: str, config: SimulatorConfig) -> Fault | None:
        """The fault for this call to ``path``: the first queued one that fits, else a random one."""
        with self._lock:
            for i, (f, p) in enumerate(self._queue):
                if p is None or p == path:
                    del self._queue[i]
                    return f
        if config.error_5xx_rate and self._rng.random() < config.error_5xx_rate:
            return "http500"
        if config.timeout_rate and self._rng.random() < config.timeout_rate:
            return "timeout"
        return None


def take_balance_fault(account: SimAccount) -> bool:
    """The account file's ``balance_rows_missing`` fault: N balance reads answer without rows."""
    hit = False

    def take(st: dict[str, Any]) -> None:
        nonlocal hit
        n = int(st["faults"].get("balance_rows_missing", 0) or 0)
        if n > 0:
            st["faults"]["balance_rows_missing"] = n - 1
            hit = True

    if int(account.read()["faults"].get("balance_rows_missing", 0) or 0) > 0:
        account.update(take)
    return hit

"""A no-persistence double for the durability benchmark: the simulated account kept in memory (no
file, no lock, no fsync). With the in-memory store (adapters.memory) it lets the benchmark time the
engine's own work, so the difference to a real database is the cost of the checkpoints alone."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.clock import SystemClock
from adapters.sim.account import DEMO_DIR, SimAccount

DEMO_STATE: dict[str, Any] = {
    "cano": "50001234", "product": "01", "alias": "demo", "cash": 0, "holdings": {}, "prices": {},
    "names": {}, "orders": [], "next_odno": 1, "faults": {}, "calls": {},
    **json.loads((DEMO_DIR / "demo_account.json").read_text()),
}


class MemoryAccount(SimAccount):
    """The simulated account's rules over a dict: no file, no lock, no fsync."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.path = Path("<memory>")
        self.state = copy.deepcopy(DEMO_STATE)
        self.clock = clock or SystemClock().now
        self.session = "always-open"

    @contextmanager
    def _tx(self) -> Iterator[dict[str, Any]]:
        self._mature(self.state)
        yield self.state

    def read(self) -> dict[str, Any]:
        return self.state

"""The lease probe the entry points give the reading use cases: a run -> its lease view
(:func:`statemachine.liveness.lease_view`) at the clock's now, with this process's liveness test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.bootstrap import App
from adapters.runtime import lease_is_dead
from statemachine.liveness import lease_view
from statemachine.records import RunRecord

LeaseProbe = Callable[[RunRecord], dict[str, Any]]


def lease_probe(app: App) -> LeaseProbe:
    now = app.clock.now()
    ttl = app.settings.lease_ttl_s
    return lambda run: lease_view(run, now, ttl, lease_is_dead)

"""Is a run's lease holder still there? The operator's view of a run's lease (``status``, the API's
run view, the page): held by a live holder, free, or *stale* - held by a process that died (a
process of this host that no longer exists) or whose lease expired without a renewal.

Pure: the caller gives the instant, the lease time-to-live and the liveness probe
(:func:`adapters.runtime.lease_is_dead`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .records import RunRecord
from .states import RunStatus

#: What an operator can do about a stale lease (the CLI commands and the page's buttons).
STALE_ACTIONS = ("resume", "force", "abort")


def last_seen(run: RunRecord, ttl_s: float) -> datetime | None:
    """When the holder last extended its lease (every checkpoint, send and renewal extends it by the ttl)."""
    if run.lease_expires_at is None:
        return None
    return run.lease_expires_at - timedelta(seconds=ttl_s)


def lease_view(run: RunRecord, now: datetime, ttl_s: float,
               lease_is_dead: Callable[[str], bool]) -> dict[str, Any]:
    """``{"state": "live" | "stale" | "free" | "none", "holder", "last_seen_at", "seen_s_ago", "dead",
    "expired", "message", "actions"}``. ``none``: the run is finished (no lease matters)."""
    holder = run.lease_owner
    seen = last_seen(run, ttl_s)
    ago = None if seen is None else max(0, int((now - seen).total_seconds()))
    view: dict[str, Any] = {"state": "none", "holder": holder, "last_seen_at": seen.isoformat() if seen else None,
                            "seen_s_ago": ago, "dead": False, "expired": False, "message": None, "actions": []}
    if run.status not in (RunStatus.RUNNING, RunStatus.BLOCKED):
        return view
    if not holder:
        if run.status is RunStatus.BLOCKED:  # waits for an operator by design: its reason says why
            view.update(state="free", actions=["force", "abort"])
        else:
            view.update(state="free", actions=list(STALE_ACTIONS),
                        message="no process holds the run: it was interrupted or stopped — resume / force / abort")
        return view
    dead = lease_is_dead(holder)
    expired = run.lease_expires_at is not None and run.lease_expires_at <= now
    view.update(dead=dead, expired=expired)
    if dead or expired:
        why = "its process is gone" if dead else "its lease expired without a renewal"
        view.update(state="stale", actions=list(STALE_ACTIONS),
                    message=f"stale lease: holder {holder} last seen {ago} s ago ({why}) — resume / force / abort")
    else:
        view.update(state="live", message=f"held by {holder} (last seen {ago} s ago)")
    return view

"""What the operator is told when the automatic buy-side recovery gives up on a run.

:func:`notify_buy_recovery_exhausted` is the hook the scheduler passes to
:func:`statemachine.application.scheduled.recover_buy_sides` as ``on_exhausted``. The run itself
already records it (an audit row ``buy_recovery_exhausted`` and the run's ``error``, shown by
``status``, ``show`` and the API) and the application logs an ERROR. The notification services of
``REBALANCE_NOTIFY_URLS`` (:mod:`adapters.notify`) were already told by the engine when that last
attempt ended (a ``finished`` notice with status PARTIAL and its reason); this log line is the
scheduler's own word that it gives up.
"""

from __future__ import annotations

import logging

from statemachine.records import RunRecord

log = logging.getLogger("rebalance.notify")


def notify_buy_recovery_exhausted(run: RunRecord, message: str) -> None:
    """Tell the operator that run ``run`` stays PARTIAL after its last automatic buy-side recovery."""
    log.error("operator action needed for run %s of %s: %s", run.id, run.account, message,
              extra={"run_id": run.id})

"""Runs as an operator finds them after a crash (issue 21): killed with one sell filled and one sent,
its lease still held by a process that is gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from statemachine.models import OrderStatus, Side
from statemachine.records import Fence
from tests.e2e.test_http_api import interrupted_run


def dead_owner() -> str:
    """A lease owner naming a process of this host, boot and PID namespace that has exited."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    ns = os.readlink("/proc/self/ns/pid")
    return "|".join(["v2", socket.gethostname()[:32], boot, ns, child.stdout.strip(), "deadbeef"])


def killed_selling_run(app, owner: str | None = None) -> tuple[str, str]:
    """A run killed while selling: its first sell FILLED, its second SENT (no fill yet), the lease still
    held (until well after now) by ``owner`` (default: a process that is gone). Returns (run id, owner)."""
    run_id = interrupted_run(app, "SELL_VALIDATED")
    owner = owner or dead_owner()
    now = datetime.now(UTC)
    with app.db.unit_of_work() as uow:
        run = uow.get_run(run_id)
        fence = uow.acquire_lease(run_id, owner, now, 600)
        assert isinstance(fence, Fence)
        sells = [o for a in uow.plan_attempts(run_id) if a.side is Side.SELL and a.plan for o in a.plan.orders]
        first, second = sells[0], sells[1]
        a = uow.add_order(run_id=run_id, account=run.account, side=Side.SELL, ticker=first.ticker, name=first.name,
                          quantity=first.quantity, attempt=1, seq=0, status=OrderStatus.INTENT,
                          created_at=now - timedelta(seconds=9), fence=fence)
        uow.update_order(a.id, fence=fence, status=OrderStatus.FILLED, odno="0000117001", sends=1,
                         filled_quantity=first.quantity, avg_price=14000.0, amount=14000 * first.quantity,
                         sent_at=now - timedelta(seconds=8))
        b = uow.add_order(run_id=run_id, account=run.account, side=Side.SELL, ticker=second.ticker, name=second.name,
                          quantity=second.quantity, attempt=1, seq=0, status=OrderStatus.INTENT,
                          created_at=now - timedelta(seconds=8), fence=fence)
        uow.update_order(b.id, fence=fence, status=OrderStatus.SENT, odno="0000117002", sends=1,
                         sent_at=now - timedelta(seconds=7))
        uow.commit()
    return run_id, owner

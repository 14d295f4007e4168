"""The schedule on PostgreSQL: every pass, each enabled account whose cron time is due (inside
its grace period, its market open) gets one job on the queue; any number of these schedulers may
run (on several machines): the slot's claim in ``schedule_claims`` lets exactly one enqueue it."""

from __future__ import annotations

import logging
from datetime import datetime

import procrastinate

from adapters.bootstrap import follows_krx_session
from adapters.config import Settings
from adapters.db.accounts import AccountRepository
from adapters.db.connect import Database
from adapters.scheduler.calendar import XKRX, AlwaysOpen
from adapters.scheduler.runner import Schedule, ScheduleError
from adapters.workers.queue import Enqueued, enqueue_due
from statemachine.ports import Clock

log = logging.getLogger("rebalance.workers")


def due_accounts(settings: Settings, db: Database, clock: Clock, now: datetime) -> list[tuple[str, datetime]]:
    """(alias, due time) of every enabled account due now, its market open."""
    out = []
    for account in AccountRepository(db.engine, clock).list(enabled_only=True):
        try:
            schedule = Schedule.parse(account.schedule_cron or settings.schedule_cron, settings.schedule_tz,
                                      settings.schedule_grace_s)
        except ScheduleError as exc:
            log.error("account %s has no usable schedule: %s", account.alias, exc.message)
            continue
        due = schedule.due(now)
        if due is None:
            continue
        kis = account.broker.startswith("kis-") and account.broker != "kis-sim"
        calendar = XKRX if kis or follows_krx_session(settings) else AlwaysOpen()
        st = calendar.status(now)
        if not st.open:
            log.info("account %s: run due at %s skipped: %s", account.alias, due.isoformat(), st.reason)
            continue
        out.append((account.alias, due))
    return out


def enqueue_pass(queue_app: procrastinate.App, settings: Settings, db: Database, clock: Clock, *,
                 owner: str, now: datetime | None = None) -> list[Enqueued]:
    now = now or clock.now()
    return enqueue_due(queue_app, db, due_accounts(settings, db, clock, now), owner=owner, now=now)

"""Cron schedules in Asia/Seoul: parsing errors, due times and the grace period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.scheduler.runner import Schedule, ScheduleError
from statemachine.units import KST


@pytest.mark.parametrize("cron", ["61 10 * * 1-5", "every day", "0 10 * *", "0 10 * * 1-9", ""])
def test_bad_cron_is_a_clear_error(cron):
    with pytest.raises(ScheduleError) as e:
        Schedule.parse(cron)
    assert "cron" in e.value.message.lower() or "schedule" in e.value.message.lower()
    assert "\n" not in e.value.message


@pytest.mark.parametrize("tz", ["Mars/Base", "Asia/Seol", "../etc/passwd"])
def test_unknown_time_zone(tz):
    with pytest.raises(ScheduleError, match="unknown time zone"):
        Schedule.parse("0 10 * * 1-5", tz)


def test_due_inside_the_grace_period_only():
    s = Schedule.parse("0 10 * * 1-5", "Asia/Seoul", grace_s=600)
    due = datetime(2026, 11, 25, 10, 0, tzinfo=KST)
    assert s.due(due) == due
    assert s.due(due + timedelta(seconds=599)) == due
    assert s.due(due + timedelta(seconds=600)) is None
    assert s.due(due - timedelta(seconds=1)) is None
    assert s.next_after(due) == datetime(2026, 11, 26, 10, 0, tzinfo=KST)
    friday = datetime(2026, 11, 27, 10, 0, tzinfo=KST)
    assert s.next_after(friday) == datetime(2026, 11, 30, 10, 0, tzinfo=KST)  # 1-5: Monday next


def test_cron_is_read_in_its_time_zone():
    seoul = Schedule.parse("0 10 * * *", "Asia/Seoul")
    utc = Schedule.parse("0 10 * * *", "UTC")
    at = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 10:00 in Seoul
    assert seoul.due(at) == at and utc.due(at) is None

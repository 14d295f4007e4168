"""Wall-clock deadlines of the Gemini planner: per HTTP call (the whole reply, not one read) and per
planning step (every call and backoff wait of one attempt).

The logic is tested on a fake clock (no real waiting, nothing depends on the machine's speed or on
faketime); one test trickles a real reply through the local fake server, which the SDK's per-read
timeout lets through (it FAILED before the per-call deadline existed: the trickled reply became the
plan). Nothing here uses a timed wait on a lock or an event: under libfaketime such a wait never
returns (see adapters/gemini/deadline.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from adapters.gemini.deadline import CallDeadlineExceeded, call_with_deadline
from adapters.gemini.planner import GeminiPlanner, make_client
from statemachine.errors import PlanningError
from statemachine.models import Side
from statemachine.planner_greedy import GreedyPlanner
from tests.fake_gemini import FakeGemini, reply, trickle
from tests.gemini_helpers import FAKE_KEY, Sleeps, demo_context, fast_settings, gemini_planner, plan_json


class FakeClock:
    """monotonic() moves only when someone sleeps on this clock (a tiny real pause lets threads run)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def now(self) -> Any:  # not used by the deadline logic
        raise AssertionError("the deadline logic must not read the wall clock")

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds
        time.sleep(0.0005)


class BlockedModels:
    """A client whose generate_content blocks until released (a call that never completes)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def generate_content(self, **_: Any) -> Any:
        self.calls += 1
        self.release.wait()
        raise RuntimeError("released")


class BlockedClient:
    def __init__(self) -> None:
        self.models = BlockedModels()


def test_a_call_that_does_not_finish_is_stopped_at_its_deadline_on_the_clock() -> None:
    clock, gate = FakeClock(), threading.Event()
    start = clock.t
    with pytest.raises(CallDeadlineExceeded) as info:
        call_with_deadline(gate.wait, 2.0, clock)
    gate.set()
    assert clock.t - start == pytest.approx(2.0) and "within 2000 ms" in str(info.value)


def test_a_call_that_finishes_returns_its_value_or_raises_its_error() -> None:
    clock = FakeClock()
    assert call_with_deadline(lambda: 42, 5.0, clock) == 42

    def boom() -> None:
        raise ValueError("bad reply")
    with pytest.raises(ValueError, match="bad reply"):
        call_with_deadline(boom, 5.0, clock)
    assert clock.t - 1000.0 < 5.0


def test_calls_past_their_deadline_are_retried_timeouts_until_the_steps_deadline(tmp_path: Path) -> None:
    """timeout 2 s per call, 5 s per step, backoff 2 s then 4 s: call 1 stops at 2 s, the wait ends at
    4 s, call 2 gets the step's last second, and the 4 s wait would pass the step's deadline."""
    clock, client = FakeClock(), BlockedClient()
    settings = fast_settings(timeout_ms=2000, step_timeout_ms=5000, retry_attempts=3)
    planner = GeminiPlanner(client, settings, clock=clock)  # type: ignore[arg-type]
    start = clock.t
    try:
        with pytest.raises(PlanningError) as info:
            planner.plan(demo_context(tmp_path, Side.SELL))
    finally:
        client.models.release.set()
    msg = info.value.message
    assert info.value.fields["reason"] == "deadline" and client.models.calls == 2
    assert msg.startswith("the planning step's deadline (5000 ms) passed after 2 Gemini call(s)")
    assert "#1: timed out after 2000 ms" in msg and "#2: timed out after 1000 ms" in msg
    rows = planner.last_meta["transport_attempts"]
    assert [r["outcome"] for r in rows] == ["error", "error"] and rows[0]["retry_in_s"] == 2.0
    assert "retry_in_s" not in rows[1] and clock.t - start == pytest.approx(5.0)
    assert planner.last_meta["error"] == msg and planner.last_meta["step_timeout_ms"] == 5000


def test_no_call_is_made_once_the_step_deadline_has_passed(tmp_path: Path) -> None:
    clock, client = FakeClock(), BlockedClient()
    settings = fast_settings(timeout_ms=2000, step_timeout_ms=2000, retry_attempts=3)
    planner = GeminiPlanner(client, settings, clock=clock)  # type: ignore[arg-type]
    try:
        with pytest.raises(PlanningError) as info:
            planner.plan(demo_context(tmp_path, Side.SELL))
    finally:
        client.models.release.set()
    assert client.models.calls == 1 and "passed after 1 Gemini call(s)" in info.value.message


def test_a_reply_trickled_past_the_call_deadline_is_a_retried_timeout(tmp_path: Path) -> None:
    """Live, on the fake server: 6 pieces 0.4 s apart (each read well inside the SDK's 1 s read
    timeout, the whole reply 2 s) under a 1 s call deadline; the retry gets the reply at once."""
    ctx = demo_context(tmp_path, Side.SELL)
    good = plan_json(GreedyPlanner().plan(ctx))
    settings = fast_settings(timeout_ms=1000, retry_attempts=2)
    sleeps = Sleeps()
    with FakeGemini() as fake:
        fake.script(trickle(good, pieces=6, seconds=0.4), reply(good))
        client = make_client(FAKE_KEY, base_url=fake.base_url, timeout_ms=settings.timeout_ms)
        plan = gemini_planner(client, settings, sleeps).plan(ctx)
    rows = plan.meta["transport_attempts"]
    assert [r["outcome"] for r in rows] == ["error", "ok"] and len(fake.requests) == 2
    assert rows[0]["error"].startswith("timed out after 1000 ms") and sleeps == [2.0]
    assert plan.meta["transport_retries"] == 1 and plan.orders

"""Test doubles behind the ports: a fake clock and a scripted planner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from statemachine.models import Plan, PlanningContext, PlanOrder, Side


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.t = start or datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
        self.mono = 0.0

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def monotonic(self) -> float:
        return self.mono

    def set(self, t: datetime) -> datetime:
        """Move to ``t`` (forward or back; monotonic time moves forward only) and return it."""
        self.mono += max(0.0, (t - self.t).total_seconds())
        self.t = t
        return t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)
        self.mono += seconds


class ScriptedPlanner:
    """Returns the given plans in turn (the last one repeats)."""

    def __init__(self, name: str, plans: list[list[tuple[str, int]]], side: Side = Side.SELL,
                 fallback=None) -> None:
        self.name = name
        self.plans = plans
        self.side = side
        self.calls = 0
        self.fallback = fallback

    def plan(self, ctx: PlanningContext) -> Plan:
        if ctx.side is not self.side and self.fallback is not None:
            return self.fallback.plan(ctx)
        orders = self.plans[min(self.calls, len(self.plans) - 1)]
        self.calls += 1
        return Plan(side=ctx.side, planner=self.name,
                    orders=[PlanOrder(ticker=t, quantity=q, reason="scripted") for t, q in orders])

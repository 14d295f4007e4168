"""The backtest's input and output (pure data; the readers and writers are in adapters/backtest)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import TargetsError
from ..fees import FeeModel
from ..models import Targets, Thresholds
from ..policies import Policy


class PriceHistory(BaseModel):
    """Daily closes (integer KRW), one list per ticker aligned with ``dates`` (ascending, unique)."""

    model_config = ConfigDict(frozen=True)

    dates: list[date]
    closes: dict[str, list[int]]
    #: ex-date -> ticker -> KRW per share held at the close before the ex-date
    dividends: dict[date, dict[str, int]] = Field(default_factory=dict)
    synthetic: bool = False

    @model_validator(mode="after")
    def _aligned(self) -> PriceHistory:
        n = len(self.dates)
        if any(b <= a for a, b in zip(self.dates, self.dates[1:], strict=False)):
            raise ValueError("dates must be ascending and unique")
        for t, c in self.closes.items():
            if len(c) != n:
                raise ValueError(f"{t}: {len(c)} closes for {n} dates")
            if any(p <= 0 for p in c):
                raise ValueError(f"{t}: closes must be positive")
        return self

    def between(self, start: date | None, end: date | None) -> PriceHistory:
        idx = [i for i, d in enumerate(self.dates) if (start is None or d >= start) and (end is None or d <= end)]
        if not idx:
            raise ValueError(f"no trading day between {start} and {end}")
        a, b = idx[0], idx[-1] + 1
        return PriceHistory(dates=self.dates[a:b], closes={t: c[a:b] for t, c in self.closes.items()},
                            dividends={d: v for d, v in self.dividends.items()
                                       if self.dates[a] <= d <= self.dates[b - 1]},
                            synthetic=self.synthetic)


class TargetChange(BaseModel):
    """Targets in force from ``start`` (inclusive) until the next change."""

    model_config = ConfigDict(frozen=True)

    start: date
    targets: Targets


class BacktestConfig(BaseModel):
    """Starting account, targets timeline, thresholds, fees, policy, planner."""

    model_config = ConfigDict(frozen=True)

    holdings: dict[str, int] = Field(default_factory=dict)
    cash: int = Field(100_000_000, ge=0)
    timeline: list[TargetChange]
    thresholds: Thresholds = Field(default_factory=Thresholds)
    fees: FeeModel = Field(default_factory=FeeModel)
    policy: Policy = Field(default_factory=Policy)
    planner: str = "optimal"
    cash_buffer_percent: float = Field(0.5, ge=0, le=100)
    sell_untargeted: bool = True

    @model_validator(mode="after")
    def _timeline(self) -> BacktestConfig:
        if not self.timeline:
            raise TargetsError("backtest: the targets timeline is empty", field="targets")
        starts = [c.start for c in self.timeline]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise TargetsError("backtest: target changes must have ascending, unique dates", field="targets")
        return self

    def targets_on(self, day: date) -> Targets:
        current = self.timeline[0].targets
        for change in self.timeline:
            if change.start <= day:
                current = change.targets
            else:
                break
        return current


class TradeRow(BaseModel):
    side: str
    ticker: str
    quantity: int
    price: int
    amount: int
    commission: int
    tax: int


class RebalanceRow(BaseModel):
    date: date
    reason: str
    trades: list[TradeRow]
    commission: int
    tax: int
    traded_value: int
    drift_before_pp: float
    drift_after_pp: float
    failed: str | None = None


class DayRow(BaseModel):
    date: date
    value: int
    cash: int
    weights: dict[str, float]  # global actual pct per ticker (CASH included)
    drift: dict[str, float]  # target - actual, pp of T
    max_abs_drift_pp: float
    rebalanced: bool = False
    note: str | None = None


class Summary(BaseModel):
    final_value: int
    total_return_pct: float
    tracking_error_pp: float  # annualised st. dev. of daily return minus the ideal daily rebalance's
    mean_abs_drift_pp: float
    max_abs_drift_pp: float
    turnover: float  # traded value / mean daily value, over the whole period
    traded_value: int
    commissions: int
    taxes: int
    rebalances: int
    dividends: int = 0


class BacktestResult(BaseModel):
    policy: str
    planner: str
    synthetic: bool
    start: date
    end: date
    days: list[DayRow]
    rebalances: list[RebalanceRow]
    summary: Summary
    buy_and_hold: Summary
    ideal_daily: Summary
    #: daily values of the comparisons: "buy_and_hold", "ideal_daily"
    series: dict[str, list[float]] = Field(default_factory=dict)

    def brief(self) -> dict[str, Any]:
        """The summary block only (the CLI's table, the API's quick answer)."""
        return {"policy": self.policy, "planner": self.planner, "synthetic": self.synthetic,
                "start": self.start.isoformat(), "end": self.end.isoformat(),
                "summary": self.summary.model_dump(), "buy_and_hold": self.buy_and_hold.model_dump(),
                "ideal_daily": self.ideal_daily.model_dump()}

"""``POST /api/backtest``: run a backtest (synthetic or an uploaded prices CSV) and answer its
summary, its rebalances and the chart series the page draws. It changes nothing, so it needs no
token; its size is bounded (20 synthetic years, a 5 MB CSV)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from adapters.backtest import data, service
from statemachine.errors import DomainError
from statemachine.policies import Policy

DEMO_TARGETS = Path(__file__).resolve().parents[1] / "sim" / "demo_data" / "demo_targets.json"

router = APIRouter(tags=["backtest"])


class BacktestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    synthetic_years: float | None = Field(None, gt=0, le=20, description="SYNTHETIC prices (seeded GBM) for "
                                          "the targets' tickers; give this or prices_csv")
    seed: int = 20
    prices_csv: str | None = Field(None, max_length=5_000_000, description="date,ticker,close")
    dividends_csv: str | None = Field(None, max_length=1_000_000, description="date,ticker,amount")
    targets: dict[str, Any] | list[Any] | None = Field(None, description="targets or a timeline; default with "
                                                        "synthetic prices: the demo targets")
    holdings: dict[str, int] = Field(default_factory=dict)
    cash: int = Field(100_000_000, ge=0)
    policy: Policy = Field(default_factory=Policy)
    planner: Literal["optimal", "greedy"] = "optimal"
    mp_threshold: float = Field(3.0, ge=0, le=100)
    sub_mp_threshold: float = Field(5.0, ge=0, le=100)
    start: date | None = None
    end: date | None = None


class BacktestOut(BaseModel):
    policy: str
    planner: str
    synthetic: bool
    start: date
    end: date
    summary: dict[str, Any]
    buy_and_hold: dict[str, Any]
    ideal_daily: dict[str, Any]
    rebalances: list[dict[str, Any]]
    chart: dict[str, list[Any]] = Field(description="dates, value, buy_and_hold, ideal_daily, max_abs_drift_pp, "
                                        "rebalanced: one entry per day")


@router.post("/api/backtest", response_model=BacktestOut)
def backtest(body: BacktestIn) -> dict[str, Any]:
    """Replay the policy over the history with the live drift, planner, R1-R5 and fee code."""
    if (body.synthetic_years is None) == (body.prices_csv is None):
        raise DomainError("give synthetic_years or prices_csv (one of them)", field="prices_csv")
    if body.synthetic_years is not None:
        history = data.synthetic_history(body.synthetic_years, seed=body.seed)
        targets = body.targets if body.targets is not None else json.loads(DEMO_TARGETS.read_text())
    else:
        assert body.prices_csv is not None
        history = data.parse_prices(body.prices_csv, "prices.csv", body.dividends_csv)
        if body.targets is None:
            raise DomainError("targets are required with prices_csv", field="targets")
        targets = body.targets
    try:
        history = history.between(body.start, body.end)
    except ValueError as exc:
        raise DomainError(str(exc), field="start") from None
    cfg = service.make_config(history, targets, holdings=body.holdings, cash=body.cash,
                              policy=body.policy.model_dump(), planner=body.planner, mp_threshold=body.mp_threshold,
                              sub_mp_threshold=body.sub_mp_threshold)
    result = service.run(history, cfg)
    doc = service.result_json(result, days=False)
    doc["chart"] = {
        "dates": [d.date.isoformat() for d in result.days],
        "value": [d.value for d in result.days],
        "buy_and_hold": result.series.get("buy_and_hold", []),
        "ideal_daily": result.series.get("ideal_daily", []),
        "max_abs_drift_pp": [round(d.max_abs_drift_pp, 4) for d in result.days],
        "rebalanced": [d.rebalanced for d in result.days],
    }
    return doc

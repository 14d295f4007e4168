"""Backtesting the rebalancer (issue 20): pure replay over a price history with the live drift,
policy, planner, rule-check and fee code. Readers, writers and charts are in ``adapters/backtest``."""

from .engine import rebalance, run_backtest
from .models import BacktestConfig, BacktestResult, PriceHistory, Summary, TargetChange

__all__ = ["BacktestConfig", "BacktestResult", "PriceHistory", "Summary", "TargetChange", "rebalance",
           "run_backtest"]

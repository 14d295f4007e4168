"""Build a backtest from documents (the CLI's files, the API's JSON) and run it.

Targets: a targets document (``{"mp": ..., "sub_mp": ...}``, in force from the first day), or a
timeline ``{"timeline": [{"start": "2020-01-02", "targets": {...}}, ...]}`` (or that list alone).
Holdings: ``{"069500": 120, ...}`` (shares). The calendar policy's trading days are the XKRX
sessions when the exchange-calendars package can answer for the whole history, else the
history's own dates (a synthetic history always uses its own).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from pydantic import ValidationError

from statemachine.backtest import BacktestConfig, BacktestResult, PriceHistory, TargetChange, run_backtest
from statemachine.backtest.engine import Progress
from statemachine.errors import DomainError, TargetsError
from statemachine.fees import FeeModel
from statemachine.models import Targets, Thresholds
from statemachine.policies import Policy

from .data import DataError


def timeline_from_doc(doc: Any, first_day: date) -> list[TargetChange]:
    if isinstance(doc, dict) and "timeline" in doc:
        doc = doc["timeline"]
    if isinstance(doc, dict):
        return [TargetChange(start=first_day, targets=Targets.model_validate(doc))]
    if not isinstance(doc, list) or not doc:
        raise TargetsError("targets: a targets object or a non-empty timeline list", field="targets")
    out = []
    for i, item in enumerate(doc):
        if not isinstance(item, dict) or "start" not in item or "targets" not in item:
            raise TargetsError(f"targets timeline[{i}]: needs 'start' (YYYY-MM-DD) and 'targets'",
                               field=f"timeline[{i}]")
        try:
            start = date.fromisoformat(str(item["start"]))
        except ValueError:
            raise TargetsError(f"targets timeline[{i}]: bad start {item['start']!r}",
                               field=f"timeline[{i}].start") from None
        out.append(TargetChange(start=start, targets=Targets.model_validate(item["targets"])))
    out.sort(key=lambda c: c.start)
    if out[0].start > first_day:  # the first targets apply from the first day
        out[0] = TargetChange(start=first_day, targets=out[0].targets)
    return out


def holdings_from(text: str | None) -> dict[str, int]:
    """``{"069500": 10}`` JSON or ``069500=10,360750=5``."""
    if not text:
        return {}
    text = text.strip()
    try:
        doc = json.loads(text) if text.startswith("{") else {
            k.strip(): int(v) for k, v in (p.split("=", 1) for p in text.split(",") if p.strip())}
    except (ValueError, json.JSONDecodeError) as exc:
        raise DataError(f"holdings: expected JSON {{\"069500\": 10}} or 069500=10,...: {exc}") from None
    out = {}
    for t, q in doc.items():
        if isinstance(q, bool) or not isinstance(q, int) or q < 0:
            raise DataError(f"holdings: {t} needs a whole number of shares >= 0, got {q!r}")
        out[str(t)] = q
    return out


def xkrx_sessions(start: date, end: date) -> list[date] | None:
    """The XKRX sessions between two dates, or None when the calendar cannot answer (out of its range)."""
    try:
        import exchange_calendars as xcals

        cal = xcals.get_calendar("XKRX")
        if start < cal.first_session.date() or end > cal.last_session.date():
            return None
        return [d.date() for d in cal.sessions_in_range(start.isoformat(), end.isoformat())]
    except Exception:  # noqa: BLE001 - the history's own dates are the fallback
        return None


def make_config(history: PriceHistory, targets_doc: Any, *, holdings: dict[str, int] | None = None,
                cash: int = 100_000_000, policy: dict[str, Any] | None = None, planner: str = "optimal",
                mp_threshold: float = 3.0, sub_mp_threshold: float = 5.0,
                fees: FeeModel | None = None, cash_buffer_percent: float = 0.5) -> BacktestConfig:
    try:
        return BacktestConfig(holdings=holdings or {}, cash=cash,
                              timeline=timeline_from_doc(targets_doc, history.dates[0]),
                              thresholds=Thresholds(mp=mp_threshold, sub_mp=sub_mp_threshold),
                              fees=fees or FeeModel(), policy=Policy.model_validate(policy or {}), planner=planner,
                              cash_buffer_percent=cash_buffer_percent)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(p) for p in e["loc"]) or "$"
        raise DomainError(f"backtest: '{loc}': {e['msg']}", field=loc) from None


def run(history: PriceHistory, cfg: BacktestConfig, progress: Progress | None = None) -> BacktestResult:
    sessions = None
    if cfg.policy.name == "calendar" and not history.synthetic:
        sessions = xkrx_sessions(history.dates[0], history.dates[-1])
    return run_backtest(history, cfg, trading_days=sessions, progress=progress)


def result_json(result: BacktestResult, *, days: bool = True) -> dict[str, Any]:
    doc = result.model_dump(mode="json")
    if not days:
        doc.pop("days")
        doc.pop("series")
    return doc

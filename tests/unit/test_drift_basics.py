"""Drift against DOMAIN.md section 2, both sides of the threshold edge."""

from __future__ import annotations

import pytest

from statemachine.drift import drift_report
from statemachine.models import Holding, Snapshot, Targets, Thresholds

TARGETS = Targets.model_validate({
    "mp": {"Stocks": 50, "Bonds": 40, "Alternatives": 0, "Cash": 10},
    "sub_mp": {"Stocks": {"111111": 0.5, "222222": 0.5}, "Bonds": {"333333": 1.0}, "Cash": {"CASH": 1.0}},
})


def snap(a: int, b: int, c: int, cash: int, other: int = 0) -> Snapshot:
    hs = [Holding(ticker="111111", quantity=a, orderable_quantity=a, price=1000),
          Holding(ticker="222222", quantity=b, orderable_quantity=b, price=1000),
          Holding(ticker="333333", quantity=c, orderable_quantity=c, price=1000)]
    if other:
        hs.append(Holding(ticker="999999", quantity=other, orderable_quantity=other, price=1000))
    return Snapshot(holdings=hs, cash=cash)


def test_on_target_is_not_needed():
    r = drift_report(snap(250, 250, 400, 100_000), TARGETS, Thresholds())
    assert not r.needed and r.total == 1_000_000
    assert r.cls("Stocks").drift == pytest.approx(0)


def test_mp_threshold_edge_both_sides():
    # Stocks at 53% -> drift -3.0 = threshold: exceeded; 52.9% -> not
    at = drift_report(snap(265, 265, 370, 100_000), TARGETS, Thresholds(mp=3, sub_mp=50))
    assert at.cls("Stocks").drift == pytest.approx(-3.0) and at.cls("Stocks").exceeded and at.needed
    below = drift_report(snap(265, 264, 371, 100_000), TARGETS, Thresholds(mp=3, sub_mp=50))
    assert not below.cls("Stocks").exceeded and not below.needed


def test_sub_mp_drift_is_in_points_of_the_class():
    r = drift_report(snap(300, 200, 400, 100_000), TARGETS, Thresholds(mp=50, sub_mp=10))
    row = r.ticker("111111")
    assert row.actual_weight == pytest.approx(60.0) and row.drift == pytest.approx(-10.0) and row.exceeded
    assert r.ticker("222222").drift == pytest.approx(10.0)


def test_untargeted_holding_is_class_other_with_target_zero():
    r = drift_report(snap(250, 250, 350, 100_000, other=50), TARGETS, Thresholds())
    other = r.cls("Other")
    assert other.target_pct == 0 and other.actual_pct == pytest.approx(5.0) and other.exceeded
    assert r.ticker("999999").asset_class == "Other" and r.ticker("999999").target_value == 0


def test_empty_class_has_zero_in_class_weight():
    r = drift_report(snap(250, 250, 0, 500_000), TARGETS, Thresholds())
    assert r.ticker("333333").actual_weight == 0 and r.ticker("333333").drift == pytest.approx(100.0)
    assert r.cls("Bonds").drift == pytest.approx(40.0)

import pytest

from statemachine.drift import drift_report
from statemachine.models import CASH_TICKER, OTHER, Thresholds
from tests.unit._mathkit import simple, snapshot, targets


def test_mp_drift_per_class_uses_the_seed_sign_convention():
    snap, tg = simple()
    report = drift_report(snap, tg, Thresholds())
    assert report.total == 10_000_000
    stocks, bonds, cash = report.cls("Stocks"), report.cls("Bonds"), report.cls("Cash")
    assert stocks.drift == pytest.approx(-20.0) and stocks.exceeded  # overweight = negative = sell
    assert bonds.drift == pytest.approx(20.0) and bonds.exceeded
    assert cash.drift == pytest.approx(0.0) and not cash.exceeded
    assert report.needed
    assert report.cls(OTHER) is None  # nothing untargeted held


def test_sub_mp_drift_is_in_points_of_the_class():
    tg = targets({"Stocks": 100}, {"Stocks": {"111111": 0.5, "222222": 0.5}})
    snap = snapshot(0, {"111111": (60, 10_000), "222222": (40, 10_000)})
    report = drift_report(snap, tg, Thresholds(mp=3, sub_mp=5))
    a, b = report.ticker("111111"), report.ticker("222222")
    assert a.actual_weight == pytest.approx(60.0) and a.drift == pytest.approx(-10.0) and a.exceeded
    assert b.drift == pytest.approx(10.0) and b.exceeded
    assert a.target_value == 500_000 and a.global_target_pct == pytest.approx(50.0)


@pytest.mark.parametrize("held, exceeded", [(55, True), (54, False), (45, True), (46, False)])
def test_a_threshold_is_exceeded_at_its_edge_on_both_sides(held, exceeded):
    tg = targets({"Stocks": 100}, {"Stocks": {"111111": 0.5, "222222": 0.5}})
    snap = snapshot(0, {"111111": (held, 10_000), "222222": (100 - held, 10_000)})
    report = drift_report(snap, tg, Thresholds(mp=3, sub_mp=5))
    assert report.ticker("111111").exceeded is exceeded
    assert report.needed is exceeded


def test_cash_row_is_the_deposit_against_its_sub_mp_weight():
    snap, tg = simple()
    row = drift_report(snap, tg, Thresholds()).ticker(CASH_TICKER)
    assert row.asset_class == "Cash" and row.value == 1_000_000 and row.target_value == 1_000_000
    assert row.target_weight == pytest.approx(100.0)


def test_cash_row_exists_when_the_cash_class_lists_nothing():
    tg = targets({"Stocks": 90, "Cash": 10}, {"Stocks": {"111111": 1.0}})
    snap = snapshot(3_000_000, {"111111": (700, 10_000)})
    report = drift_report(snap, tg, Thresholds())
    row = report.ticker(CASH_TICKER)
    assert row is not None and row.global_target_pct == pytest.approx(10.0)
    assert row.global_actual_pct == pytest.approx(30.0)
    assert report.total_abs_drift == pytest.approx(40.0)  # 20 under in stocks, 20 over in cash
    assert report.securities_abs_drift == pytest.approx(20.0)


def test_cash_deposit_has_target_zero_when_the_cash_class_lists_only_a_fund():
    tg = targets({"Stocks": 90, "Cash": 10}, {"Stocks": {"111111": 1.0}, "Cash": {"333333": 1.0}})
    snap = snapshot(1_000_000, {"111111": (900, 10_000)})
    report = drift_report(snap, tg, Thresholds())
    assert report.ticker(CASH_TICKER).global_target_pct == 0.0
    fund = report.ticker("333333")
    assert fund.value == 0 and fund.actual_weight == 0.0 and fund.drift == pytest.approx(100.0)
    assert fund.exceeded


def test_untargeted_holdings_are_class_other_with_target_zero():
    snap = snapshot(0, {"111111": (96, 10_000), "999991": (3, 10_000), "999992": (1, 10_000)})
    tg = targets({"Stocks": 100}, {"Stocks": {"111111": 1.0}})
    report = drift_report(snap, tg, Thresholds(mp=3, sub_mp=5))
    other = report.cls(OTHER)
    assert other.target_pct == 0.0 and other.actual_pct == pytest.approx(4.0) and other.exceeded
    a = report.ticker("999991")
    assert a.asset_class == OTHER and a.target_value == 0
    assert a.actual_weight == pytest.approx(75.0)  # of the Other class, not of T
    assert a.drift == pytest.approx(-75.0)
    assert not a.exceeded  # no Sub-MP band of its own: the Other class flags it


def test_a_small_untargeted_holding_alone_does_not_make_a_run_needed():
    snap = snapshot(0, {"111111": (990, 10_000), "999991": (10, 10_000)})
    tg = targets({"Stocks": 100}, {"Stocks": {"111111": 1.0}})
    report = drift_report(snap, tg, Thresholds(mp=3, sub_mp=5))
    assert not report.needed


def test_empty_classes_have_rows_with_no_drift():
    snap, tg = simple()
    alt = drift_report(snap, tg, Thresholds()).cls("Alternatives")
    assert alt.target_pct == 0.0 and alt.value == 0 and alt.drift == 0.0 and not alt.exceeded


def test_a_targeted_class_with_nothing_held_is_all_drift():
    tg = targets({"Stocks": 50, "Bonds": 50},
                 {"Stocks": {"111111": 1.0}, "Bonds": {"222222": 0.6, "222223": 0.4}})
    snap = snapshot(0, {"111111": (100, 10_000)}, prices={"222222": 5_000, "222223": 7_000})
    report = drift_report(snap, tg, Thresholds())
    row = report.ticker("222223")
    assert row.value == 0 and row.price == 7_000 and row.actual_weight == 0.0
    assert row.drift == pytest.approx(40.0) and row.exceeded
    assert row.target_value == 200_000


def test_empty_account_needs_nothing():
    snap = snapshot(0, {})
    report = drift_report(snap, targets({"Stocks": 100}, {"Stocks": {"111111": 1.0}}), Thresholds())
    assert report.total == 0 and not report.needed and report.exceeded() == []


def test_holdings_listed_twice_are_summed():
    tg = targets({"Stocks": 100}, {"Stocks": {"111111": 1.0}})
    snap = snapshot(0, {"111111": (10, 1_000)})
    snap = snap.model_copy(update={"holdings": [*snap.holdings, *snap.holdings]})
    row = drift_report(snap, tg, Thresholds()).ticker("111111")
    assert row.quantity == 20 and row.value == 20_000 == snap.total


def test_total_abs_drift_covers_every_row():
    snap, tg = simple()
    report = drift_report(snap, tg, Thresholds())
    assert report.total_abs_drift == pytest.approx(40.0)
    assert report.securities_abs_drift == pytest.approx(40.0)

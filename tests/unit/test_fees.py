import pytest
from pydantic import ValidationError

from statemachine.fees import FeeModel
from statemachine.models import Side


def test_commission_is_rate_rounded_down_to_the_won():
    fees = FeeModel(commission_rate=0.00015)
    assert fees.commission(1_000_000) == 150
    assert fees.commission(9_999) == 1  # 1.49985 -> 1
    assert fees.commission(6_666) == 0


def test_commission_minimum_applies_to_small_orders_only():
    fees = FeeModel(commission_rate=0.00015, commission_min=500)
    assert fees.commission(10_000) == 500
    assert fees.commission(10_000_000) == 1_500
    assert fees.commission(0) == 0  # no order, no minimum


def test_domestic_etfs_pay_no_transaction_tax_by_default():
    fees = FeeModel()
    assert fees.tax("411420", Side.SELL, 10_000_000) == 0
    assert fees.cost("411420", Side.SELL, 10_000_000) == fees.commission(10_000_000)


def test_stocks_pay_the_configured_tax_on_sells_only():
    fees = FeeModel(commission_rate=0.0, instrument_types={"005930": "stock"})
    assert fees.tax("005930", Side.SELL, 1_000_000) == 2_000
    assert fees.tax("005930", Side.BUY, 1_000_000) == 0
    assert fees.tax_rate("005930") == pytest.approx(0.002)
    assert fees.tax_rate("005930", Side.BUY) == 0.0


def test_tax_rates_and_default_type_are_configurable():
    fees = FeeModel(commission_rate=0.0, tax_rates={"etf": 0.001, "stock": 0.0018}, default_type="etf")
    assert fees.cost("360750", Side.SELL, 1_000_000) == 1_000


@pytest.mark.parametrize("kw", [
    {"instrument_types": {"005930": "stocks"}},  # a typo must not mean "no tax"
    {"default_type": "bond"},
    {"tax_rates": {"etf": -0.1}},
    {"commission_rate": 0.5},
    {"commission_min": -1},
])
def test_bad_fee_settings_are_refused(kw):
    with pytest.raises(ValidationError):
        FeeModel(**kw)

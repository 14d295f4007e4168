"""Targets and thresholds are refused with a message naming the field."""

from __future__ import annotations

import copy
import json

import pytest

from adapters.sim.account import DEMO_DIR
from statemachine.errors import TargetsError, ThresholdError
from statemachine.models import Targets, Thresholds

GOOD = json.loads((DEMO_DIR / "demo_targets.json").read_text())


def bad(mutate):
    data = copy.deepcopy(GOOD)
    mutate(data)
    return data


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d["mp"].update(Stocks=30), "mp"),
    (lambda d: d["mp"].update(Crypto=0), "mp.Crypto"),
    (lambda d: d["mp"].update(Stocks=-5, Bonds=75), "mp.Stocks"),
    (lambda d: d["sub_mp"]["Bonds"].update({"453850": 0.9}), "sub_mp.Bonds"),
    (lambda d: d["sub_mp"]["Bonds"].update({"453850": -0.2, "357870": 1.2}), "sub_mp.Bonds.453850"),
    (lambda d: d["sub_mp"]["Alternatives"].update({"411420": 0.0}), "sub_mp.Alternatives.411420"),
    (lambda d: d["sub_mp"]["Stocks"].update({"41142": 0.0}), "sub_mp.Stocks.41142"),
    (lambda d: d.pop("sub_mp"), "sub_mp"),
    (lambda d: d["mp"].update(Stocks="20"), "mp.Stocks"),
    (lambda d: d["sub_mp"].pop("Stocks"), "sub_mp.Stocks"),
])
def test_bad_targets_name_the_field(mutate, field):
    with pytest.raises(TargetsError) as e:
        Targets.model_validate(bad(mutate))
    assert e.value.fields["field"] == field
    assert f"'{field}'" in e.value.message


def test_good_targets_and_global_weights():
    t = Targets.model_validate(GOOD)
    assert t.class_of("453850") == "Bonds" and t.class_of("069500") == "Other"
    assert t.global_target_pct("453850") == pytest.approx(40.0)
    assert t.cash_target_pct() == 10


@pytest.mark.parametrize("value", [-0.1, 100.5, "abc", None, True, float("nan")])
def test_bad_thresholds(value):
    with pytest.raises(ThresholdError):
        Thresholds(mp=value)


def test_thresholds_edges():
    assert Thresholds(mp=0, sub_mp=100).sub_mp == 100
    assert Thresholds(mp="2.5").mp == 2.5

import copy
import json

import pytest

from statemachine.errors import DomainError, PlanningError, SnapshotError, TargetsError, ThresholdError
from statemachine.fees import FeeModel
from statemachine.whatif import what_if

TARGETS = {"mp_id": "MP-4", "mp": {"Stocks": 20, "Bonds": 50, "Alternatives": 20, "Cash": 10},
           "sub_mp": {"Stocks": {"411420": 0.5, "360750": 0.3, "458730": 0.2},
                      "Bonds": {"453850": 0.8, "357870": 0.2},
                      "Alternatives": {"132030": 0.8, "261240": 0.2}, "Cash": {"CASH": 1.0}},
           "names": {"261240": "Dollar ETF"}}
SNAPSHOT = {"cash": 20_000_000,
            "holdings": [{"ticker": "411420", "name": "Stocks ETF", "quantity": 2000, "price": 14000},
                         {"ticker": "360750", "name": "Stocks ETF", "quantity": 600, "price": 19500},
                         {"ticker": "458730", "name": "Stocks ETF", "quantity": 300, "price": 10200},
                         {"ticker": "453850", "name": "Bonds ETF", "quantity": 1500, "price": 9900},
                         {"ticker": "357870", "name": "Bonds ETF", "quantity": 60, "price": 105000},
                         {"ticker": "132030", "name": "Gold ETF", "quantity": 800, "price": 13500},
                         {"ticker": "069500", "name": "KOSPI200 ETF", "quantity": 150, "price": 35000}],
            "prices": {"261240": 12800}}


def test_plans_sells_then_buys_and_reports_the_drift_after():
    out = what_if(SNAPSHOT, TARGETS, None, None, "optimal", FeeModel())
    json.dumps(out)  # JSON-ready
    assert out["needed"] and out["passed"] and out["stopped"] is None
    sells = {o["ticker"]: o["quantity"] for o in out["sell_orders"]}
    buys = {o["ticker"]: o["quantity"] for o in out["buy_orders"]}
    assert sells["069500"] == 150  # untargeted: sold in full
    assert set(sells) == {"411420", "360750", "069500"}
    assert "261240" in buys and not set(sells) & set(buys)
    assert all(o["name"] and o["reason"] for o in out["sell_orders"] + out["buy_orders"])
    assert next(o for o in out["buy_orders"] if o["ticker"] == "261240")["name"] == "Dollar ETF"
    assert {c["side"] for c in out["checks"]} == {"sell", "buy"} and all(c["passed"] for c in out["checks"])
    assert out["drift_after"]["total_abs_drift"] < 3 < out["drift_before"]["total_abs_drift"]
    assert out["cash"]["after_buys"] >= out["cash"]["buffer"] > 0


def test_greedy_planner_is_available_by_name():
    out = what_if(SNAPSHOT, TARGETS, 3.0, 5.0, "greedy", None)
    assert out["planner"] == "greedy" and out["sell_orders"]


def test_nothing_to_do_when_no_threshold_is_exceeded():
    out = what_if(SNAPSHOT, TARGETS, 100.0, 100.0, "optimal", None)
    assert not out["needed"] and out["sell_orders"] == out["buy_orders"] == []
    assert out["drift_after"] == out["drift_before"]


def _broken(path: str, value):
    doc = copy.deepcopy(SNAPSHOT)
    if path == "cash":
        doc["cash"] = value
    else:
        doc["holdings"][0][path] = value
    return doc


@pytest.mark.parametrize("doc, field", [
    (_broken("cash", -1), "cash"),
    (_broken("cash", 10.5), "cash"),
    (_broken("quantity", -5), "quantity"),
    (_broken("price", 0), "price"),
    (_broken("price", "14000"), "price"),
    ({"holdings": []}, "cash"),
])
def test_bad_snapshots_are_refused_naming_the_field(doc, field):
    with pytest.raises(SnapshotError) as err:
        what_if(doc, TARGETS, None, None, "optimal", None)
    assert err.value.fields["field"] == field


def test_a_ticker_listed_twice_is_refused():
    doc = copy.deepcopy(SNAPSHOT)
    doc["holdings"].append(doc["holdings"][0])
    with pytest.raises(SnapshotError, match="411420"):
        what_if(doc, TARGETS, None, None, "optimal", None)


def test_a_missing_price_of_a_ticker_that_must_be_bought_names_it():
    doc = copy.deepcopy(SNAPSHOT)
    doc["prices"] = {}
    with pytest.raises(SnapshotError) as err:
        what_if(doc, TARGETS, None, None, "optimal", None)
    assert err.value.fields["ticker"] == "261240"


def test_a_missing_price_does_not_matter_when_the_ticker_need_not_trade():
    doc = copy.deepcopy(SNAPSHOT)
    doc["prices"] = {}
    assert not what_if(doc, TARGETS, 100.0, 100.0, "optimal", None)["needed"]


def test_bad_targets_thresholds_and_planner_are_domain_errors():
    bad = copy.deepcopy(TARGETS)
    bad["sub_mp"]["Bonds"]["453850"] = 0.7
    with pytest.raises(TargetsError, match="sub_mp.Bonds"):
        what_if(SNAPSHOT, bad, None, None, "optimal", None)
    with pytest.raises(TargetsError):
        what_if(SNAPSHOT, {**TARGETS, "mp_id": 4}, None, None, "optimal", None)
    with pytest.raises(ThresholdError):
        what_if(SNAPSHOT, TARGETS, -1.0, None, "optimal", None)
    with pytest.raises(PlanningError, match="unknown planner"):
        what_if(SNAPSHOT, TARGETS, None, None, "gemini", None)
    with pytest.raises(DomainError):
        what_if(SNAPSHOT, TARGETS, None, None, "optimal", {"commission_rate": 2})


def test_engine_settings_give_the_buffer_and_the_untargeted_policy():
    from statemachine.settings import EngineSettings

    settings = EngineSettings(sell_untargeted=False, cash_buffer_percent=0, cash_buffer_krw=1_000_000)
    keep = what_if(SNAPSHOT, TARGETS, None, None, "optimal", None, settings=settings)
    assert "069500" not in {o["ticker"] for o in keep["sell_orders"]}
    assert keep["cash"]["buffer"] == 1_000_000 and keep["cash"]["after_buys"] >= 1_000_000
    assert keep["passed"]

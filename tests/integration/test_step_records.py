"""The typed step records (statemachine.step_records) dump to exactly the JSON the engine stored
before they existed, so runs written by an older engine resume across the upgrade.

``STORED`` holds one payload per kind as the engine wrote it at commit 4243241 (lists cut to their
first element, plus the rarer shapes: an open order, an adopted order number, an unknown-intent
candidate); the real runs below store every kind, including a run killed and resumed."""

from __future__ import annotations

import copy
import json

import pytest
from sqlalchemy import select

from adapters.db import tables
from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.models import Targets
from statemachine.planner_greedy import GreedyPlanner
from statemachine.ports import NoHooks
from statemachine.settings import EngineSettings
from statemachine.states import RunStatus
from statemachine.step_records import KINDS, kind_family, model_of
from tests.fakes import FakeClock

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))

STORED = {'lease': {'epoch': 2, 'owner': 'host:4242', 'at': '2026-11-25T01:00:09+00:00', 'state': 'SELL_VALIDATED',
               'seq': 4, 'previous_owner': 'host:4100', 'previous_seen_at': '2026-11-25T01:00:02+00:00'},
     'snapshot': {'holdings': [{'ticker': '069500',
                                'name': 'KOSPI200 ETF 069500',
                                'quantity': 150,
                                'orderable_quantity': 150,
                                'price': 35000}],
                  'cash': 20000000,
                  'prices': {'261240': 12800},
                  'open_orders': [],
                  'taken_at': '2026-11-25T01:00:00Z'},
     'drift_before': {'total': 99960000,
                      'cash': 20000000,
                      'thresholds': {'mp': 3.0, 'sub_mp': 5.0},
                      'classes': [{'asset_class': 'Stocks',
                                   'target_pct': 20.0,
                                   'actual_pct': 42.777110844337734,
                                   'drift': -22.777110844337734,
                                   'value': 42760000,
                                   'exceeded': True}],
                      'tickers': [{'ticker': '411420',
                                   'name': 'Stocks ETF 411420',
                                   'asset_class': 'Stocks',
                                   'target_weight': 50.0,
                                   'actual_weight': 65.48175865294668,
                                   'drift': -15.48175865294668,
                                   'global_target_pct': 10.0,
                                   'global_actual_pct': 28.011204481792717,
                                   'target_value': 9996000,
                                   'value': 28000000,
                                   'quantity': 2000,
                                   'price': 14000,
                                   'exceeded': True}],
                      'needed': True,
                      'total_abs_drift': 77.95198079231693,
                      'securities_abs_drift': 67.94397759103641},
     'sell_fills': {'projected': False,
                    'fills': [{'ticker': '069500',
                               'name': 'KOSPI200 ETF 069500',
                               'side': 'sell',
                               'intended': 150,
                               'filled': 150,
                               'amount': 5250000,
                               'fees': 769,
                               'status': 'FILLED',
                               'odnos': ['0000000003'],
                               'avg_price': 35000.0}]},
     'cash': {'orderable_cash': 48943759,
              'projected': False,
              'snapshot': {'holdings': [{'ticker': '132030',
                                         'name': 'Gold ETF 132030',
                                         'quantity': 800,
                                         'orderable_quantity': 800,
                                         'price': 13500}],
                           'cash': 48943759,
                           'prices': {'261240': 12800},
                           'open_orders': [],
                           'taken_at': '2026-11-25T01:00:00Z'},
              'drift': {'total': 99955759,
                        'cash': 48943759,
                        'thresholds': {'mp': 3.0, 'sub_mp': 5.0},
                        'classes': [{'asset_class': 'Stocks',
                                     'target_pct': 20.0,
                                     'actual_pct': 19.070436952011942,
                                     'drift': 0.9295630479880579,
                                     'value': 19062000,
                                     'exceeded': False}],
                        'tickers': [{'ticker': '411420',
                                     'name': 'Stocks ETF 411420',
                                     'asset_class': 'Stocks',
                                     'target_weight': 50.0,
                                     'actual_weight': 52.43940824677369,
                                     'drift': -2.439408246773688,
                                     'global_target_pct': 10.0,
                                     'global_actual_pct': 10.000424287709125,
                                     'target_value': 9995576,
                                     'value': 9996000,
                                     'quantity': 714,
                                     'price': 14000,
                                     'exceeded': False}],
                        'needed': True,
                        'total_abs_drift': 77.94900874095708,
                        'securities_abs_drift': 38.983586948701976}},
     'buy_fills': {'projected': False,
                   'fills': [{'ticker': '132030',
                              'name': 'Gold ETF 132030',
                              'side': 'buy',
                              'intended': 385,
                              'filled': 385,
                              'amount': 5197500,
                              'fees': 761,
                              'status': 'FILLED',
                              'odnos': ['0000000006'],
                              'avg_price': 13500.0}]},
     'drift_after': {'total': 99950192,
                     'cash': 10935992,
                     'thresholds': {'mp': 3.0, 'sub_mp': 5.0},
                     'classes': [{'asset_class': 'Stocks',
                                  'target_pct': 20.0,
                                  'actual_pct': 19.07149913228781,
                                  'drift': 0.9285008677121915,
                                  'value': 19062000,
                                  'exceeded': False}],
                     'tickers': [{'ticker': '411420',
                                  'name': 'Stocks ETF 411420',
                                  'asset_class': 'Stocks',
                                  'target_weight': 50.0,
                                  'actual_weight': 52.43940824677369,
                                  'drift': -2.439408246773688,
                                  'global_target_pct': 10.0,
                                  'global_actual_pct': 10.000981288760306,
                                  'target_value': 9995019,
                                  'value': 9996000,
                                  'quantity': 714,
                                  'price': 14000,
                                  'exceeded': False}],
                     'needed': False,
                     'total_abs_drift': 1.9258283365778879,
                     'securities_abs_drift': 0.9843866232893332},
     'sell_fills_projected': {'projected': True,
                              'fills': [{'ticker': '411420',
                                         'name': 'Stocks ETF 411420',
                                         'side': 'sell',
                                         'intended': 1286,
                                         'filled': 1286,
                                         'amount': 18004000,
                                         'avg_price': 14000.0,
                                         'fees': 2638,
                                         'status': 'PROJECTED',
                                         'odnos': []}]},
     'cash_projected': {'orderable_cash': 48943759,
                        'projected': True,
                        'snapshot': {'holdings': [{'ticker': '069500',
                                                   'name': 'KOSPI200 ETF 069500',
                                                   'quantity': 0,
                                                   'orderable_quantity': 0,
                                                   'price': 35000}],
                                     'cash': 48943759,
                                     'prices': {'261240': 12800},
                                     'open_orders': [],
                                     'taken_at': '2026-11-25T01:00:00Z'},
                        'drift': {'total': 99955759,
                                  'cash': 48943759,
                                  'thresholds': {'mp': 3.0, 'sub_mp': 5.0},
                                  'classes': [{'asset_class': 'Stocks',
                                               'target_pct': 20.0,
                                               'actual_pct': 19.070436952011942,
                                               'drift': 0.9295630479880579,
                                               'value': 19062000,
                                               'exceeded': False}],
                                  'tickers': [{'ticker': '411420',
                                               'name': 'Stocks ETF 411420',
                                               'asset_class': 'Stocks',
                                               'target_weight': 50.0,
                                               'actual_weight': 52.43940824677369,
                                               'drift': -2.439408246773688,
                                               'global_target_pct': 10.0,
                                               'global_actual_pct': 10.000424287709125,
                                               'target_value': 9995576,
                                               'value': 9996000,
                                               'quantity': 714,
                                               'price': 14000,
                                               'exceeded': False}],
                                  'needed': True,
                                  'total_abs_drift': 77.94900874095708,
                                  'securities_abs_drift': 38.983586948701976}},
     'blocked': {'side': 'sell',
                 'ticker': '411420',
                 'reason': 'cannot reconcile sell 1285 x 411420: 1 matching order(s), 1 other same-ticker order(s) '
                           'this engine did not place; an operator must decide',
                 'candidates': [{'odno': '0000000002',
                                 'ticker': '411420',
                                 'side': 'sell',
                                 'quantity': 1285,
                                 'order_type': '01',
                                 'placed_at': '2026-11-25T01:00:00+00:00',
                                 'filled': 1285}]},
     'cancelled_open_orders': {'orders': [{'odno': '0000000001',
                                           'ticker': '411420',
                                           'side': 'sell',
                                           'quantity': 100,
                                           'cancelled': 50,
                                           'filled': 50}]}}

OPEN_ORDER = {"odno": "0000000001", "ticker": "411420", "side": "sell", "quantity": 100, "remaining": 50,
              "org_no": "06010"}
ADOPTED_FILL = {"ticker": "411420", "name": "Stocks ETF 411420", "side": "sell", "intended": 1285, "filled": 1286,
                "amount": 18004000, "fees": 2638, "status": "FILLED", "odnos": ["0000000002", "0000000004"],
                "adopted_odnos": ["0000000004"], "avg_price": 14000.0}
INTENT_CANDIDATE = {"intent": 3, "ticker": "411420", "side": "sell", "quantity": 1285,
                    "sent_at": "2026-11-25T01:00:00+00:00"}


def _examples() -> list[tuple[str, dict]]:
    out = [(name.removesuffix("_projected"), payload) for name, payload in STORED.items()]
    snap = copy.deepcopy(STORED["snapshot"])
    snap["open_orders"] = [OPEN_ORDER]
    out.append(("snapshot", snap))
    fills = copy.deepcopy(STORED["sell_fills"])
    fills["fills"].append(ADOPTED_FILL)
    out.append(("sell_fills", fills))
    blocked = copy.deepcopy(STORED["blocked"])
    blocked["candidates"] = [INTENT_CANDIDATE]
    out.append(("blocked", blocked))
    return out


@pytest.mark.parametrize("kind,payload", _examples(), ids=lambda v: v if isinstance(v, str) else "")
def test_stored_payload_round_trips_byte_for_byte(kind, payload):
    dumped = KINDS[kind].model_validate(payload).model_dump(mode="json")
    assert dumped == payload
    # same keys in the same order, same value types: the stored text is unchanged
    assert json.dumps(dumped, ensure_ascii=False) == json.dumps(payload, ensure_ascii=False)


def test_every_kind_has_a_stored_example():
    assert {name.removesuffix("_projected") for name in STORED} == set(KINDS)


def test_a_changed_model_is_caught():
    payload = copy.deepcopy(STORED["sell_fills"])
    payload["fills"][0]["extra"] = 1
    with pytest.raises(ValueError):
        KINDS["sell_fills"].model_validate(payload)
    dumped = KINDS["sell_fills"].model_validate(STORED["sell_fills"]).model_dump(mode="json")
    assert "adopted_odnos" not in dumped["fills"][0]  # absent stays absent


class _Crash(Exception):
    pass


class _CrashAt:
    def __init__(self, name: str) -> None:
        self.name = name

    def point(self, name: str) -> None:
        if name == self.name:
            raise _Crash(name)


def _engine(db, account, **settings) -> Engine:
    clock = FakeClock()
    account.clock = clock.now
    greedy = GreedyPlanner()
    es = EngineSettings(**{"fill_timeout_s": 2, "fill_poll_s": 0.5, **settings})
    return Engine(db.unit_of_work, SimulatedBroker(account), lambda name: greedy, clock, es, owner="o")


def _rows(db) -> list[tuple[str, dict]]:
    with db.engine.connect() as conn:
        q = select(tables.step_outputs).order_by(tables.step_outputs.c.id)
        return [(r.kind, r.payload) for r in conn.execute(q)]


def _abort_active(eng: Engine, run_id: str) -> None:
    if eng.get(run_id).status in (RunStatus.RUNNING, RunStatus.BLOCKED):
        eng.abort(run_id, reason="test done", actor="test")


def test_payloads_of_real_runs_round_trip(db, tmp_path):
    seen: set[str] = set()

    def account(name: str) -> SimAccount:
        return SimAccount.demo(tmp_path / f"{name}.json")

    # (each simulated account numbers its orders from 1, and reconciliation ignores order numbers
    # other runs of the account own: the runs that reconcile come first)
    # killed right after the broker accepted a sell, before it was recorded; then resumed
    acc = account("crash")
    crash = _engine(db, acc)
    crash.hooks = _CrashAt("order:accepted_before_record")
    run = crash.start(account="demo", targets=TARGETS)
    with pytest.raises(_Crash):
        crash.run(run.id)
    crash.hooks = NoHooks()
    assert crash.resume(run.id).status is RunStatus.SUCCEEDED
    full = _engine(db, account("full"))
    assert full.run(full.start(account="demo", targets=TARGETS).id).status is RunStatus.SUCCEEDED
    dry = _engine(db, account("dry"))
    assert dry.run(dry.start(account="demo", targets=TARGETS, max_phase=3).id).status is RunStatus.STOPPED
    # an ambiguous reconciliation blocks
    acc = account("blocked")
    acc.set_faults(lose_reply_rate=1.0)
    blocked = _engine(db, acc)
    run = blocked.start(account="demo", targets=TARGETS)
    acc.place("sell", "411420", 1)
    assert blocked.run(run.id).status is RunStatus.BLOCKED
    _abort_active(blocked, run.id)
    # an order open at the start is cancelled first
    acc = account("cancel")
    cancel = _engine(db, acc, open_orders_policy="cancel")
    acc.set_faults(partial_fill={"411420": 0.5})
    acc.place("sell", "411420", 100)
    acc.set_faults(partial_fill={})
    assert cancel.run(cancel.start(account="demo", targets=TARGETS).id).status is RunStatus.SUCCEEDED

    rows = _rows(db)
    for kind, payload in rows:
        seen.add(kind_family(kind))
        assert model_of(kind).model_validate(payload).model_dump(mode="json") == payload, kind
    assert seen == set(KINDS)

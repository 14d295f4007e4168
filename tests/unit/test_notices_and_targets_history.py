"""Pure pieces of the notifications and of the targets history: which event a stored run stands
for, the redaction of a message, and what a decision changed against the one before it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from adapters.notify.message import notice_body, redact_text
from adapters.sim.account import DEMO_DIR
from statemachine.models import Targets
from statemachine.notices import RunEvent, RunNotice, run_event
from statemachine.records import StrategyDecision
from statemachine.states import RunStatus
from statemachine.targets_history import targets_changes, with_changes
from tests.contract.helpers import run_record

DEMO = json.loads((DEMO_DIR / "demo_targets.json").read_text())
T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("status,error,guard,event", [
    (RunStatus.SUCCEEDED, None, False, RunEvent.FINISHED),
    (RunStatus.NOT_NEEDED, None, False, RunEvent.FINISHED),
    (RunStatus.STOPPED, None, False, RunEvent.FINISHED),
    (RunStatus.PARTIAL, "buys rejected", False, RunEvent.FINISHED),
    (RunStatus.FAILED, "the sell plan failed the rule checks 3 times", False, RunEvent.FAILED),
    (RunStatus.FAILED, "the sell plan was refused by the safety limits; no order sent: L1", False, RunEvent.GUARD),
    (RunStatus.ABORTED, "aborted by alice: changed my mind", False, RunEvent.FAILED),
    (RunStatus.ABORTED, "aborted by safety: kill switch is on", False, RunEvent.GUARD),
    (RunStatus.ABORTED, "aborted by alice: x", True, RunEvent.GUARD),
    (RunStatus.BLOCKED, None, False, RunEvent.BLOCKED),
    (RunStatus.RUNNING, "a step failed", False, None),
])
def test_the_event_of_a_stored_run(status, error, guard, event):
    run = run_record(status=status).model_copy(update={"error": error})
    assert run_event(run, guard=guard) is event


def test_redaction_of_keys_tokens_and_account_numbers():
    text = ("appkey=PSabcdefghijklmnop0123 appsecret: 'zzzzzzzzzzzzzzzz' key AIzaSyA1234567890abcdefghij "
            "Authorization: Bearer abc.def-ghi token eyJhbGciOi.eyJzdWIiOi.sig account 12345678-01 "
            "and my-own-secret; run 20261130-010000-abcdef costs 1,234,567 KRW")
    out = redact_text(text, ["my-own-secret"])
    for leaked in ("PSabcdefghijklmnop0123", "zzzzzzzzzzzzzzzz", "AIzaSyA1234567890", "abc.def-ghi",
                   "eyJhbGciOi", "12345678-01", "my-own-secret"):
        assert leaked not in out, leaked
    assert "20261130-010000-abcdef" in out and "1,234,567 KRW" in out  # run ids and amounts stay
    assert out.count("[REDACTED]") >= 7


def test_the_body_cuts_a_long_reason_after_redacting_it():
    secret = "S" * 30
    reason = "x" * 590 + " api_key=" + secret
    n = RunNotice(run_id="r1", account="demo", event=RunEvent.FAILED, status="FAILED", state="SELL_PLANNED",
                  reason=reason, orders_sent=0, orders_filled=0, drift_before=None, drift_after=None)
    body = notice_body(n, secrets=[secret])
    assert "SSSSSSSS" not in body and "Total drift: unknown before, unknown after" in body
    assert "Page:" not in body  # no public URL: no link


def _targets(**mp) -> Targets:
    return Targets.model_validate({**DEMO, "mp": {**DEMO["mp"], **mp}})


def test_changes_against_the_decision_before():
    before = Targets.model_validate(DEMO)
    after = Targets.model_validate({**DEMO, "mp_id": "MP-5", "mp": {**DEMO["mp"], "Stocks": 25, "Bonds": 45},
                                    "sub_mp": {**DEMO["sub_mp"], "Stocks": {"411420": 0.5, "360750": 0.5}}})
    assert targets_changes(before, after) == [
        {"field": "mp_id", "before": "MP-4", "after": "MP-5"},
        {"field": "mp.Stocks", "before": 20, "after": 25},
        {"field": "mp.Bonds", "before": 50, "after": 45},
        {"field": "sub_mp.Stocks.360750", "before": 0.3, "after": 0.5},
        {"field": "sub_mp.Stocks.458730", "before": 0.2, "after": None},
    ]
    assert targets_changes(after, after) == []
    first = targets_changes(None, before)
    assert all(c["before"] is None for c in first) and len(first) == 1 + 4 + 8


def test_with_changes_pairs_each_decision_with_its_predecessor():
    d = [StrategyDecision(id=i, decided_at=T0 + timedelta(hours=i), targets=_targets(Stocks=20 + i, Bonds=50 - i))
         for i in range(3)]
    newest_first = d[::-1]
    pairs = with_changes(newest_first[:2], d[0])
    assert [(x.id, [c["after"] for c in ch if c["field"] == "mp.Stocks"]) for x, ch in pairs] == [(2, [22]), (1, [21])]
    assert with_changes([], None) == []

"""The CLI's tables on a terminal of ordinary width (issue 21, item 4): they fit it, clip long text with
an ellipsis at a word, print prices as integers, right-align numbers and leave out empty columns."""

from __future__ import annotations

import io

from rich.console import Console

from adapters.cli.render import drift_tables, show_run

REASON = ("sell: 2 order(s) filled; proceeds 1,234,567 KRW; fees 1,234 KRW; " * 4).strip()


def view() -> dict:
    run = {"id": "20261201-013000-abcdef", "account": "demo", "state": "SOLD", "status": "RUNNING", "max_phase": 5,
           "planner": "optimal", "thresholds": {"mp": 3.0, "sub_mp": 5.0}, "error": None, "blocked_reason": None}
    transitions = [{"seq": 0, "at": "2026-12-01T01:30:00+00:00", "trigger": "start", "from": "-", "to": "CREATED",
                    "status": "RUNNING", "actor": "cli", "reason": "max_phase=5", "duration_ms": None},
                   {"seq": 1, "at": "2026-12-01T01:30:09+00:00", "trigger": "sell", "from": "SELL_VALIDATED",
                    "to": "SOLD", "status": "RUNNING", "actor": "engine", "reason": REASON, "duration_ms": 30}]
    order = {"side": "sell", "ticker": "069500", "quantity": 12, "filled_quantity": 12, "avg_price": 14000.0,
             "amount": 168000, "fees": 25, "status": "FILLED", "odno": "0000117001", "message": None}
    return {"run": run, "transitions": transitions, "plans": [], "orders": [order], "drift_before": None,
            "drift_after": None, "history": None}


def render(fn, *args, width: int = 100) -> str:
    buf = io.StringIO()
    fn(Console(file=buf, width=width, highlight=False, soft_wrap=False, no_color=True), *args)
    return buf.getvalue()


def test_show_fits_the_terminal_with_integer_prices_and_an_ellipsis():
    text = render(show_run, view(), width=100)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "14,000" in text and "14,000.0" not in text
    assert "…" in text  # the long reason is clipped at a word, with an ellipsis
    before = text[: text.index("…")]
    assert not before[-1].isdigit() and before[-1] != ","  # cut at a word, never inside "1,234,567"


def test_numbers_are_right_aligned_in_the_orders_table():
    lines = render(show_run, view(), width=140).splitlines()
    header = next(line for line in lines if "avg price" in line)
    row = next(line for line in lines if "0000117001" in line)
    # a right-aligned cell ends where its header ends
    assert row.index("14,000") + len("14,000") == header.index("avg price") + len("avg price")
    assert row.index("168,000") + len("168,000") == header.index("amount") + len("amount")


def test_the_exceeded_column_is_left_out_when_nothing_exceeded():
    drift = {"thresholds": {"mp": 3.0, "sub_mp": 5.0}, "total": 1000,
             "classes": [{"asset_class": "Stocks", "target_pct": 20.0, "actual_pct": 21.0, "drift": 0.01,
                          "exceeded": False}],
             "tickers": [{"ticker": "069500", "name": "KODEX 200", "asset_class": "Stocks", "quantity": 1,
                          "price": 14000, "value": 14000, "target_value": 14000, "actual_weight": 100.0,
                          "target_weight": 100.0, "drift": 0.0, "exceeded": False}]}
    calm = render(drift_tables, drift, "Before", width=140)
    assert "exceeded" not in calm
    drift["classes"][0]["exceeded"] = True
    hot = render(drift_tables, drift, "Before", width=140)
    assert "exceeded" in hot
    def columns(text: str) -> int:  # of the MP table's header row
        header = next(line for line in text.splitlines() if "target %" in line)
        return header.count("┃") - 1

    assert columns(calm) == 4 and columns(hot) == 5  # the flag column only when something exceeded

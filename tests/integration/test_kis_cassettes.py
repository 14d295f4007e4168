"""Replay the recorded KIS cassettes (record mode none: no network) and scan them for secrets.

Re-record with ``.venv/bin/python tests/record_kis_cassettes.py`` (see its docstring)."""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kis_helpers import CASSETTES, JWT_RE, kis_config, scrubbing_vcr  # noqa: E402, I001

from adapters.kis.broker import KisBroker  # noqa: E402
from adapters.kis_sim.simulator import TEST_ACCOUNT, TEST_APPKEY, TEST_APPSECRET  # noqa: E402
from statemachine.errors import OrderRejected  # noqa: E402
from statemachine.models import Side  # noqa: E402

DAY = date(2000, 1, 1)  # the inquiry dates are not matched; any day replays


@pytest.fixture
def replay(tmp_path: Path):
    v = scrubbing_vcr("none")

    def use(name: str) -> tuple[object, KisBroker]:
        assert (CASSETTES / "kis" / name).exists(), f"missing cassette {name}"
        b = KisBroker(
            kis_config("http://127.0.0.1:9", tmp_path / name, requests_per_second=1000), httpx.Client()
        )
        return v.use_cassette(name), b

    return use


def test_balance_replays_all_three_paper_pages(replay) -> None:
    cassette, b = replay("balance_paper_45_holdings.yaml")
    with cassette as c:
        snap = b.balance()
    assert len(snap.holdings) == 45 and snap.cash == 50_000_000
    assert snap.holding("400044").quantity == 54
    assert c.play_count == 4 and c.all_played  # tokenP + 3 pages


def test_price_replay(replay) -> None:
    cassette, b = replay("inquire_price.yaml")
    with cassette:
        assert b.prices(["400000", "400001"]) == {"400000": 10_000, "400001": 10_005}


def test_orderable_cash_replay(replay) -> None:
    cassette, b = replay("inquire_psbl_order.yaml")
    with cassette:
        assert b.orderable_cash() == 50_000_000


def test_order_cash_replay(replay) -> None:
    cassette, b = replay("order_cash_buy_sell.yaml")
    with cassette:
        buy = b.place_order(Side.BUY, "400002", 3)
        sell = b.place_order(Side.SELL, "400003", 2)
    assert (buy.odno, sell.odno) == ("0000000001", "0000000002")


def test_order_rejection_replay(replay) -> None:
    cassette, b = replay("order_cash_rejected.yaml")
    with cassette, pytest.raises(OrderRejected) as info:
        b.place_order(Side.BUY, "400004", 10_000_000)
    assert info.value.code == "APBK0952"


def test_daily_ccld_replay(replay) -> None:
    cassette, b = replay("inquire_daily_ccld.yaml")
    with cassette:
        rows = b.daily_orders(DAY)
    assert {(r.ticker, r.side, r.filled_quantity) for r in rows} == {
        ("400002", Side.BUY, 3),
        ("400003", Side.SELL, 2),
    }


def test_cancel_replay(replay) -> None:
    cassette, b = replay("order_rvsecncl_cancel.yaml")
    with cassette:
        res = b.place_order(Side.BUY, "400005", 10)
        [row] = b.daily_orders(DAY, odno=res.odno)
        assert (row.filled_quantity, row.remaining) == (5, 5)
        b.cancel_order(res.odno, res.org_no, row.remaining)
        [row] = b.daily_orders(DAY, odno=res.odno)
    assert (row.remaining, row.cancelled) == (0, 5)


SECRETS = [TEST_APPKEY, TEST_APPSECRET, TEST_ACCOUNT.split("-")[0], TEST_ACCOUNT]
LONG_TOKEN_RE = re.compile(r"[A-Za-z0-9+_-]{40,}={0,2}")  # "/" splits paths (and base64 into long runs)


def secret_looking(text: str) -> list[str]:
    """Long base64/hex-ish runs with many distinct characters (URL-encoded padding is not)."""
    return [m for m in LONG_TOKEN_RE.findall(text) if len(set(m)) >= 16]


def test_no_cassette_holds_a_secret() -> None:
    files = [p for p in CASSETTES.rglob("*") if p.is_file()]
    assert files, "no cassettes found"
    for path in files:
        text = path.read_text(errors="replace")
        for s in SECRETS:
            assert s not in text, f"{path.name} holds a known test secret"
        assert not JWT_RE.search(text), f"{path.name} holds a JWT-looking token"
        assert not secret_looking(text), f"{path.name} holds a long base64-looking value"
        assert not re.search(r"(?i)^\s*(authorization|appkey|appsecret):", text, re.M), (
            f"{path.name} holds an auth header"
        )


def test_the_scan_catches_what_it_should() -> None:
    assert secret_looking("token: Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6")
    assert not secret_looking("CTX_AREA_NK100=" + "+" * 90)
    assert JWT_RE.search("Bearer eyJ0eXAiOiJKV1QiLCJhbGci.eyJzdWIiOiJ0b2tlbiIsImF1ZCI.c2lnbmF0dXJlLW9m")

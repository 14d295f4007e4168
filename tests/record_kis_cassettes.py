"""Record the KIS cassettes under tests/cassettes/kis/ (every secret scrubbed on the way in).

    .venv/bin/python tests/record_kis_cassettes.py

records against a fresh KIS simulator. With real *paper* keys, point it at the broker instead:

    KIS_RECORD_BASE_URL=https://openapivts.koreainvestment.com:29443 KIS_APPKEY=... KIS_APPSECRET=... \\
    KIS_ACCOUNT=5xxxxxxx-01 .venv/bin/python tests/record_kis_cassettes.py

(the scrubber replaces the key, the secret, the account number and every token in the cassettes;
the secret scan in tests/integration/test_kis_cassettes.py must still pass before committing).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kis_helpers import CASSETTES, kis_config, many_holdings_account, scrubbing_vcr  # noqa: E402

from adapters.kis.broker import KST, KisBroker  # noqa: E402
from adapters.kis_sim.simulator import (  # noqa: E402
    TEST_ACCOUNT,
    TEST_APPKEY,
    TEST_APPSECRET,
    SimulatorConfig,
    SimulatorServer,
)
from adapters.sim.account import SimAccount  # noqa: E402
from statemachine.errors import OrderRejected  # noqa: E402
from statemachine.models import Side  # noqa: E402


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    real_url = os.environ.get("KIS_RECORD_BASE_URL")
    appkey = os.environ.get("KIS_APPKEY", TEST_APPKEY)
    appsecret = os.environ.get("KIS_APPSECRET", TEST_APPSECRET)
    account = os.environ.get("KIS_ACCOUNT", TEST_ACCOUNT)
    SimAccount.create(tmp / "acct.json", {**many_holdings_account(tmp, 45), "cano": account[:8]})
    srv = None
    if not real_url:
        srv = SimulatorServer(
            tmp / "acct.json", SimulatorConfig(rate_limit_per_s=0, token_issue_min_interval_s=0)
        )
    url = real_url or srv.start()  # type: ignore[union-attr]
    (CASSETTES / "kis").mkdir(parents=True, exist_ok=True)
    v = scrubbing_vcr("all", appkey=appkey, appsecret=appsecret, account=account)
    day = datetime.now(UTC).astimezone(KST).date()

    def fresh() -> KisBroker:
        # a new token cache per cassette, so each one starts with its tokenP exchange
        cfg = kis_config(
            url,
            Path(tempfile.mkdtemp()),
            appkey=appkey,
            appsecret=appsecret,
            account=account,
            requests_per_second=2 if real_url else 1000,
        )
        return KisBroker(cfg, httpx.Client())

    try:
        with v.use_cassette("balance_paper_45_holdings.yaml"):
            fresh().balance()
        with v.use_cassette("inquire_price.yaml"):
            fresh().prices(["400000", "400001"])
        with v.use_cassette("inquire_psbl_order.yaml"):
            fresh().orderable_cash()
        with v.use_cassette("order_cash_buy_sell.yaml"):
            b = fresh()
            b.place_order(Side.BUY, "400002", 3)
            b.place_order(Side.SELL, "400003", 2)
        with v.use_cassette("order_cash_rejected.yaml"), contextlib.suppress(OrderRejected):
            fresh().place_order(Side.BUY, "400004", 10_000_000)
        with v.use_cassette("inquire_daily_ccld.yaml"):
            fresh().daily_orders(day)
        if srv is not None:
            srv.account.set_faults(partial_fill={"*": 0.5})
        with v.use_cassette("order_rvsecncl_cancel.yaml"):
            b = fresh()
            res = b.place_order(Side.BUY, "400005", 10)
            [row] = b.daily_orders(day, odno=res.odno)
            b.cancel_order(res.odno, res.org_no, row.remaining)
            b.daily_orders(day, odno=res.odno)
    finally:
        if srv is not None:
            srv.stop()
    print(f"cassettes written to {CASSETTES / 'kis'}")


if __name__ == "__main__":
    main()

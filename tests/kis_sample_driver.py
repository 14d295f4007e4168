"""Drives the broker's own sample client (koreainvestment/open-trading-api ``examples_user``,
unchanged) through an ordinary session; run by tests/integration/test_kis_sample_client.py.

Run from ``examples_user/domestic_stock`` of an exported copy of the sample, with ``HOME`` holding
``KIS/config/kis_devlp.yaml`` that points ``prod`` / ``vps`` at the simulator:
``python kis_sample_driver.py real|demo TICKER``. Prints one line ``RESULT {json}`` at the end.

This script is the sample's user, not part of it: it calls the sample's functions the way its
``domestic_stock_examples.py`` does, spaces its calls on the paper host (2 requests a second), and
sets ``kis_auth._smartSleep`` (the pause between continuation pages) to 0.6 s on paper, the value
``kis_auth.changeTREnv`` means to set (it assigns a local by mistake, leaving 0.1 s: the third page
of a paper balance then comes within a second of the first two, the paper host's 2-a-second limit
answers EGW00201, and the sample returns an empty balance).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta, timezone

sys.path.extend(["..", "."])
import domestic_stock_functions as f  # noqa: E402  (the sample's module)
import kis_auth as ka  # noqa: E402  (the sample's module)


def main(env: str, ticker: str) -> dict:
    paper = env == "demo"
    gap = 1.1 if paper else 0.0
    ka.auth(svr="vps" if paper else "prod", product="01")
    if paper:
        ka._smartSleep = 0.6
    trenv = ka.getTREnv()
    acct, prod = trenv.my_acct, trenv.my_prod
    out: dict = {"env": env}

    def step() -> None:
        time.sleep(gap)

    price = f.inquire_price(env, "J", ticker)
    out["price"] = price.iloc[0]["stck_prpr"] if len(price) else None
    out["price_columns"] = len(price.columns)
    step()
    b1, b2 = f.inquire_balance(env, acct, prod, "N", "02", "01", "N", "N", "00")
    out["balance_rows"] = len(b1)
    out["balance_pages"] = len(b2)  # one output2 row per page
    out["holding_before"] = int(b1.set_index("pdno").loc[ticker, "hldg_qty"]) if len(b1) else None
    step()
    psbl = f.inquire_psbl_order(env, acct, prod, ticker, "0", "01", "N", "N")
    out["buyable_qty"] = int(psbl.iloc[0]["nrcvb_buy_qty"]) if len(psbl) else None
    step()
    buy = f.order_cash(env, "buy", acct, prod, ticker, "01", "1", "0", "KRX")
    out["buy_odno"] = buy.iloc[0]["ODNO"] if len(buy) else None
    step()
    today = datetime.now(timezone(timedelta(hours=9))).strftime("%Y%m%d")
    c1, _ = f.inquire_daily_ccld(env, "inner", acct, prod, today, today, "00", "00", "00", "00")
    out["daily_orders"] = sorted(c1["odno"].tolist()) if len(c1) else []
    step()
    sell = f.order_cash(env, "sell", acct, prod, ticker, "01", "1", "0", "KRX")
    out["sell_odno"] = sell.iloc[0]["ODNO"] if len(sell) else None
    step()
    a1, _ = f.inquire_balance(env, acct, prod, "N", "02", "01", "N", "N", "00")
    out["balance_rows_after"] = len(a1)
    out["holding_after"] = int(a1.set_index("pdno").loc[ticker, "hldg_qty"]) if len(a1) else None
    return out


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(sys.argv[1], sys.argv[2])), flush=True)

"""Conformance of the KIS simulator with the broker's published definitions.

Every TR the simulator serves is driven on both hosts (paper and real-shaped) with UPPERCASE and
lowercase parameter names (GET query names in any case are answered; POST body keys must be
UPPERCASE, as the broker's documents say); every field of the broker's list (adapters/kis_sim/fields, taken from
koreainvestment/open-trading-api) must be in the reply, a string, in its format, and nothing else;
continuation gives first / middle / last pages as documented; the test app secret is 180
characters like a real one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kis_helpers import many_holdings_account  # noqa: E402, I001

from adapters.kis.errors import KisMalformedReply  # noqa: E402
from adapters.kis.parse import order_of  # noqa: E402
from adapters.kis_sim import gateway as G  # noqa: E402
from adapters.kis_sim.fields import FORMATS, conforms  # noqa: E402
from adapters.kis_sim.fields import asking_price as FA  # noqa: E402
from adapters.kis_sim.fields import balance as FB  # noqa: E402
from adapters.kis_sim.fields import ccld as FC  # noqa: E402
from adapters.kis_sim.fields import holiday as FH  # noqa: E402
from adapters.kis_sim.fields import order as FO  # noqa: E402
from adapters.kis_sim.fields import price as FP  # noqa: E402
from adapters.kis_sim.fields import psbl as FS  # noqa: E402
from adapters.kis_sim.fields import psbl_rvsecncl as FR  # noqa: E402
from adapters.kis_sim.fields import search_info as FI  # noqa: E402
from adapters.kis_sim.simulator import (  # noqa: E402
    TEST_APPKEY,
    TEST_APPSECRET,
    SimulatorConfig,
    SimulatorServer,
)
from adapters.sim.account import SimAccount  # noqa: E402

# Tuesday 2026-12-01 10:00 KST: the simulator's clock for every test here
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
TODAY = "20261201"
ACCT = {"CANO": "50001234", "ACNT_PRDT_CD": "01"}


def cfg(env: str, **kw: Any) -> SimulatorConfig:
    return SimulatorConfig(env=env, rate_limit_per_s=0, token_issue_min_interval_s=0, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SimulatorServer]]:
    out = {}
    for env in ("paper", "real"):
        path = tmp_path_factory.mktemp(f"conf-{env}") / "acct.json"
        SimAccount.demo(path)
        out[env] = SimulatorServer(path, cfg(env), clock=lambda: NOW)
        out[env].start()
    yield out
    for srv in out.values():
        srv.stop()


@pytest.fixture
def sim(servers: dict[str, SimulatorServer]) -> Callable[..., SimulatorServer]:
    """A fresh account and simulator state on the module's server for ``env``."""

    def start(env: str, account: dict | None = None, **kw: Any) -> SimulatorServer:
        srv = servers[env]
        if account is None:
            SimAccount.demo(srv.account.path)
        else:
            SimAccount.create(srv.account.path, account)
        srv.simulator.reset(cfg(env, **kw))
        return srv

    return start


def token(srv: SimulatorServer) -> str:
    r = httpx.post(srv.url + "/oauth2/tokenP",
                   json={"grant_type": "client_credentials", "appkey": TEST_APPKEY, "appsecret": TEST_APPSECRET})
    return r.json()["access_token"]


def tr_for(srv: SimulatorServer, real_tr: str) -> str:
    """The TR id a client sends on this host (the official sample's rule: T/J/C -> V on paper)."""
    paper = srv.simulator.config.env == "paper"
    return "V" + real_tr[1:] if paper and real_tr[0] in "TJC" else real_tr


def call(srv: SimulatorServer, path: str, real_tr: str, params: dict[str, str], *, lower: bool = False,
         tr_cont: str = "", url_path: str | None = None) -> httpx.Response:
    """One /uapi call; ``lower`` sends the parameter names (query or body) in lowercase."""
    data = {(k.lower() if lower else k): v for k, v in params.items()}
    headers = {"content-type": "application/json; charset=utf-8", "authorization": f"Bearer {token(srv)}",
               "appkey": TEST_APPKEY, "appsecret": TEST_APPSECRET, "tr_id": tr_for(srv, real_tr),
               "custtype": "P", "tr_cont": tr_cont}
    url = srv.url + (url_path or path)
    if G.TRS[path][0] == "POST":
        return httpx.post(url, json=data, headers=headers, timeout=60)
    return httpx.get(url, params=data, headers=headers, timeout=60)


def ok(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert r.status_code == 200 and body["rt_cd"] == "0", body
    return body


def check(spec: dict[str, str], obj: Any) -> None:
    assert isinstance(obj, dict)
    assert conforms(spec, obj) == []


def balance_q(**kw: str) -> dict[str, str]:
    return {**ACCT, "AFHR_FLPR_YN": "N", "OFL_YN": "", "INQR_DVSN": "02", "UNPR_DVSN": "01",
            "FUND_STTL_ICLD_YN": "N", "FNCG_AMT_AUTO_RDPT_YN": "N", "PRCS_DVSN": "00",
            "CTX_AREA_FK100": "", "CTX_AREA_NK100": "", **kw}


def ccld_q(**kw: str) -> dict[str, str]:
    return {**ACCT, "INQR_STRT_DT": TODAY, "INQR_END_DT": TODAY, "SLL_BUY_DVSN_CD": "00", "INQR_DVSN": "00",
            "PDNO": "", "CCLD_DVSN": "00", "ORD_GNO_BRNO": "", "ODNO": "", "INQR_DVSN_3": "00", "INQR_DVSN_1": "",
            "CTX_AREA_FK100": "", "CTX_AREA_NK100": "", **kw}


def rvsecncl_q(**kw: str) -> dict[str, str]:
    return {**ACCT, "INQR_DVSN_1": "0", "INQR_DVSN_2": "0", "CTX_AREA_FK100": "", "CTX_AREA_NK100": "", **kw}


def order_body(pdno: str = "069500", qty: int = 1) -> dict[str, str]:
    return {**ACCT, "PDNO": pdno, "ORD_DVSN": "01", "ORD_QTY": str(qty), "ORD_UNPR": "0",
            "EXCG_ID_DVSN_CD": "KRX", "SLL_TYPE": "", "CNDT_PRIC": ""}


def open_order(srv: SimulatorServer, lower: bool = False) -> dict[str, str]:
    """A buy with an open remainder (half of it fills), its order output."""
    srv.account.set_faults(partial_fill={"*": 0.5})
    return ok(call(srv, G.ORDER, "TTTC0012U", order_body(qty=10), lower=lower))["output"]


# ------------------------------------------------------------------------------ every TR, every field
def drive_price(srv: SimulatorServer, lower: bool) -> None:
    body = ok(call(srv, G.PRICE, "FHKST01010100", {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "069500"},
                   lower=lower))
    out = body["output"]
    check(FP.OUTPUT, out)
    price = int(out["stck_prpr"])
    assert price == 35000 and out["stck_shrn_iscd"] == "069500"
    assert int(out["w52_lwpr"]) <= price <= int(out["w52_hgpr"])
    assert int(out["stck_llam"]) < price < int(out["stck_mxpr"]) and int(out["aspr_unit"]) > 0
    for k in ("w52_hgpr_date", "w52_lwpr_date", "d250_hgpr_date", "d250_lwpr_date", "dryy_hgpr_date",
              "dryy_lwpr_date"):
        assert "20250101" <= out[k] <= TODAY and datetime.strptime(out[k], "%Y%m%d").weekday() < 5
    assert out["dryy_hgpr_date"][:4] == out["dryy_lwpr_date"][:4] == "2026"


def drive_balance(srv: SimulatorServer, lower: bool) -> None:
    body = ok(call(srv, G.BALANCE, "TTTC8434R", balance_q(), lower=lower))
    assert body["output1"]
    for row in body["output1"]:
        check(FB.OUTPUT1, row)
    assert len(body["output2"]) == 1
    check(FB.OUTPUT2, body["output2"][0])


def drive_psbl(srv: SimulatorServer, lower: bool) -> None:
    q = {**ACCT, "PDNO": "069500", "ORD_UNPR": "", "ORD_DVSN": "01", "CMA_EVLU_AMT_ICLD_YN": "N",
         "OVRS_ICLD_YN": "N"}
    out = ok(call(srv, G.PSBL, "TTTC8908R", q, lower=lower))["output"]
    check(FS.OUTPUT, out)
    assert int(out["nrcvb_buy_qty"]) > 0


def drive_order(srv: SimulatorServer, lower: bool) -> None:
    out = ok(call(srv, G.ORDER, "TTTC0012U", order_body(), lower=lower))["output"]
    check(FO.ORDER_CASH_OUTPUT, out)
    sell = ok(call(srv, G.ORDER, "TTTC0011U", order_body(), lower=lower))["output"]
    check(FO.ORDER_CASH_OUTPUT, sell)


def drive_ccld(srv: SimulatorServer, lower: bool) -> None:
    open_order(srv)
    body = ok(call(srv, G.CCLD, "TTTC0081R", ccld_q(), lower=lower))
    assert body["output1"]
    for row in body["output1"]:
        check(FC.OUTPUT1, row)
    check(FC.OUTPUT2, body["output2"])


def drive_rvsecncl(srv: SimulatorServer, lower: bool) -> None:
    placed = open_order(srv)
    b = {**ACCT, "KRX_FWDG_ORD_ORGNO": placed["KRX_FWDG_ORD_ORGNO"], "ORGN_ODNO": placed["ODNO"],
         "ORD_DVSN": "01", "RVSE_CNCL_DVSN_CD": "02", "ORD_QTY": "0", "ORD_UNPR": "0", "QTY_ALL_ORD_YN": "Y",
         "EXCG_ID_DVSN_CD": "KRX"}
    out = ok(call(srv, G.RVSE, "TTTC0013U", b, lower=lower))["output"]
    check(FO.RVSECNCL_OUTPUT, out)
    assert out["odno"] == out["ODNO"] != placed["ODNO"]


def drive_psbl_rvsecncl(srv: SimulatorServer, lower: bool) -> None:
    placed = open_order(srv)
    body = ok(call(srv, G.PSBL_RVSECNCL, "TTTC0084R", rvsecncl_q(), lower=lower))
    assert [r["odno"] for r in body["output"]] == [placed["ODNO"]]
    check(FR.OUTPUT, body["output"][0])
    assert body["output"][0]["psbl_qty"] == "5"


def drive_search_info(srv: SimulatorServer, lower: bool) -> None:
    out = ok(call(srv, G.SEARCH_INFO, "CTPF1604R", {"PDNO": "069500", "PRDT_TYPE_CD": "300"}, lower=lower))["output"]
    check(FI.OUTPUT, out)
    assert out["std_pdno"] == "KR7069500007" and out["pdno"] == "069500"


def drive_holiday(srv: SimulatorServer, lower: bool) -> None:
    body = ok(call(srv, G.HOLIDAY, "CTCA0903R", {"BASS_DT": TODAY, "CTX_AREA_FK": "", "CTX_AREA_NK": ""},
                   lower=lower))
    assert body["output"][0]["bass_dt"] == TODAY and body["output"][0]["wday_dvsn_cd"] == "03"  # Tuesday
    for row in body["output"]:
        check(FH.OUTPUT, row)
    assert "ctx_area_fk" in body and "ctx_area_nk" in body


def drive_asking_price(srv: SimulatorServer, lower: bool) -> None:
    body = ok(call(srv, G.ASKING_PRICE, "FHKST01010200", {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "069500"},
                   lower=lower))
    check(FA.OUTPUT1, body["output1"])
    check(FA.OUTPUT2, body["output2"])
    book, last = body["output1"], int(body["output2"]["stck_prpr"])
    assert int(book["bidp1"]) <= last <= int(book["askp1"]) and body["output2"]["stck_shrn_iscd"] == "069500"
    asks = [int(book[f"askp{i}"]) for i in range(1, FA.LEVELS + 1) if int(book[f"askp{i}"])]
    assert asks == sorted(asks)


DRIVERS: dict[str, Callable[[SimulatorServer, bool], None]] = {
    G.PRICE: drive_price,
    G.ASKING_PRICE: drive_asking_price,
    G.BALANCE: drive_balance,
    G.PSBL: drive_psbl,
    G.ORDER: drive_order,
    G.CCLD: drive_ccld,
    G.RVSE: drive_rvsecncl,
    G.PSBL_RVSECNCL: drive_psbl_rvsecncl,
    G.SEARCH_INFO: drive_search_info,
    G.HOLIDAY: drive_holiday,
}


def test_every_tr_the_simulator_serves_is_driven_here() -> None:
    assert set(DRIVERS) == set(G.TRS)


@pytest.mark.parametrize("lower", [False, True], ids=["UPPER", "lower"])
@pytest.mark.parametrize("path", list(DRIVERS), ids=lambda p: p.rsplit("/", 1)[-1])
@pytest.mark.parametrize("env", ["paper", "real"])
def test_every_tr_answers_the_brokers_field_list(sim, env: str, path: str, lower: bool) -> None:
    srv = sim(env)
    if env == "paper" and path in G.REAL_ONLY:
        r = call(srv, path, next(iter(G.TRS[path][1])), {}, lower=lower)
        assert r.status_code == 500 and r.json()["msg_cd"] == "EGW02006"
        return
    if lower and G.TRS[path][0] == "POST":
        # the broker's documents: POST body keys must be UPPERCASE; nothing is placed or cancelled
        before = srv.account.read()
        r = call(srv, path, next(iter(G.TRS[path][1])), order_body(), lower=True)
        assert r.json()["rt_cd"] == "1" and r.json()["msg_cd"] == "OPSQ2001"
        assert srv.account.read()["orders"] == before["orders"]
        return
    DRIVERS[path](srv, lower)


@pytest.mark.parametrize("real_tr", ["CTPF1604R", "TTTC0084R", "TTTC8036R", "CTCA0903R"])
def test_real_only_trs_are_not_on_the_paper_host_under_either_tr_id(sim, real_tr: str) -> None:
    srv = sim("paper")
    path = next(p for p, (_, trs) in G.TRS.items() if real_tr in trs)
    for tr in (real_tr, "V" + real_tr[1:]):
        headers = {"authorization": f"Bearer {token(srv)}", "appkey": TEST_APPKEY, "appsecret": TEST_APPSECRET,
                   "tr_id": tr}
        r = httpx.get(srv.url + path, headers=headers)
        assert r.status_code == 500 and r.json()["msg_cd"] == "EGW02006"


def test_the_formats_refuse_what_the_broker_would_not_send() -> None:
    spec = {"a": "int", "d": "date", "y": "yn", "t": "time"}
    assert conforms(spec, {"a": "12", "d": "20261201", "y": "N", "t": "093000"}) == []
    assert conforms(spec, {"a": 12, "d": "2026-12-01", "y": "n", "t": "0930", "x": ""}) == [
        "extra x", "a=12 is not a string", "d='2026-12-01' is not date", "y='n' is not yn", "t='0930' is not time"]
    assert conforms(spec, {}) == [f"missing {k}" for k in spec]
    assert set(FORMATS) >= {f for m in (FP, FI, FH) for f in m.OUTPUT.values()}


def test_inquire_price_carries_the_fields_clients_missed() -> None:
    for k in ("short_over_yn", "mrkt_warn_cls_code", "vi_cls_code", "ovtm_vi_cls_code", "ssts_yn",
              "w52_hgpr_date", "d250_lwpr_vrss_prpr_rate", "dryy_hgpr_date"):
        assert k in FP.OUTPUT
    assert "hts_kor_isnm" not in FP.OUTPUT and len(FP.OUTPUT) == 82  # 48 served before, 34 missing


def test_the_reply_builders_fill_every_listed_field_themselves() -> None:
    """fields.shape() would blank a field a builder forgot; the builders must not rely on that."""
    from datetime import date

    from adapters.kis_sim import replies as R
    from adapters.kis_sim.tr_holiday import row as holiday_row
    from adapters.kis_sim.tr_psbl_rvsecncl import row as rvsecncl_row

    order = {"odno": "0000000001", "org_no": "00950", "ticker": "069500", "side": "buy", "qty": 10,
             "order_type": "01", "price": 0, "filled_qty": 5, "amount": 175000, "fees": 25, "remaining": 5,
             "rejected": 0, "cancelled": 0, "name": "KOSPI200 ETF", "placed_at": NOW.isoformat()}
    holding = {"ticker": "069500", "name": "KOSPI200 ETF", "quantity": 3, "orderable_quantity": 3, "price": 35000,
               "avg_cost": 34000.0}
    state = {"cash": 1_000_000}

    class Acct:
        session = "always-open"

    built = {
        "price": (FP.OUTPUT, {**R.price_output("069500", 35000, ""), **R.price_history(35000, 5, date(2026, 12, 1))}),
        "balance row": (FB.OUTPUT1, R.balance_row(holding, [order])),
        "balance summary": (FB.OUTPUT2, R.balance_summary(state, [holding], [order])),
        "psbl": (FS.OUTPUT, R.psbl_output(1_000_000, 35000)),
        "ccld row": (FC.OUTPUT1, R.ccld_row(order)),
        "ccld summary": (FC.OUTPUT2, R.ccld_summary([order])),
        "psbl-rvsecncl row": (FR.OUTPUT, rvsecncl_row(order)),
        "holiday row": (FH.OUTPUT, holiday_row(Acct(), date(2026, 12, 1))),  # type: ignore[arg-type]
    }
    for what, (spec, obj) in built.items():
        assert set(spec) <= set(obj), (what, set(spec) - set(obj))


# ------------------------------------------------------------------------------ continuation
def pages(srv: SimulatorServer, path: str, real_tr: str, q: dict[str, str], *, lower: bool,
          out: str) -> list[tuple[str, list[dict[str, str]], dict[str, Any]]]:
    """Every page as the broker's samples fetch them: tr_cont N and the previous ctx_area_* values."""
    got, cont, fk, nk = [], "", "", ""
    for _ in range(10):
        r = call(srv, path, real_tr, {**q, "CTX_AREA_FK100": fk, "CTX_AREA_NK100": nk}, lower=lower, tr_cont=cont)
        body = ok(r)
        got.append((r.headers["tr_cont"], body[out], body))
        if r.headers["tr_cont"] not in ("F", "M"):
            return got
        cont, fk, nk = "N", body["ctx_area_fk100"], body["ctx_area_nk100"]
    raise AssertionError("no last page after 10")


@pytest.mark.parametrize("lower", [False, True], ids=["UPPER", "lower"])
@pytest.mark.parametrize("first", ["M", "F"])
def test_balance_continuation_first_middle_last(sim, lower: bool, first: str) -> None:
    srv = sim("paper", account=many_holdings_account(Path("x"), 45), first_page_tr_cont=first)
    got = pages(srv, G.BALANCE, "TTTC8434R", balance_q(), lower=lower, out="output1")
    assert [c for c, _, _ in got] == [first, "M", "E"]
    assert [len(rows) for _, rows, _ in got] == [20, 20, 5]
    tickers = [r["pdno"] for _, rows, _ in got for r in rows]
    assert tickers == sorted(srv.account.positions()) and len(set(tickers)) == 45
    for _, _, body in got:
        assert len(body["ctx_area_fk100"]) == len(body["ctx_area_nk100"]) == 100
    assert got[-1][2]["ctx_area_nk100"].strip() == "" and got[0][2]["ctx_area_nk100"].strip() != ""
    assert got[0][2]["msg_cd"] == "KIOK0500" and got[-1][2]["msg_cd"] == "KIOK0510"


def test_a_single_page_is_last_at_once_and_the_real_page_is_50(sim) -> None:
    srv = sim("real", account=many_holdings_account(Path("x"), 45))
    got = pages(srv, G.BALANCE, "TTTC8434R", balance_q(), lower=True, out="output1")
    assert [(c, len(rows)) for c, rows, _ in got] == [("D", 45)]


def test_daily_orders_and_cancellable_orders_page_the_same_way(sim) -> None:
    srv = sim("real", ccld_page_size=2, psbl_rvsecncl_page_size=2)
    odnos = [open_order(srv)["ODNO"] for _ in range(5)]
    ccld = pages(srv, G.CCLD, "TTTC0081R", ccld_q(INQR_DVSN="01"), lower=True, out="output1")
    assert [c for c, _, _ in ccld] == ["M", "M", "E"]
    assert [r["odno"] for _, rows, _ in ccld for r in rows] == odnos
    cancellable = pages(srv, G.PSBL_RVSECNCL, "TTTC0084R", rvsecncl_q(), lower=False, out="output")
    assert [c for c, _, _ in cancellable] == ["M", "M", "E"]
    assert [r["odno"] for _, rows, _ in cancellable for r in rows] == odnos


def test_a_continuation_key_the_simulator_did_not_write_is_refused(sim) -> None:
    srv = sim("paper", account=many_holdings_account(Path("x"), 45))
    r = call(srv, G.BALANCE, "TTTC8434R", balance_q(CTX_AREA_NK100="garbage"), lower=True, tr_cont="N")
    assert r.json()["msg_cd"] == "OPSQ1002"


# ------------------------------------------------------------------------------ other fidelity items
def test_the_test_app_secret_is_180_characters_and_the_key_36() -> None:
    assert len(TEST_APPSECRET) == 180 and len(TEST_APPKEY) == 36
    assert "SIM" in TEST_APPSECRET and "sim" in TEST_APPKEY  # plainly fake


def test_a_doubled_slash_path_is_served_like_the_single_slash_one(sim) -> None:
    srv = sim("paper")
    q = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "069500"}
    doubled = ok(call(srv, G.PRICE, "FHKST01010100", q, url_path="/" + G.PRICE))
    assert doubled["output"] == ok(call(srv, G.PRICE, "FHKST01010100", q))["output"]


@pytest.mark.parametrize("unpr", ["0", ""])
def test_buying_power_for_a_market_order_is_priced_at_the_current_price(sim, unpr: str) -> None:
    srv = sim("paper")
    q = {**ACCT, "PDNO": "069500", "ORD_UNPR": unpr, "ORD_DVSN": "01", "CMA_EVLU_AMT_ICLD_YN": "N",
         "OVRS_ICLD_YN": "N"}
    out = ok(call(srv, G.PSBL, "TTTC8908R", q, lower=True))["output"]
    cash = srv.account.orderable_cash()
    assert out["psbl_qty_calc_unpr"] == "35000"
    assert out["nrcvb_buy_qty"] == str(cash // 35000) and int(out["nrcvb_buy_qty"]) > 0


def test_holiday_calendar_follows_the_simulators_krx_session(tmp_path: Path) -> None:
    from adapters.scheduler.calendar import XKRX

    XKRX.status(NOW)  # build the calendar (seconds on a busy machine) before the simulator is asked
    path = tmp_path / "acct.json"
    SimAccount.demo(path)
    with SimulatorServer(path, cfg("real"), clock=lambda: NOW, session="krx") as srv:
        body = ok(call(srv, G.HOLIDAY, "CTCA0903R", {"BASS_DT": "20261221"}, lower=True))
    days = {r["bass_dt"]: r for r in body["output"]}
    assert days["20261221"]["opnd_yn"] == "Y" and days["20261221"]["wday_dvsn_cd"] == "02"  # Monday
    assert days["20261225"]["opnd_yn"] == "N"  # Christmas
    assert days["20261226"]["opnd_yn"] == "N" and days["20261226"]["wday_dvsn_cd"] == "07"  # Saturday
    assert days["20261227"]["wday_dvsn_cd"] == "01"  # Sunday


def test_an_always_open_simulator_has_no_holidays(sim) -> None:
    srv = sim("real")
    body = ok(call(srv, G.HOLIDAY, "CTCA0903R", {"BASS_DT": "20261225"}))
    assert {r["opnd_yn"] for r in body["output"]} == {"Y"}
    bad = call(srv, G.HOLIDAY, "CTCA0903R", {"BASS_DT": "2026-12-25"}).json()
    assert bad["rt_cd"] == "1" and bad["msg_cd"] == "OPSQ2001"


def test_our_client_reads_the_cancelled_quantity_under_either_spelling(sim) -> None:
    srv = sim("real")
    placed = open_order(srv)
    b = {**ACCT, "KRX_FWDG_ORD_ORGNO": placed["KRX_FWDG_ORD_ORGNO"], "ORGN_ODNO": placed["ODNO"],
         "ORD_DVSN": "01", "RVSE_CNCL_DVSN_CD": "02", "ORD_QTY": "0", "ORD_UNPR": "0", "QTY_ALL_ORD_YN": "Y"}
    ok(call(srv, G.RVSE, "TTTC0013U", b))
    row = next(r for r in ok(call(srv, G.CCLD, "TTTC0081R", ccld_q()))["output1"] if r["odno"] == placed["ODNO"])
    assert row["cnc_cfrm_qty"] == row["cncl_cfrm_qty"] == "5"
    documented = {k: v for k, v in row.items() if k != "cncl_cfrm_qty"}
    recorded = {k: v for k, v in row.items() if k != "cnc_cfrm_qty"}
    for r in (row, documented, recorded):
        got = order_of(r, "daily orders")
        assert got is not None and got.cancelled == 5 and got.remaining == 0 and got.filled_quantity == 5
    with pytest.raises(KisMalformedReply):
        order_of({k: v for k, v in documented.items() if k != "cnc_cfrm_qty"}, "daily orders")

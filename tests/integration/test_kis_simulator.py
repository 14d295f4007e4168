"""The KIS simulator over HTTP: wire format, auth, TR ids, paging, faults; KisBroker against it."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from collections import namedtuple
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kis_helpers import kis_config, many_holdings_account  # noqa: E402, I001

from adapters.kis.broker import KST, KisBroker  # noqa: E402
from adapters.kis.errors import KisAuthError, KisMalformedReply, KisRetryExhausted  # noqa: E402
from adapters.kis_sim.simulator import (  # noqa: E402
    BALANCE,
    ORDER,
    PRICE,
    TEST_APPKEY,
    TEST_APPSECRET,
    SimulatorConfig,
    SimulatorServer,
)
from adapters.retry_policy import NO_RETRY  # noqa: E402
from adapters.sim.account import SimAccount  # noqa: E402
from statemachine.errors import OrderOutcomeUnknown, OrderRejected  # noqa: E402
from statemachine.models import Side  # noqa: E402


def today() -> object:
    return datetime.now(UTC).astimezone(KST).date()


@pytest.fixture(scope="module")
def _server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorServer]:
    path = tmp_path_factory.mktemp("kis-sim") / "acct.json"
    SimAccount.demo(path)
    srv = SimulatorServer(path)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def make_sim(_server: SimulatorServer) -> Iterator:
    """One uvicorn server per module; each test gets a fresh account file and simulator state."""

    def start(config: SimulatorConfig | None = None, account: dict | None = None) -> SimulatorServer:
        if account is None:
            SimAccount.demo(_server.account.path)
        else:
            SimAccount.create(_server.account.path, account)
        _server.simulator.reset(config or SimulatorConfig(rate_limit_per_s=0, token_issue_min_interval_s=0))
        return _server

    yield start


def broker(srv: SimulatorServer, tmp_path: Path, **kw: object) -> KisBroker:
    return KisBroker(kis_config(srv.url, tmp_path, **kw), httpx.Client())


def token(srv: SimulatorServer) -> str:
    r = httpx.post(
        srv.url + "/oauth2/tokenP",
        json={"grant_type": "client_credentials", "appkey": TEST_APPKEY, "appsecret": TEST_APPSECRET},
    )
    return r.json()["access_token"]


def raw_get(srv: SimulatorServer, path_qs: str, headers: dict[str, str]) -> bytes:
    host, port = srv.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        hdrs = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        s.sendall(f"GET {path_qs} HTTP/1.1\r\nHost: {host}\r\n{hdrs}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def auth_headers(srv: SimulatorServer, tr_id: str) -> dict[str, str]:
    return {
        "content-type": "application/json; charset=utf-8",
        "authorization": f"Bearer {token(srv)}",
        "appkey": TEST_APPKEY,
        "appsecret": TEST_APPSECRET,
        "tr_id": tr_id,
        "custtype": "P",
    }


# ------------------------------------------------------------------------------ wire format
def test_response_header_names_are_cased_like_the_broker(make_sim) -> None:
    srv = make_sim()
    raw = raw_get(
        srv, f"{PRICE}?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=069500", auth_headers(srv, "FHKST01010100")
    )
    head = raw.split(b"\r\n\r\n")[0].decode()
    names = [line.split(":")[0] for line in head.split("\r\n")[1:]]
    assert "Content-Type" in names and "Content-Length" in names
    assert "tr_id" in names and "tr_cont" in names and "gt_uid" in names
    assert "content-type" not in names and "content-length" not in names
    body = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    assert body["rt_cd"] == "0" and body["output"]["stck_prpr"] == "35000"
    assert all(isinstance(v, str) for v in body["output"].values())


def test_the_official_sample_clients_header_namedtuple_works(make_sim) -> None:
    """kis_auth.py APIResp._setHeader: every all-lowercase response header becomes a namedtuple field."""
    srv = make_sim()
    host, port = srv.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request(
        "GET",
        f"{PRICE}?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=069500",
        headers=auth_headers(srv, "FHKST01010100"),
    )
    resp = conn.getresponse()
    fields = {k: v for k, v in resp.getheaders() if k.islower()}
    header = namedtuple("header", fields.keys())(**fields)  # crashes on 'content-type'
    assert header.tr_id == "FHKST01010100" and header.tr_cont == ""
    conn.close()


def test_token_endpoint_403_shapes_and_reuse(make_sim) -> None:
    srv = make_sim(SimulatorConfig(token_issue_min_interval_s=60))
    url = srv.url + "/oauth2/tokenP"
    bad_key = httpx.post(
        url, json={"grant_type": "client_credentials", "appkey": "x", "appsecret": TEST_APPSECRET}
    )
    assert bad_key.status_code == 403 and bad_key.json()["error_code"] == "EGW00103"
    bad_secret = httpx.post(
        url, json={"grant_type": "client_credentials", "appkey": TEST_APPKEY, "appsecret": "x"}
    )
    assert bad_secret.json()["error_code"] == "EGW00105"
    good = {"grant_type": "client_credentials", "appkey": TEST_APPKEY, "appsecret": TEST_APPSECRET}
    first = httpx.post(url, json=good).json()
    assert first["token_type"] == "Bearer" and 86000 < first["expires_in"] <= 86400
    assert isinstance(first["expires_in"], int) and first["access_token"].startswith("eyJ")
    again = httpx.post(url, json=good)
    assert again.status_code == 403 and again.json()["error_code"] == "EGW00133"


def test_hashkey_and_revoke(make_sim) -> None:
    srv = make_sim()
    body = {"CANO": "50001234", "ORD_QTY": "1"}
    r = httpx.post(
        srv.url + "/uapi/hashkey", json=body, headers={"appkey": TEST_APPKEY, "appsecret": TEST_APPSECRET}
    )
    assert r.json()["BODY"] == body and len(r.json()["HASH"]) == 64
    tok = token(srv)
    r = httpx.post(
        srv.url + "/oauth2/revokeP", json={"appkey": TEST_APPKEY, "appsecret": TEST_APPSECRET, "token": tok}
    )
    assert r.json()["code"] == 200
    raw = raw_get(
        srv,
        f"{PRICE}?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=069500",
        {**auth_headers(srv, "FHKST01010100"), "authorization": f"Bearer {tok}"},
    )
    assert b"EGW00121" in raw


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"appkey": "wrong"}, "EGW00103"),
        ({"appsecret": "wrong"}, "EGW00105"),
        ({"authorization": "Bearer nope"}, "EGW00121"),
        ({"authorization": "nope"}, "EGW00121"),
        ({"tr_id": "TTTC8434R"}, "EGW02006"),  # a real TR on the paper host
        ({"tr_id": "XXXX0000R"}, "OPSQ0002"),
    ],
)
def test_simulator_checks_credentials_token_and_tr(make_sim, headers: dict, code: str) -> None:
    srv = make_sim()
    h = {**auth_headers(srv, "VTTC8434R"), **headers}
    raw = raw_get(srv, f"{BALANCE}?CANO=50001234&ACNT_PRDT_CD=01&CTX_AREA_FK100=&CTX_AREA_NK100=", h)
    assert raw.startswith(b"HTTP/1.1 500")
    assert json.loads(raw.split(b"\r\n\r\n", 1)[1])["msg_cd"] == code


# ------------------------------------------------------------------------------ KisBroker end to end
def test_paper_balance_of_45_holdings_takes_3_pages(make_sim, tmp_path: Path) -> None:
    srv = make_sim(account=many_holdings_account(Path("x"), 45))
    b = broker(srv, tmp_path)
    snap = b.balance()
    assert len(snap.holdings) == 45 and snap.cash == 50_000_000
    assert {h.ticker: h.quantity for h in snap.holdings} == srv.account.positions()
    assert srv.simulator.calls["VTTC8434R"] == 3


def test_real_env_on_loopback_uses_real_trs_and_50_row_pages(make_sim, tmp_path: Path) -> None:
    srv = make_sim(
        SimulatorConfig(env="real", rate_limit_per_s=0, token_issue_min_interval_s=0),
        account=many_holdings_account(Path("x"), 45),
    )
    b = broker(srv, tmp_path, env="real")
    assert len(b.balance().holdings) == 45
    assert srv.simulator.calls["TTTC8434R"] == 1
    res = b.place_order(Side.BUY, "400001", 2)
    assert len(res.odno) == 10


def test_real_env_client_against_paper_host_is_refused(make_sim, tmp_path: Path) -> None:
    srv = make_sim()
    with pytest.raises(KisAuthError) as info:
        broker(srv, tmp_path, env="real").orderable_cash()
    assert info.value.code == "EGW02006"


def test_full_cycle_with_legacy_trs(make_sim, tmp_path: Path) -> None:
    srv = make_sim()
    b = broker(srv, tmp_path, legacy_tr=True)
    buy = b.place_order(Side.BUY, "261240", 10)
    sell = b.place_order(Side.SELL, "069500", 5)
    rows = {o.odno: o for o in b.daily_orders(today())}
    assert rows[buy.odno].filled_quantity == 10 and rows[buy.odno].side is Side.BUY
    assert rows[sell.odno].amount == 5 * 35000
    assert srv.simulator.calls["VTTC0802U"] == 1 and srv.simulator.calls["VTTC0801U"] == 1
    assert srv.simulator.calls["VTTC8001R"] == 1


def test_daily_ccld_pages_on_paper(make_sim, tmp_path: Path) -> None:
    srv = make_sim()
    b = broker(srv, tmp_path)
    for _ in range(17):
        b.place_order(Side.BUY, "261240", 1)
    rows = b.daily_orders(today(), ticker="261240", side=Side.BUY)
    assert len(rows) == 17 and len({r.odno for r in rows}) == 17
    assert srv.simulator.calls["VTTC0081R"] == 2  # 15 + 2


def test_lost_order_reply_is_unknown_and_the_order_exists(make_sim, tmp_path: Path) -> None:
    srv = make_sim()
    srv.account.set_faults(lose_reply_rate=1.0)
    b = broker(srv, tmp_path)
    with pytest.raises(OrderOutcomeUnknown):
        b.place_order(Side.BUY, "261240", 7)
    assert [(o["ticker"], o["qty"], o["filled_qty"]) for o in srv.account.orders()] == [("261240", 7, 7)]
    assert srv.simulator.calls["VTTC0012U"] == 1  # never re-sent
    found = b.daily_orders(today(), ticker="261240")
    assert len(found) == 1 and found[0].quantity == 7  # what the engine reconciles against


def test_order_reply_dropped_by_one_shot_fault(make_sim, tmp_path: Path) -> None:
    srv = make_sim()
    srv.simulator.inject("drop", path=ORDER)
    with pytest.raises(OrderOutcomeUnknown):
        broker(srv, tmp_path).place_order(Side.SELL, "069500", 3)
    assert srv.account.positions()["069500"] == 147


def test_order_timeout_is_unknown_and_applied(make_sim, tmp_path: Path) -> None:
    srv = make_sim(SimulatorConfig(rate_limit_per_s=0, token_issue_min_interval_s=0, timeout_sleep_s=1.5))
    srv.simulator.inject("timeout", path=ORDER)
    with pytest.raises(OrderOutcomeUnknown, match="no reply"):
        broker(srv, tmp_path, order_timeout_s=0.3).place_order(Side.BUY, "261240", 2)
    assert len(srv.account.orders()) == 1


def test_read_faults_are_retried(make_sim, tmp_path: Path) -> None:
    srv = make_sim(SimulatorConfig(rate_limit_per_s=0, token_issue_min_interval_s=0, timeout_sleep_s=1.0))
    srv.simulator.inject("http500", path=BALANCE)
    srv.simulator.inject("timeout", path=BALANCE)
    srv.simulator.inject("ledger_limit", path=BALANCE)
    b = broker(
        srv,
        tmp_path,
        timeout_s=0.3,
        retry=__import__("adapters.retry_policy").retry_policy.RetryPolicy(attempts=4, initial_s=0.01),
    )
    assert len(b.balance().holdings) == 7
    assert srv.simulator.calls["VTTC8434R"] == 4


@pytest.mark.parametrize("fault", ["html", "empty"])
def test_malformed_replies_from_the_simulator(make_sim, tmp_path: Path, fault: str) -> None:
    srv = make_sim()
    srv.simulator.inject(fault, path=BALANCE)  # type: ignore[arg-type]
    with pytest.raises(KisMalformedReply):
        broker(srv, tmp_path).balance()


def test_partial_fill_then_cancel(make_sim, tmp_path: Path) -> None:
    srv = make_sim()
    srv.account.set_faults(partial_fill={"*": 0.4})
    b = broker(srv, tmp_path)
    res = b.place_order(Side.BUY, "261240", 10)
    [row] = b.daily_orders(today(), odno=res.odno)
    assert (row.filled_quantity, row.remaining) == (4, 6)
    assert [o.odno for o in b.open_orders(today())] == [res.odno]
    b.cancel_order(res.odno, res.org_no, row.remaining)
    [row] = b.daily_orders(today(), odno=res.odno)
    assert (row.filled_quantity, row.remaining, row.cancelled) == (4, 0, 6)
    assert b.open_orders(today()) == []


@pytest.mark.parametrize(
    ("faults", "code"),
    [
        ({"market_closed": True}, "40580000"),
        ({"reject": {"*": "insufficient"}}, "APBK0952"),
        ({"reject": {"261240": "closed"}}, "APBK0918"),
    ],
)
def test_rejects(make_sim, tmp_path: Path, faults: dict, code: str) -> None:
    srv = make_sim()
    srv.account.set_faults(**faults)
    with pytest.raises(OrderRejected) as info:
        broker(srv, tmp_path).place_order(Side.BUY, "261240", 1)
    assert info.value.code == code
    assert srv.account.orders() == []


def test_insufficient_cash_reject(make_sim, tmp_path: Path) -> None:
    srv = make_sim()
    with pytest.raises(OrderRejected) as info:
        broker(srv, tmp_path).place_order(Side.BUY, "357870", 10_000)
    assert info.value.code == "APBK0952"


def test_expired_token_is_refreshed_once(make_sim, tmp_path: Path) -> None:
    srv = make_sim()
    b = broker(srv, tmp_path)
    b.orderable_cash()
    srv.simulator.expire_tokens()
    assert b.orderable_cash() == 20_000_000
    assert b.client.tokens.issued == 2
    srv.simulator.expire_tokens()
    assert b.place_order(Side.BUY, "261240", 1).odno  # an order refused for its token is re-sent once
    assert len(srv.account.orders()) == 1


def test_simulator_rate_limit_answers_egw00201(make_sim, tmp_path: Path) -> None:
    srv = make_sim(SimulatorConfig(rate_limit_per_s=5, token_issue_min_interval_s=0))
    b = broker(srv, tmp_path, requests_per_second=1000, retry=NO_RETRY)
    with pytest.raises(KisRetryExhausted) as info:
        for _ in range(10):
            b.prices(["069500"])
    assert info.value.code == "EGW00201"
    assert srv.simulator.rate_limited >= 1


def test_client_limiter_keeps_under_the_simulator_limit(make_sim, tmp_path: Path) -> None:
    srv = make_sim(SimulatorConfig(rate_limit_per_s=20, token_issue_min_interval_s=0))
    b = broker(srv, tmp_path, requests_per_second=20, retry=NO_RETRY)
    b.orderable_cash()  # token issued outside the timing
    t0 = time.monotonic()
    for _ in range(16):
        b.prices(["069500"])
    assert srv.simulator.rate_limited == 0
    assert time.monotonic() - t0 <= 1.2 * 16 / 20


def test_standalone_main_prints_url_and_credentials(tmp_path: Path) -> None:
    acct = tmp_path / "acct.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "adapters.kis_sim.simulator", str(acct)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in first
        url = first.split("listening on ")[1].split()[0]
        rest = "".join(proc.stdout.readline() for _ in range(3))
        assert TEST_APPKEY in rest and "50001234-01" in rest
        r = httpx.post(
            url + "/oauth2/tokenP",
            json={"grant_type": "client_credentials", "appkey": TEST_APPKEY, "appsecret": TEST_APPSECRET},
        )
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def test_latency_is_added_to_every_call(make_sim, tmp_path: Path) -> None:
    srv = make_sim(SimulatorConfig(rate_limit_per_s=0, token_issue_min_interval_s=0, latency_s=0.15))
    b = broker(srv, tmp_path)
    b.orderable_cash()
    t0 = time.monotonic()
    b.prices(["069500", "132030"])
    assert time.monotonic() - t0 >= 0.3


def test_5xx_on_an_order_is_unknown_and_the_engine_would_find_nothing(make_sim, tmp_path: Path) -> None:
    srv = make_sim()
    srv.simulator.inject("http500", path=ORDER)
    b = broker(srv, tmp_path)
    with pytest.raises(OrderOutcomeUnknown):
        b.place_order(Side.BUY, "261240", 1)
    assert srv.account.orders() == [] and b.daily_orders(today()) == []


def test_random_5xx_rate_on_reads_is_absorbed_by_retries(make_sim, tmp_path: Path) -> None:
    from adapters.retry_policy import RetryPolicy

    srv = make_sim(
        SimulatorConfig(rate_limit_per_s=0, token_issue_min_interval_s=0, error_5xx_rate=0.3, seed=7)
    )
    b = broker(srv, tmp_path, retry=RetryPolicy(attempts=8, initial_s=0.0))
    for _ in range(10):
        assert b.prices(["069500"]) == {"069500": 35000}
    assert sum(srv.simulator.calls.values()) > 10


def test_file_rate_limiter_from_config(make_sim, tmp_path: Path) -> None:
    from adapters.kis.rate_limit import FileRateLimiter

    srv = make_sim()
    b = broker(srv, tmp_path, rate_limit_path=tmp_path / "kis.rate")
    assert isinstance(b.client.limiter, FileRateLimiter)
    b.orderable_cash()
    assert (tmp_path / "kis.rate").exists()

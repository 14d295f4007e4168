"""KisBroker against a mocked transport: parsing, paging, the error table, order-send rules."""

from __future__ import annotations

import logging
import sys
from datetime import date
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kis_helpers import (  # noqa: E402, I001
    TOKEN,
    FakeKis,
    balance_row,
    balance_summary,
    fail,
    kis_config,
    kis_json,
    ok,
)

from adapters.kis.broker import KisBroker  # noqa: E402
from adapters.kis.config import LIVE_CONFIRMATION, REAL_URL  # noqa: E402
from adapters.kis.errors import (  # noqa: E402
    KisAuthError,
    KisMalformedReply,
    KisRetryExhausted,
    KisTokenExpired,
)
from adapters.kis_sim.simulator import TEST_APPKEY, TEST_APPSECRET  # noqa: E402
from statemachine.errors import BrokerError, OrderOutcomeUnknown, OrderRejected, SafetyStop  # noqa: E402
from statemachine.models import Side  # noqa: E402

URL = "http://127.0.0.1:9"


def broker(fake: FakeKis, tmp_path: Path, **kw: object) -> KisBroker:
    return KisBroker(kis_config(URL, tmp_path, **kw), fake.client(), sleep=lambda s: None)


def ccld_row(
    odno: str, ticker: str = "069500", side: str = "02", qty: int = 10, filled: int = 10, remaining: int = 0
) -> dict[str, str]:
    return {
        "ord_dt": "20261125",
        "ord_gno_brno": "00950",
        "odno": odno,
        "orgn_odno": "",
        "pdno": ticker,
        "sll_buy_dvsn_cd": side,
        "ord_qty": str(qty),
        "ord_unpr": "0",
        "ord_tmd": "101502",
        "tot_ccld_qty": str(filled),
        "avg_prvs": "35000",
        "tot_ccld_amt": str(filled * 35000),
        "cncl_yn": "N",
        "cncl_cfrm_qty": "0",
        "rmn_qty": str(remaining),
        "rjct_qty": "0",
        "ord_dvsn_cd": "01",
    }


# ------------------------------------------------------------------------------ reads
def test_balance_walks_every_page_passing_ctx_back_unchanged(tmp_path: Path) -> None:
    rows = [balance_row(f"{100000 + i:06d}", 10 + i, 1000) for i in range(45)]
    fk = "50001234^01^".ljust(100)
    pages = [
        (rows[0:20], "F", "100019^20".ljust(100)),
        (rows[20:40], "M", "100039^40".ljust(100)),
        (rows[40:], "D", "".ljust(100)),
    ]
    fake = FakeKis()
    for chunk, cont, nk in pages:
        fake.add(
            "inquire-balance",
            kis_json(
                200,
                ok(ctx_area_fk100=fk, ctx_area_nk100=nk, output1=chunk,
                   output2=[balance_summary(5_000_000, scts=1_440_000)]),
                tr_cont=cont,
            ),
        )
    snap = broker(fake, tmp_path).balance()
    assert len(snap.holdings) == 45 and snap.cash == 5_000_000
    assert snap.holding("100044").quantity == 54
    reqs = fake.of("inquire-balance")
    assert [r.headers["tr_cont"] for r in reqs] == ["", "N", "N"]
    assert reqs[0].url.params["CTX_AREA_NK100"] == ""
    assert reqs[1].url.params["CTX_AREA_NK100"] == "100019^20".ljust(100)  # padding kept
    assert reqs[2].url.params["CTX_AREA_FK100"] == fk
    assert all(r.headers["tr_id"] == "VTTC8434R" for r in reqs)
    assert reqs[0].url.params["CANO"] == "50001234" and reqs[0].url.params["ACNT_PRDT_CD"] == "01"
    h = reqs[0].headers
    assert h["authorization"].startswith("Bearer ") and h["custtype"] == "P"
    assert h["appkey"] == TEST_APPKEY and h["content-type"].startswith("application/json")


def test_balance_skips_sold_out_rows_and_aggregates_duplicate_lots(tmp_path: Path) -> None:
    fake = FakeKis().add(
        "inquire-balance",
        kis_json(
            200,
            ok(
                ctx_area_fk100="",
                ctx_area_nk100="",
                output1=[
                    balance_row("069500", 0, 35000),
                    balance_row("132030", 5, 13500, 2),
                    balance_row("132030", 3, 13500),
                ],
                output2=[balance_summary(100, scts=108_000)],
            ),
            tr_cont="D",
        ),
    )
    snap = broker(fake, tmp_path).balance()
    assert [h.ticker for h in snap.holdings] == ["132030"]
    assert snap.holdings[0].quantity == 8 and snap.holdings[0].orderable_quantity == 5


@pytest.mark.parametrize("cont", ["", "X"])
def test_balance_without_a_valid_tr_cont_is_not_a_snapshot(tmp_path: Path, cont: str) -> None:
    fake = FakeKis().add(
        "inquire-balance", kis_json(200, ok(output1=[], output2=[balance_summary(0)]), tr_cont=cont)
    )
    with pytest.raises(KisMalformedReply):
        broker(fake, tmp_path).balance()


def test_prices_orderable_cash_and_tr_ids(tmp_path: Path) -> None:
    fake = FakeKis()
    fake.add("inquire-price", kis_json(200, ok(output={"stck_prpr": "35000", "aspr_unit": "5"})))
    fake.add(
        "inquire-psbl-order",
        kis_json(200, ok(output={"ord_psbl_cash": "900", "nrcvb_buy_amt": "750", "max_buy_amt": "2000"})),
    )
    b = broker(fake, tmp_path)
    assert b.prices(["069500"]) == {"069500": 35000}
    assert b.orderable_cash() == 750
    p = fake.of("inquire-price")[0]
    assert p.headers["tr_id"] == "FHKST01010100"
    assert p.url.params["FID_COND_MRKT_DIV_CODE"] == "J" and p.url.params["FID_INPUT_ISCD"] == "069500"
    assert fake.of("inquire-psbl-order")[0].headers["tr_id"] == "VTTC8908R"


def test_zero_price_is_an_error(tmp_path: Path) -> None:
    fake = FakeKis().add("inquire-price", kis_json(200, ok(output={"stck_prpr": "0"})))
    with pytest.raises(BrokerError, match="no current price"):
        broker(fake, tmp_path).prices(["999999"])


def test_daily_orders_pages_and_fields(tmp_path: Path) -> None:
    fake = FakeKis()
    fake.add(
        "inquire-daily-ccld",
        kis_json(
            200,
            ok(ctx_area_fk100="a", ctx_area_nk100="b ", output1=[ccld_row("0000000002")], output2={}),
            tr_cont="F",
        ),
        kis_json(
            200,
            ok(
                ctx_area_fk100="a",
                ctx_area_nk100="",
                output2={},
                output1=[ccld_row("17", side="01", filled=4, remaining=6)],
            ),
            tr_cont="E",
        ),
    )
    rows = broker(fake, tmp_path).daily_orders(date(2026, 11, 25), ticker="069500", unfilled_only=True)
    assert [r.odno for r in rows] == ["0000000002", "0000000017"]
    assert rows[1].side is Side.SELL and rows[1].filled_quantity == 4 and rows[1].remaining == 6
    assert rows[0].placed_at.isoformat() == "2026-11-25T01:15:02+00:00"  # 10:15:02 KST
    q = fake.of("inquire-daily-ccld")
    assert q[0].headers["tr_id"] == "VTTC0081R"
    assert q[0].url.params["CCLD_DVSN"] == "02" and q[0].url.params["INQR_STRT_DT"] == "20261125"
    assert q[1].headers["tr_cont"] == "N" and q[1].url.params["CTX_AREA_NK100"] == "b "


def test_daily_orders_no_rows_code_is_an_empty_day(tmp_path: Path) -> None:
    fake = FakeKis().add("inquire-daily-ccld", kis_json(200, fail("KIOK0560", "조회할 내용이 없습니다")))
    assert broker(fake, tmp_path).daily_orders(date(2026, 11, 25)) == []


# ------------------------------------------------------------------------------ the error table
@pytest.mark.parametrize(
    ("status", "code", "exc"),
    [
        (500, "EGW00201", KisRetryExhausted),  # rate limit: retried, then exhausted
        (500, "EGW00215", KisRetryExhausted),
        (500, "EGW00103", KisAuthError),
        (500, "EGW00105", KisAuthError),
        (500, "EGW02004", KisAuthError),
        (500, "EGW02006", KisAuthError),
        (200, "OPSQ2000", BrokerError),
        (200, "APBK0918", BrokerError),
    ],
)
def test_envelope_codes_map_to_typed_errors(tmp_path: Path, status: int, code: str, exc: type) -> None:
    fake = FakeKis().add("inquire-psbl-order", *[kis_json(status, fail(code))] * 5)
    with pytest.raises(exc) as info:
        broker(fake, tmp_path).orderable_cash()
    assert info.value.code == code
    assert code in info.value.message


def test_rate_limited_read_is_retried_then_succeeds(tmp_path: Path) -> None:
    fake = FakeKis().add(
        "inquire-psbl-order",
        kis_json(500, fail("EGW00201")),
        kis_json(500, fail("EGW00215")),
        kis_json(200, ok(output={"nrcvb_buy_amt": "10"})),
    )
    assert broker(fake, tmp_path).orderable_cash() == 10
    assert len(fake.of("inquire-psbl-order")) == 3


def test_retry_exhaustion_keeps_every_attempt(tmp_path: Path) -> None:
    fake = FakeKis().add(
        "inquire-psbl-order",
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("down"),
        httpx.Response(502, content=b"<html>bad gateway</html>"),
    )
    with pytest.raises(KisRetryExhausted) as info:
        broker(fake, tmp_path).orderable_cash()
    assert info.value.fields["attempts"] == ["TIMEOUT", "TRANSPORT", "HTTP502"]


def test_expired_token_is_reissued_once_and_the_read_retried_once(tmp_path: Path) -> None:
    fake = FakeKis().add(
        "inquire-psbl-order",
        kis_json(500, fail("EGW00123", "기간이 만료된 token 입니다.")),
        kis_json(200, ok(output={"nrcvb_buy_amt": "10"})),
    )
    assert broker(fake, tmp_path).orderable_cash() == 10
    assert fake.tokens_issued == 2
    calls = fake.of("inquire-psbl-order")
    assert calls[0].headers["authorization"] == f"Bearer {TOKEN}1"
    assert calls[1].headers["authorization"] == f"Bearer {TOKEN}2"


def test_a_second_token_refusal_is_not_retried_again(tmp_path: Path) -> None:
    fake = FakeKis().add(
        "inquire-psbl-order", kis_json(500, fail("EGW00123")), kis_json(500, fail("EGW00121"))
    )
    with pytest.raises(KisTokenExpired):
        broker(fake, tmp_path).orderable_cash()
    assert fake.tokens_issued == 2 and len(fake.of("inquire-psbl-order")) == 2


# ------------------------------------------------------------------------------ malformed replies
@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, content=b""),
        httpx.Response(
            200,
            content=b"<!DOCTYPE html><html><body>error</body></html>",
            headers={"Content-Type": "text/html"},
        ),
        kis_json(200, ["not", "an", "object"]),
        kis_json(200, {"output1": []}),  # no envelope
        kis_json(200, ok(output2=[balance_summary(0)])),  # no output1
        kis_json(200, ok(output1=[balance_row("069500", 1, 100)], output2=[])),  # no summary
        kis_json(
            200,
            ok(
                output1=[{**balance_row("069500", 1, 100), "hldg_qty": "1,000"}], output2=[balance_summary(0)]
            ),
        ),
        kis_json(
            200, ok(output1=[{**balance_row("069500", 1, 100), "prpr": ""}], output2=[balance_summary(0)])
        ),
        kis_json(
            200,
            ok(
                output1=[{k: v for k, v in balance_row("069500", 1, 100).items() if k != "hldg_qty"}],
                output2=[balance_summary(0)],
            ),
        ),
        kis_json(200, ok(output1=[], output2=[{"dnca_tot_amt": "5"}])),  # no D+2 cash
    ],
)
def test_malformed_balance_is_an_error_never_an_empty_account(tmp_path: Path, reply: httpx.Response) -> None:
    if "tr_cont" not in reply.headers:
        reply.headers["tr_cont"] = "D"
    fake = FakeKis().add("inquire-balance", reply)
    with pytest.raises(KisMalformedReply):
        broker(fake, tmp_path).balance()


def test_rate_limited_balance_with_empty_output_is_not_read_as_no_holdings(tmp_path: Path) -> None:
    body = {
        **fail("EGW00201", "초당 거래건수를 초과하였습니다."),
        "output1": [],
        "output2": [balance_summary(0)],
    }
    fake = FakeKis().add("inquire-balance", *[kis_json(500, body, tr_cont="D")] * 3)
    with pytest.raises(KisRetryExhausted):
        broker(fake, tmp_path).balance()


# ------------------------------------------------------------------------------ orders
ORDER_OK = ok(output={"KRX_FWDG_ORD_ORGNO": "00950", "ODNO": "47589", "ORD_TMD": "101502"})


def test_order_body_and_tr_ids(tmp_path: Path) -> None:
    fake = FakeKis().add("order-cash", kis_json(200, ORDER_OK), kis_json(200, ORDER_OK))
    b = broker(fake, tmp_path)
    res = b.place_order(Side.BUY, "069500", 3)
    assert res.odno == "0000047589" and res.org_no == "00950"  # unpadded paper odno normalised
    b.place_order(Side.SELL, "069500", 2, "00", 35050)
    buy, sell = fake.of("order-cash")
    assert buy.headers["tr_id"] == "VTTC0012U" and sell.headers["tr_id"] == "VTTC0011U"
    import json

    jb, js = json.loads(buy.content), json.loads(sell.content)
    assert jb == {
        "CANO": "50001234",
        "ACNT_PRDT_CD": "01",
        "PDNO": "069500",
        "ORD_DVSN": "01",
        "ORD_QTY": "3",
        "ORD_UNPR": "0",
        "EXCG_ID_DVSN_CD": "KRX",
    }
    assert js["ORD_DVSN"] == "00" and js["ORD_UNPR"] == "35050" and js["SLL_TYPE"] == "01"


def test_real_and_legacy_tr_ids(tmp_path: Path) -> None:
    fake = FakeKis().add("order-cash", kis_json(200, ORDER_OK), kis_json(200, ORDER_OK))
    broker(fake, tmp_path, env="real").place_order(Side.BUY, "069500", 1)
    broker(fake, tmp_path / "l", env="real", legacy_tr=True).place_order(Side.SELL, "069500", 1)
    assert [r.headers["tr_id"] for r in fake.of("order-cash")] == ["TTTC0012U", "TTTC0801U"]


@pytest.mark.parametrize(
    "reply",
    [
        httpx.ReadTimeout("no reply"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.Response(500, content=b"<html>Internal Server Error</html>"),
        httpx.Response(200, content=b""),
        kis_json(500, fail("EGW00201")),
        kis_json(504, fail("XXXX0000", "gateway timeout")),
        kis_json(200, ok(output={})),  # accepted, but no order number
    ],
)
def test_order_send_without_a_trustworthy_answer_is_unknown_and_never_resent(
    tmp_path: Path, reply: object
) -> None:
    fake = FakeKis().add("order-cash", reply)  # type: ignore[arg-type]
    with pytest.raises(OrderOutcomeUnknown):
        broker(fake, tmp_path).place_order(Side.BUY, "069500", 3)
    assert len(fake.of("order-cash")) == 1


@pytest.mark.parametrize(
    ("code", "msg"),
    [
        ("APBK0952", "주문가능금액을 초과 했습니다"),
        ("40580000", "모의투자 장종료 입니다."),
        ("APBK0918", "장운영시간이 아닙니다.(주문불가)"),
        ("EGW02006", "모의투자 TR 이 아닙니다."),
    ],
)
def test_business_rejection_is_order_rejected_with_code_and_message(
    tmp_path: Path, code: str, msg: str
) -> None:
    fake = FakeKis().add("order-cash", kis_json(200 if not code.startswith("EGW") else 500, fail(code, msg)))
    with pytest.raises(OrderRejected) as info:
        broker(fake, tmp_path).place_order(Side.BUY, "069500", 3)
    assert info.value.code == code and msg in info.value.message
    assert len(fake.of("order-cash")) == 1


def test_token_refusal_on_an_order_reissues_and_sends_once_more(tmp_path: Path) -> None:
    fake = FakeKis().add("order-cash", kis_json(500, fail("EGW00123")), kis_json(200, ORDER_OK))
    assert broker(fake, tmp_path).place_order(Side.BUY, "069500", 3).odno == "0000047589"
    assert len(fake.of("order-cash")) == 2 and fake.tokens_issued == 2


def test_token_refused_twice_on_an_order_is_a_rejection(tmp_path: Path) -> None:
    fake = FakeKis().add("order-cash", kis_json(500, fail("EGW00123")), kis_json(500, fail("EGW00121")))
    with pytest.raises(OrderRejected):
        broker(fake, tmp_path).place_order(Side.BUY, "069500", 3)
    assert len(fake.of("order-cash")) == 2


def test_cancel_body(tmp_path: Path) -> None:
    fake = FakeKis().add(
        "order-rvsecncl",
        kis_json(200, ok(output={"KRX_FWDG_ORD_ORGNO": "00950", "ODNO": "0000000009", "ORD_TMD": "101700"})),
    )
    res = broker(fake, tmp_path).cancel_order("0000000007", "00950", 4)
    assert res.odno == "0000000009"
    import json

    body = json.loads(fake.of("order-rvsecncl")[0].content)
    assert body["ORGN_ODNO"] == "0000000007" and body["RVSE_CNCL_DVSN_CD"] == "02"
    assert body["QTY_ALL_ORD_YN"] == "Y" and body["KRX_FWDG_ORD_ORGNO"] == "00950"
    assert fake.of("order-rvsecncl")[0].headers["tr_id"] == "VTTC0013U"


def test_bad_order_arguments_are_refused_locally(tmp_path: Path) -> None:
    fake = FakeKis()
    with pytest.raises(OrderRejected):
        broker(fake, tmp_path).place_order(Side.BUY, "69500", 3)
    with pytest.raises(OrderRejected):
        broker(fake, tmp_path).place_order(Side.BUY, "069500", 0)
    assert fake.of("order-cash") == []


# ------------------------------------------------------------------------------ safety and secrets
def test_real_host_needs_the_explicit_opt_in(tmp_path: Path) -> None:
    fake = FakeKis()
    with pytest.raises(SafetyStop, match="REAL"):
        KisBroker(kis_config(None, tmp_path, env="real"), fake.client())  # type: ignore[arg-type]
    with pytest.raises(SafetyStop):
        KisBroker(kis_config(None, tmp_path, env="real", live=True, live_confirm="yes"), fake.client())  # type: ignore[arg-type]
    with pytest.raises(SafetyStop):
        KisBroker(kis_config(REAL_URL, tmp_path, env="paper"), fake.client())
    ok_broker = KisBroker(
        kis_config(
            None,
            tmp_path,
            env="real",
            live=True,  # type: ignore[arg-type]
            live_confirm=LIVE_CONFIRMATION,
        ),
        fake.client(),
    )
    assert ok_broker.config.url == REAL_URL
    assert fake.requests == []  # construction sends nothing


def test_secrets_never_in_messages_or_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeKis().add(
        "inquire-psbl-order",
        kis_json(500, fail("EGW00123")),
        kis_json(500, fail("EGW00201")),
        kis_json(500, fail("OPSQ2000", "ERROR : INPUT INVALID_CHECK_ACNO")),
    )
    b = broker(fake, tmp_path)
    with pytest.raises(BrokerError) as info:
        b.orderable_cash()
    text = " ".join([str(info.value), repr(info.value.fields), caplog.text, repr(b.config), str(b.alias)])
    for secret in (TEST_APPKEY, TEST_APPSECRET, TOKEN, "50001234"):
        assert secret not in text
    assert b.alias == "5000****-01"

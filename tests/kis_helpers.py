"""Helpers for the KIS client and simulator tests (imported by path; no conftest here).

* :class:`FakeKis` - an ``httpx.MockTransport`` handler answering with queued, real-shaped replies;
* :func:`kis_config` - a client configuration for a base URL, with test credentials;
* :func:`scrubbing_vcr` - the vcrpy configuration that keeps secrets out of cassettes.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import vcr

from adapters.clock import SystemClock as RealClock  # noqa: F401 - the real clock, for tests
from adapters.kis.config import KisConfig
from adapters.kis_sim.simulator import TEST_ACCOUNT, TEST_APPKEY, TEST_APPSECRET
from adapters.retry_policy import RetryPolicy

CASSETTES = Path(__file__).parent / "cassettes"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJ0b2tlbiJ9.c2lnbmF0dXJlLW9mLXRoZS1mYWtlLXRva2Vu"


def kis_config(url: str, tmp: Path, **kw: Any) -> KisConfig:
    base: dict[str, Any] = dict(
        appkey=TEST_APPKEY,
        appsecret=TEST_APPSECRET,
        account=TEST_ACCOUNT,
        base_url=url,
        token_cache_path=tmp / "token.json",
        token_min_issue_interval_s=0,
        requests_per_second=1000,
        retry=RetryPolicy(attempts=3, initial_s=0.0, multiplier=1.0, max_s=0.0),
        timeout_s=2.0,
        order_timeout_s=2.0,
    )
    base.update(kw)
    return KisConfig(**base)


# ------------------------------------------------------------------------------ fake transport
def kis_json(status: int, body: Any, *, tr_cont: str = "", tr_id: str = "") -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body, ensure_ascii=False).encode(),
        headers={
            "Content-Type": "application/json; charset=UTF-8",
            "tr_id": tr_id,
            "tr_cont": tr_cont,
            "gt_uid": "0" * 32,
        },
    )


def ok(**outputs: Any) -> dict[str, Any]:
    return {"rt_cd": "0", "msg_cd": "KIOK0510", "msg1": "조회가 완료되었습니다", **outputs}


def fail(code: str, msg: str = "failure") -> dict[str, Any]:
    return {"rt_cd": "1", "msg_cd": code, "msg1": msg + "   "}


Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class FakeKis:
    """Replies queued per path suffix (``inquire-balance``, ``order-cash``...); tokenP answered
    automatically unless something is queued for it. Every request is kept in ``requests``."""

    def __init__(self) -> None:
        self.queues: dict[str, list[Reply]] = defaultdict(list)
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0

    def add(self, suffix: str, *replies: Reply) -> FakeKis:
        self.queues[suffix].extend(replies)
        return self

    def of(self, suffix: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith(suffix)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        suffix = request.url.path.rsplit("/", 1)[-1]
        queue = self.queues.get(suffix)
        if not queue:
            if suffix == "tokenP":
                self.tokens_issued += 1
                return kis_json(
                    200,
                    {
                        "access_token": f"{TOKEN}{self.tokens_issued}",
                        "token_type": "Bearer",
                        "expires_in": 86400,
                        "access_token_token_expired": "2099-01-01 00:00:00",
                    },
                )
            raise AssertionError(f"unexpected request {request.method} {request.url.path}")
        reply = queue.pop(0)
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def balance_row(ticker: str, qty: int, price: int, sellable: int | None = None) -> dict[str, str]:
    return {
        "pdno": ticker,
        "prdt_name": f"ETF {ticker}",
        "trad_dvsn_name": "현금",
        "hldg_qty": str(qty),
        "ord_psbl_qty": str(qty if sellable is None else sellable),
        "pchs_avg_pric": "10000.0000",
        "pchs_amt": str(qty * 10000),
        "prpr": str(price),
        "evlu_amt": str(qty * price),
        "evlu_pfls_amt": "0",
        "evlu_pfls_rt": "0.00",
    }


def balance_summary(cash: int, scts: int | None = None) -> dict[str, str]:
    """``scts``: the securities value the summary states (None: the field is absent, not checked)."""
    out = {
        "dnca_tot_amt": str(cash),
        "nxdy_excc_amt": str(cash),
        "prvs_rcdl_excc_amt": str(cash),
        "tot_evlu_amt": str(cash + (scts or 0)),
        "thdt_tlex_amt": "0",
    }
    if scts is not None:
        out["scts_evlu_amt"] = str(scts)
    return out


# ------------------------------------------------------------------------------ cassettes
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
LONG_B64_RE = re.compile(r"[A-Za-z0-9+/_-]{60,}={0,2}")
SCRUB = "<SCRUBBED>"


def _scrub_text(text: str, secrets: list[str]) -> str:
    for s in secrets:
        text = text.replace(s, SCRUB)
    text = JWT_RE.sub(SCRUB, text)
    return re.sub(r'("access_token"\s*:\s*")[^"]*(")', rf"\g<1>{SCRUB}\g<2>", text)


def scrubbing_vcr(
    record_mode: str = "none",
    *,
    appkey: str = TEST_APPKEY,
    appsecret: str = TEST_APPSECRET,
    account: str = TEST_ACCOUNT,
) -> vcr.VCR:
    """Filters: auth headers dropped; app key/secret, tokens and the account number (CANO, in
    query strings, bodies and the CTX_AREA continuation keys) replaced wherever they appear.
    The same filter runs on live requests before matching, so replay matches masked cassettes."""
    cano = account.split("-")[0]
    secrets = [appkey, appsecret, cano]

    def before_request(request: Any) -> Any:
        request.uri = _scrub_text(request.uri, secrets)
        if request.body:
            body = request.body.decode() if isinstance(request.body, bytes) else request.body
            request.body = _scrub_text(body, secrets).encode()
        return request

    def before_response(response: dict[str, Any]) -> dict[str, Any]:
        body = response.get("body", {}).get("string")
        if body:
            text = body.decode() if isinstance(body, bytes) else body
            response["body"]["string"] = _scrub_text(text, secrets).encode()
        headers = response.get("headers", {})
        for name in list(headers):
            if name.lower() in ("content-length",):
                headers.pop(name)
        return response

    v = vcr.VCR(
        cassette_library_dir=str(CASSETTES / "kis"),
        record_mode=record_mode,
        match_on=["method", "path", "kis_query", "tr_id"],
        filter_headers=["authorization", "appkey", "appsecret"],
        before_record_request=before_request,
        before_record_response=before_response,
        decode_compressed_response=True,
    )
    v.register_matcher("tr_id", _tr_id_matcher)
    v.register_matcher("kis_query", _query_matcher)
    return v


DATE_PARAMS = {"INQR_STRT_DT", "INQR_END_DT"}


def _query_matcher(r1: Any, r2: Any) -> None:
    """The query, less the inquiry dates (a cassette recorded on one day replays on any other)."""
    a = [(k, v) for k, v in r1.query if k not in DATE_PARAMS]
    b = [(k, v) for k, v in r2.query if k not in DATE_PARAMS]
    assert a == b, f"query {a} != {b}"


def _tr_id_matcher(r1: Any, r2: Any) -> None:
    a, b = r1.headers.get("tr_id", ""), r2.headers.get("tr_id", "")
    assert a == b, f"tr_id {a!r} != {b!r}"


# ------------------------------------------------------------------------------ accounts
def many_holdings_account(path: Path, n: int, *, cash: int = 50_000_000) -> dict[str, Any]:
    """An account with ``n`` ETF holdings (tickers 400000, 400001, ...), for paging tests."""
    data: dict[str, Any] = {"cash": cash, "names": {}, "prices": {}, "holdings": {}}
    for i in range(n):
        t = f"{400000 + i:06d}"
        data["names"][t] = f"Sim ETF {t}"
        data["prices"][t] = 10_000 + 5 * i
        data["holdings"][t] = {"qty": 10 + i, "avg_cost": 9_500.0}
    return data

"""Helpers for the KIS client and simulator tests (imported by path; no conftest here).

* :class:`FakeKis` - an ``httpx.MockTransport`` handler answering with queued, real-shaped replies;
* :func:`kis_config` - a client configuration for a base URL, with test credentials;
* :class:`MemoryUow` / :class:`MemoryStore` - a tiny in-memory UnitOfWork for engine runs;
* :func:`scrubbing_vcr` - the vcrpy configuration that keeps secrets out of cassettes.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import vcr

from adapters.clock import SystemClock as RealClock  # noqa: F401 - the real clock, for tests
from adapters.kis.config import KisConfig
from adapters.kis_sim.simulator import TEST_ACCOUNT, TEST_APPKEY, TEST_APPSECRET
from adapters.retry_policy import RetryPolicy
from statemachine.errors import LeaseHeld, RunNotFound
from statemachine.models import OrderRecord, OrderStatus, Side, Targets, Thresholds
from statemachine.ports import UnitOfWork, check_fence
from statemachine.records import (
    Fence,
    HistoryRecord,
    PlanAttemptRecord,
    RunRecord,
    StrategyDecision,
    TransitionRecord,
)

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


# ------------------------------------------------------------------------------ in-memory store
class MemoryStore:
    """Every UnitOfWork shares these dicts; writes apply at once (commit is a no-op)."""

    def __init__(self) -> None:
        self.runs: dict[str, RunRecord] = {}
        self.transitions_: dict[str, list[TransitionRecord]] = defaultdict(list)
        self.outputs_: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.attempts: list[PlanAttemptRecord] = []
        self.orders_: dict[int, OrderRecord] = {}
        self.targets: list[StrategyDecision] = []
        self.thresholds = Thresholds()
        self.history_: list[HistoryRecord] = []

    @contextmanager
    def unit_of_work(self) -> Iterator[MemoryUow]:
        with MemoryUow(self) as uow:
            yield uow


class MemoryUow(UnitOfWork):
    def __init__(self, store: MemoryStore) -> None:
        self.s = store

    def commit(self) -> None:
        return None

    def rollback(self) -> None:
        return None

    def add_run(self, run: RunRecord) -> None:
        if any(
            r.account == run.account and r.status.value in ("RUNNING", "BLOCKED")
            for r in self.s.runs.values()
        ):
            raise LeaseHeld("account busy")
        self.s.runs[run.id] = run

    def get_run(self, run_id: str) -> RunRecord:
        if run_id not in self.s.runs:
            raise RunNotFound(f"no run {run_id}")
        return self.s.runs[run_id]

    def find_runs(
        self, *, account: str | None = None, statuses: list[str] | None = None, limit: int = 50
    ) -> list[RunRecord]:
        return [
            r
            for r in self.s.runs.values()
            if (account is None or r.account == account) and (statuses is None or r.status.value in statuses)
        ][:limit]

    def _hold(self, run_id: str, fence: Fence) -> None:
        check_fence(self.get_run(run_id), fence)

    def update_run(self, run_id: str, *, fence: Fence, expect_seq: int | None = None, **fields: Any) -> None:
        run = self.get_run(run_id)
        check_fence(run, fence)
        if expect_seq is not None and run.seq != expect_seq:
            raise LeaseHeld("sequence moved")
        self.s.runs[run_id] = RunRecord.model_validate({**run.model_dump(), **fields})

    def add_transition(self, record: TransitionRecord, *, fence: Fence) -> None:
        self._hold(record.run_id, fence)
        self.s.transitions_[record.run_id].append(record)

    def transitions(self, run_id: str) -> list[TransitionRecord]:
        return list(self.s.transitions_[run_id])

    def put_output(self, run_id: str, seq: int, kind: str, payload: dict[str, Any], *, fence: Fence) -> None:
        self._hold(run_id, fence)
        self.s.outputs_[run_id][kind] = payload

    def outputs(self, run_id: str) -> dict[str, dict[str, Any]]:
        return dict(self.s.outputs_[run_id])

    def add_plan_attempt(self, record: PlanAttemptRecord, *, fence: Fence) -> None:
        self._hold(record.run_id, fence)
        self.s.attempts.append(record)

    def update_plan_attempt(self, run_id: str, side: Side, attempt: int, *, fence: Fence, **fields: Any) -> None:
        self._hold(run_id, fence)
        for i, a in enumerate(self.s.attempts):
            if a.run_id == run_id and a.side is side and a.attempt == attempt:
                self.s.attempts[i] = PlanAttemptRecord.model_validate({**a.model_dump(), **fields})

    def plan_attempts(self, run_id: str) -> list[PlanAttemptRecord]:
        return [a for a in self.s.attempts if a.run_id == run_id]

    def add_order(
        self,
        *,
        run_id: str,
        account: str,
        side: Side,
        ticker: str,
        name: str,
        quantity: int,
        attempt: int,
        seq: int,
        status: OrderStatus,
        created_at: datetime,
        fence: Fence,
    ) -> OrderRecord:
        self._hold(run_id, fence)
        rec = OrderRecord(
            id=len(self.s.orders_) + 1,
            run_id=run_id,
            side=side,
            ticker=ticker,
            name=name,
            quantity=quantity,
            attempt=attempt,
            seq=seq,
            status=status,
            created_at=created_at,
        )
        self.s.orders_[rec.id] = rec
        return rec

    def update_order(self, order_id: int, *, fence: Fence, **fields: Any) -> OrderRecord:
        self._hold(self.s.orders_[order_id].run_id, fence)
        rec = OrderRecord.model_validate({**self.s.orders_[order_id].model_dump(), **fields})
        self.s.orders_[order_id] = rec
        return rec

    def orders(self, run_id: str) -> list[OrderRecord]:
        return [o for o in self.s.orders_.values() if o.run_id == run_id]

    def known_odnos(self, account: str, since: datetime) -> set[str]:
        return {o.odno for o in self.s.orders_.values() if o.odno and o.created_at >= since}

    def acquire_lease(
        self,
        run_id: str,
        owner: str,
        now: datetime,
        ttl_s: float,
        steal_if: Callable[[str], bool] | None = None,
    ) -> Fence | None:
        run = self.get_run(run_id)
        free = (
            run.lease_owner in (None, owner)
            or run.lease_expires_at is None
            or run.lease_expires_at < now
            or (steal_if is not None and steal_if(run.lease_owner))
        )
        if not free:
            return None
        epoch = run.lease_epoch if run.lease_owner == owner else run.lease_epoch + 1
        self.s.runs[run_id] = run.model_copy(
            update={"lease_owner": owner, "lease_epoch": epoch, "lease_expires_at": now + timedelta(seconds=ttl_s)}
        )
        return Fence(owner, epoch)

    def release_lease(self, run_id: str, fence: Fence) -> None:
        run = self.get_run(run_id)
        check_fence(run, fence)
        self.s.runs[run_id] = run.model_copy(update={"lease_owner": None, "lease_expires_at": None})

    def latest_targets(self) -> StrategyDecision | None:
        return self.s.targets[-1] if self.s.targets else None

    def add_targets(self, targets: Targets, decided_at: datetime) -> StrategyDecision:
        d = StrategyDecision(id=len(self.s.targets) + 1, decided_at=decided_at, targets=targets)
        self.s.targets.append(d)
        return d

    def latest_thresholds(self) -> Thresholds:
        return self.s.thresholds

    def add_thresholds(self, thresholds: Thresholds, at: datetime) -> None:
        self.s.thresholds = thresholds

    def add_history(self, record: HistoryRecord, *, fence: Fence) -> None:
        self._hold(record.run_id, fence)
        self.s.history_.append(record)

    def history(self, limit: int = 50) -> list[HistoryRecord]:
        return list(reversed(self.s.history_))[:limit]


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

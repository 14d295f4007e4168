"""The simulator's API gateway in front of every /uapi call: the TR paths and their TR ids, the
credentials and the bearer token, the per-second rate limit (EGW00201), the real / paper TR id
check and the request's fields (query string for GET, JSON body for POST).

Real TR ids per path are listed in :data:`TRS`; a paper TR id is the same with a leading ``V``
(``VTSC`` for ``CTSC``); quotes take the real id on both hosts. The TRs in :data:`REAL_ONLY` do not
exist on the paper host (EGW02006 whatever the TR id).
"""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.oauth import TokenStore
from adapters.kis_sim.wire import json_body

P = "/uapi/domestic-stock/v1"
BALANCE, PSBL, ORDER = (
    f"{P}/trading/inquire-balance",
    f"{P}/trading/inquire-psbl-order",
    f"{P}/trading/order-cash",
)
CCLD, RVSE, PRICE = (
    f"{P}/trading/inquire-daily-ccld",
    f"{P}/trading/order-rvsecncl",
    f"{P}/quotations/inquire-price",
)
SEARCH_INFO, PSBL_RVSECNCL, HOLIDAY = (
    f"{P}/quotations/search-info",
    f"{P}/trading/inquire-psbl-rvsecncl",
    f"{P}/quotations/chk-holiday",
)
ASKING_PRICE = f"{P}/quotations/inquire-asking-price-exp-ccn"
#: quote TRs: the same (real) TR id on both hosts
QUOTES = frozenset({PRICE, ASKING_PRICE})
# real TR ids per path; paper = the same with a leading V (quotes identical on both hosts)
TRS: dict[str, tuple[str, set[str]]] = {
    BALANCE: ("GET", {"TTTC8434R"}),
    PSBL: ("GET", {"TTTC8908R"}),
    ORDER: ("POST", {"TTTC0011U", "TTTC0012U", "TTTC0801U", "TTTC0802U"}),
    CCLD: ("GET", {"TTTC0081R", "TTTC8001R", "CTSC9215R", "CTSC9115R"}),
    RVSE: ("POST", {"TTTC0013U", "TTTC0803U"}),
    PRICE: ("GET", {"FHKST01010100"}),
    SEARCH_INFO: ("GET", {"CTPF1604R"}),
    PSBL_RVSECNCL: ("GET", {"TTTC0084R", "TTTC8036R"}),
    HOLIDAY: ("GET", {"CTCA0903R"}),
    ASKING_PRICE: ("GET", {"FHKST01010200"}),
}
# the broker's samples give these no paper TR id; docs/kis.md section 8: paper answers EGW02006
REAL_ONLY = {SEARCH_INFO, PSBL_RVSECNCL, HOLIDAY}
NOT_PAPER = ("EGW02006", "모의투자 TR 이 아닙니다.")
SELL_TRS = {"TTTC0011U", "TTTC0801U"}
RATE_LIMITED = ("EGW00201", "초당 거래건수를 초과하였습니다.")


class RateWindow:
    """Requests admitted in the last second; refuses one beyond ``rate`` per second."""

    def __init__(self) -> None:
        self._window: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def admit(self, rate: float) -> bool:
        if not rate:
            return True
        now = time.monotonic()
        with self._lock:
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= rate:
                return False
            self._window.append(now)
            return True

    def clear(self) -> None:
        with self._lock:
            self._window.clear()


def auth_error(
    req: Request, config: SimulatorConfig, tokens: TokenStore, now: Callable[[], float]
) -> tuple[str, str] | None:
    """Why the request's app key, app secret or bearer token is refused, or None."""
    if req.headers.get("appkey") != config.appkey:
        return "EGW00103", "유효하지 않은 AppKey입니다."
    if req.headers.get("appsecret") != config.appsecret:
        return "EGW00105", "유효하지 않은 AppSecret입니다."
    return tokens.error(req.headers.get("authorization", ""), now)


def real_tr(tr_id: str) -> str:
    """The real TR id of a (real or paper) TR id."""
    if tr_id.startswith("VTSC"):
        return "C" + tr_id[1:]
    return ("T" + tr_id[1:]) if tr_id[:1] == "V" else tr_id


def tr_error(path: str, tr_id: str, method: str, config: SimulatorConfig) -> tuple[int, dict[str, Any]] | None:
    """The reply refusing ``tr_id`` on ``path`` (unknown, wrong environment, wrong method), or None."""
    method_wanted, trs = TRS[path]
    if config.env == "paper" and path in REAL_ONLY:
        return 500, R.envelope("1", *NOT_PAPER)
    real = real_tr(tr_id)
    if real not in trs:
        return 500, R.envelope("1", "OPSQ0002", "없는 서비스 코드 입니다")
    paper_tr = tr_id != real
    if path not in QUOTES and config.env == "paper" and not paper_tr:
        return 500, R.envelope("1", *NOT_PAPER)
    if config.env == "real" and paper_tr:
        return 500, R.envelope("1", "OPSQ0002", "없는 서비스 코드 입니다")
    if method != method_wanted:
        return 405, R.envelope("1", "OPSQ0001", f"{method} 은(는) 허용되지 않습니다")
    return None


async def fields(req: Request, path: str) -> dict[str, Any]:
    """The request's fields: the query string of a GET TR with its names in UPPERCASE whatever case
    the client sent (the broker's own samples send lowercase query names such as ``fid_input_iscd``
    and ``ctx_area_nk100``, and the broker answers them); the JSON body of a POST TR as sent (the
    broker's documents: "POST API의 경우 BODY값의 key값들을 대문자로 작성하셔야 합니다")."""
    if TRS[path][0] == "POST":
        return await json_body(req)
    return {k.upper(): v[0] for k, v in parse_qs(req.url.query, keep_blank_values=True).items()}


def body_key_error(data: dict[str, Any]) -> dict[str, Any] | None:
    """The refusal of a POST body with a key not in UPPERCASE, or None (code and text unconfirmed)."""
    bad = sorted(k for k in data if k != k.upper())
    if bad:
        return R.envelope("1", "OPSQ2001", f"ERROR : INPUT FIELD NOT FOUND [{bad[0].upper()}] (BODY key는 대문자)")
    return None


def canonical_path(path: str) -> str:
    """``path`` with runs of slashes collapsed (``//uapi/...`` is served as ``/uapi/...``)."""
    return re.sub("/{2,}", "/", path)

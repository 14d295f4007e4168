"""The simulator's OAuth endpoints: ``/oauth2/tokenP`` (issue), ``/oauth2/revokeP`` and
``/uapi/hashkey``, and the store of the tokens it issued (:class:`TokenStore`).

A token is a JWT-shaped string; ``tokenP`` hands back the same live token within
``token_reuse_s``, and answers EGW00133 (403) inside ``token_issue_min_interval_s`` of the last
issue. Times are the simulated broker's (its account's clock), as POSIX timestamps.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from datetime import datetime

from starlette.requests import Request

from adapters.kis_sim import replies as R
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.wire import Send, json_body, reply

TokenInfo = dict[str, float | bool]


class TokenStore:
    """Issued tokens with their issue and expiry times, and the time of the last issue."""

    def __init__(self) -> None:
        self.tokens: dict[str, TokenInfo] = {}
        self.last_issue = 0.0
        self._lock = threading.Lock()

    def issue(self, now: float, config: SimulatorConfig) -> tuple[str, TokenInfo] | None:
        """A live token (reused or new), or None when asked again too soon (EGW00133)."""
        with self._lock:
            if now - self.last_issue < config.token_issue_min_interval_s:
                return None
            self.last_issue = now
            reuse = [
                (tok, t)
                for tok, t in self.tokens.items()
                if not t["expired"]
                and float(t["expires_at"]) > now
                and now - float(t["issued_at"]) < config.token_reuse_s
            ]
            if reuse:
                return reuse[-1]
            token = _jwt(now, config.token_ttl_s)
            info: TokenInfo = {"issued_at": now, "expires_at": now + config.token_ttl_s, "expired": False}
            self.tokens[token] = info
            return token, info

    def revoke(self, token: str) -> None:
        with self._lock:
            self.tokens.pop(token, None)

    def expire_all(self) -> None:
        with self._lock:
            for t in self.tokens.values():
                t["expired"] = True

    def error(self, authorization: str, now: Callable[[], float]) -> tuple[str, str] | None:
        """Why the ``authorization`` header's bearer token is refused (at ``now()``), or None."""
        if not authorization.startswith("Bearer "):
            return "EGW00121", "유효하지 않은 token 입니다."
        info = self.tokens.get(authorization[len("Bearer ") :])
        if info is None:
            return "EGW00121", "유효하지 않은 token 입니다."
        if info["expired"] or float(info["expires_at"]) <= now():
            return "EGW00123", "기간이 만료된 token 입니다."
        return None


async def token(
    req: Request, send: Send, config: SimulatorConfig, tokens: TokenStore, now: Callable[[], float]
) -> None:
    """``POST /oauth2/tokenP``."""
    body = await json_body(req)
    if req.method != "POST" or body.get("grant_type") != "client_credentials":
        return await reply(
            send,
            403,
            {"error_code": "EGW00002", "error_description": "grant_type 오류"},
            kis_headers=False,
        )
    if body.get("appkey") != config.appkey:
        return await reply(
            send,
            403,
            {"error_code": "EGW00103", "error_description": "유효하지 않은 AppKey입니다."},
            kis_headers=False,
        )
    if body.get("appsecret") != config.appsecret:
        return await reply(
            send,
            403,
            {"error_code": "EGW00105", "error_description": "유효하지 않은 AppSecret입니다."},
            kis_headers=False,
        )
    t = now()
    issued = tokens.issue(t, config)
    if issued is None:
        return await reply(
            send,
            403,
            {
                "error_code": "EGW00133",
                "error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)",
            },
            kis_headers=False,
        )
    tok, info = issued
    exp = datetime.fromtimestamp(float(info["expires_at"]), R.KST)
    await reply(
        send,
        200,
        {
            "access_token": tok,
            "access_token_token_expired": f"{exp:%Y-%m-%d %H:%M:%S}",
            "token_type": "Bearer",
            "expires_in": int(float(info["expires_at"]) - t),
        },
        kis_headers=False,
    )


async def revoke(req: Request, send: Send, config: SimulatorConfig, tokens: TokenStore) -> None:
    """``POST /oauth2/revokeP``."""
    body = await json_body(req)
    if body.get("appkey") != config.appkey or body.get("appsecret") != config.appsecret:
        return await reply(
            send,
            403,
            {"error_code": "EGW00103", "error_description": "유효하지 않은 AppKey입니다."},
            kis_headers=False,
        )
    tokens.revoke(str(body.get("token", "")))
    await reply(send, 200, {"code": 200, "message": "접근토큰 폐기에 성공하였습니다"}, kis_headers=False)


async def hashkey(req: Request, send: Send, config: SimulatorConfig) -> None:
    """``POST /uapi/hashkey``: the body back with its SHA-256."""
    if req.headers.get("appkey") != config.appkey or req.headers.get("appsecret") != config.appsecret:
        return await reply(send, 500, R.envelope("1", "EGW00103", "유효하지 않은 AppKey입니다."))
    raw = await req.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = {}
    await reply(send, 200, {"BODY": body, "HASH": hashlib.sha256(raw).hexdigest()}, kis_headers=False)


def _jwt(now: float, ttl: int) -> str:
    def b64(d: bytes) -> str:
        return base64.urlsafe_b64encode(d).rstrip(b"=").decode()

    head = b64(json.dumps({"typ": "JWT", "alg": "HS512"}).encode())
    claims = b64(
        json.dumps(
            {
                "sub": "token",
                "aud": secrets.token_hex(16),
                "prdt_cd": "",
                "iss": "unogw",
                "exp": int(now + ttl),
                "iat": int(now),
                "jti": secrets.token_hex(8),
            }
        ).encode()
    )
    return f"{head}.{claims}.{b64(secrets.token_bytes(64))}"

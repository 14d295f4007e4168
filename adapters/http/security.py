"""Who may write, and where the server may listen.

* Every write endpoint needs ``Authorization: Bearer <REBALANCE_API_TOKEN>``. A server started
  without a token answers writes with 403 (fails closed: no token means no writes, never "open").
* The server listens beyond loopback only with a token (:func:`bind_problem`).
* The token is compared in constant time and never written to a response or a log line.
"""

from __future__ import annotations

import ipaddress
import secrets

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from statemachine.errors import RebalanceError

MIN_TOKEN_LENGTH = 16
TOKEN_ENV = "REBALANCE_API_TOKEN"

bearer = HTTPBearer(auto_error=False, description=f"the server's {TOKEN_ENV}")


class Unauthorized(RebalanceError):
    status_code = 401


class WritesDisabled(RebalanceError):
    status_code = 403


def is_loopback(host: str) -> bool:
    if host.strip().lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve anywhere: not loopback


LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]", "::1"]


def allowed_hosts(host: str) -> list[str] | None:
    """Host headers a server bound to ``host`` answers: loopback names only on loopback (against DNS
    rebinding: a page elsewhere must not read the account through the browser); any beyond it, where
    the token guards the writes and the operator chose to expose the reads."""
    return LOOPBACK_NAMES if is_loopback(host) else None


def bind_problem(host: str, token: str | None) -> str | None:
    """Why the server must not start on ``host`` with ``token`` (None when it may)."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        return (
            f"{TOKEN_ENV} is too short ({len(token)} characters; at least {MIN_TOKEN_LENGTH}): "
            f"use e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    if not is_loopback(host) and not token:
        return (
            f"refusing to listen on {host}: beyond loopback the server needs {TOKEN_ENV} set "
            f"(write calls are authorised with it); listen on 127.0.0.1 or set the token"
        )
    return None


def make_write_guard(token: str | None):
    """The dependency that every write endpoint declares."""

    def require_token(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        if not token:
            raise WritesDisabled(f"write calls are disabled: the server was started without {TOKEN_ENV}")
        if creds is None:
            raise Unauthorized("this call changes state: send 'Authorization: Bearer <token>'")
        if not secrets.compare_digest(creds.credentials.encode(), token.encode()):
            raise Unauthorized("the bearer token is not valid")
        return "token"

    return require_token

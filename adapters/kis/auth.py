"""The KIS access token: issued once, cached in a file shared by every process on the machine.

* The cache file (mode 0600) holds one entry per (host, app key) - keyed by a hash, never by the
  key itself - with the token, its expiry and the time of the last issuance request.
* Issuance happens under the file's lock, so two processes starting together issue one token.
* The broker allows about one issuance per minute per app key (``EGW00133``); a new request
  inside ``min_issue_interval_s`` of the last waits for the rest of the minute (up to
  ``max_wait_s``) or raises :class:`KisTokenThrottled`.
* :meth:`TokenProvider.invalidate` forgets a token the broker called expired or invalid, but only
  if the cache still holds *that* token (another process may already have replaced it).
* The token is never logged and never put in an exception message.
* Where the entries live is a :class:`TokenStore`: the file above (:class:`FileTokenStore`, one
  machine), or PostgreSQL (:class:`adapters.kis.shared_limits.PgTokenStore`, every worker of every
  machine sharing the database), whose row holds the token encrypted with a key derived from the
  app secret.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx
from filelock import FileLock

from adapters.clock import SystemClock
from adapters.kis.errors import KisAuthError, KisMalformedReply, KisRetryable, KisTokenThrottled

log = logging.getLogger("rebalance.kis.auth")
TOKEN_PATH = "/oauth2/tokenP"


class TokenStore(Protocol):
    """Token entries by key id (``token``, ``expires_at``, ``last_issue_at``), read and written
    only inside ``locked(key_id)``, which excludes every other process issuing for that key."""

    def locked(self, key_id: str) -> AbstractContextManager[None]: ...

    def get(self, key_id: str) -> dict[str, Any]: ...

    def put(self, key_id: str, entry: dict[str, Any]) -> None: ...


class FileTokenStore:
    """The entries in one JSON file (mode 0600) under a file lock: every process on this machine."""

    def __init__(self, path: Path, timeout_s: float) -> None:
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock", timeout=timeout_s)

    @contextmanager
    def locked(self, key_id: str) -> Iterator[None]:
        with self._lock:
            yield

    def get(self, key_id: str) -> dict[str, Any]:
        entry = self._read().get(key_id, {})
        return dict(entry) if isinstance(entry, dict) else {}

    def put(self, key_id: str, entry: dict[str, Any]) -> None:
        data = self._read()
        data[key_id] = entry
        self._write(data)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.path)


def token_key_id(base_url: str, appkey: str) -> str:
    """The cache key of an app key on a host: a SHA-256 fingerprint, never the key itself."""
    return hashlib.sha256(f"{base_url.rstrip('/')}|{appkey}".encode()).hexdigest()[:16]


class TokenProvider:
    def __init__(
        self,
        http: httpx.Client,
        base_url: str,
        appkey: str,
        appsecret: str,
        cache_path: Path,
        *,
        min_issue_interval_s: float = 61.0,
        max_wait_s: float = 65.0,
        refresh_margin_s: float = 600.0,
        timeout_s: float = 10.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        store: TokenStore | None = None,
    ) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + TOKEN_PATH
        self._appkey = appkey
        self._appsecret = appsecret
        self.cache_path = Path(cache_path)
        self.store: TokenStore = store or FileTokenStore(self.cache_path, max_wait_s + 30)
        self._key_id = token_key_id(base_url, appkey)
        self.min_issue_interval_s = min_issue_interval_s
        self.max_wait_s = max_wait_s
        self.refresh_margin_s = refresh_margin_s
        self.timeout_s = timeout_s
        self._clock = clock or (lambda: SystemClock().now().timestamp())
        self._sleep = sleep
        self._mem: tuple[str, float] | None = None
        self._thread_lock = threading.Lock()
        self.issued = 0  # issuance requests sent by this provider

    # -- public ------------------------------------------------------------------------------------
    def token(self) -> str:
        with self._thread_lock:
            now = self._clock()
            if self._mem and self._mem[1] - self.refresh_margin_s > now:
                return self._mem[0]
            with self.store.locked(self._key_id):
                entry = self.store.get(self._key_id)
                tok, exp = entry.get("token"), float(entry.get("expires_at", 0))
                if tok and exp - self.refresh_margin_s > now:
                    self._mem = (tok, exp)
                    return tok
                return self._issue(entry)

    def invalidate(self, token: str) -> None:
        with self._thread_lock:
            if self._mem and self._mem[0] == token:
                self._mem = None
            with self.store.locked(self._key_id):
                entry = self.store.get(self._key_id)
                if entry.get("token") == token:
                    entry.pop("token", None)
                    entry["expires_at"] = 0
                    self.store.put(self._key_id, entry)
        log.info("access token dropped after the broker refused it")

    # -- internals ---------------------------------------------------------------------------------
    def _issue(self, entry: dict[str, Any]) -> str:
        last = float(entry.get("last_issue_at", 0))
        wait = last + self.min_issue_interval_s - self._clock()
        if wait > 0:
            if wait > self.max_wait_s:
                raise KisTokenThrottled(
                    f"token issuance allowed again in {wait:.0f}s (EGW00133 guard)", code="EGW00133"
                )
            log.warning("waiting %.1fs before asking for a new token (one issuance per minute)", wait)
            self._sleep(wait)
        entry["last_issue_at"] = self._clock()
        self.store.put(self._key_id, entry)
        self.issued += 1
        try:
            r = self._http.post(
                self._url,
                json={
                    "grant_type": "client_credentials",
                    "appkey": self._appkey,
                    "appsecret": self._appsecret,
                },
                headers={"content-type": "application/json; charset=utf-8"},
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise KisRetryable(f"token request failed: {type(exc).__name__}", code="TRANSPORT") from exc
        body = _json(r)
        if r.status_code != 200 or "access_token" not in body:
            code = str(body.get("error_code") or body.get("msg_cd") or f"HTTP{r.status_code}")
            text = str(body.get("error_description") or body.get("msg1") or "").strip()
            if code == "EGW00133":
                raise KisTokenThrottled(f"token issuance refused: [{code}] {text}", code=code)
            if r.status_code >= 500 and not body:
                raise KisRetryable(f"token endpoint answered HTTP {r.status_code}", code=code)
            raise KisAuthError(f"token issuance refused: [{code}] {text} (HTTP {r.status_code})", code=code)
        tok = body["access_token"]
        try:
            ttl = float(body["expires_in"])
        except (KeyError, TypeError, ValueError) as exc:
            raise KisMalformedReply("token reply without a numeric expires_in") from exc
        if not isinstance(tok, str) or not tok:
            raise KisMalformedReply("token reply with an empty access_token")
        exp = self._clock() + ttl
        entry.update(token=tok, expires_at=exp)
        self.store.put(self._key_id, entry)
        self._mem = (tok, exp)
        log.info("access token issued, valid for %.0fs", ttl)
        return tok


def _json(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}

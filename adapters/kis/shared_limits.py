"""The broker's per-app-key limits shared by every worker of every machine, in PostgreSQL.

KIS counts its request limit (EGW00201) and its token-issue limit (one a minute, EGW00133) per app
key, whatever process or machine asks. A per-process limiter or a token cache in a local file
holds only on one machine; these two keep them in the database every worker shares (tables
``kis_rate_limits`` and ``kis_tokens``, migration 0009):

* :class:`PgRateLimiter`: the spacing of :class:`adapters.kis.rate_limit.RateLimiter` (calls
  ``(1 + margin) / rate`` apart), its next free slot in one row per app key, taken in one atomic
  ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on the database's clock (so the machines'
  clocks need not agree). Each caller sleeps until its own slot.
* :class:`PgTokenStore`: the :class:`adapters.kis.auth.TokenStore` of the token cache. Issuance
  runs under an advisory lock of the key, so two workers starting together issue
  one token. The row holds the token AES-GCM-encrypted with a key derived (HMAC-SHA256) from the
  app secret, which is never in the database: the row alone is no usable secret.

Rows are keyed by a SHA-256 fingerprint of host and app key (:func:`key_fingerprint`), never the
key itself. Nothing here logs a token or a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.kis.rate_limit import RateLimiter


def key_fingerprint(base_url: str, appkey: str) -> str:
    """The row key of an app key on a host: SHA-256, hex (the key itself is never stored)."""
    return hashlib.sha256(f"{base_url.rstrip('/')}|{appkey}".encode()).hexdigest()


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (``postgresql+psycopg://``) as libpq takes it."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


def is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql", "postgres://"))


class _Conn:
    """One autocommit connection per process and limiter, reopened after a failure."""

    def __init__(self, url: str) -> None:
        self.url = libpq_url(url)
        self._conn: psycopg.Connection[Any] | None = None
        self.lock = threading.Lock()

    def get(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or os.getpid() != self._pid:
            self._conn = psycopg.connect(self.url, autocommit=True)
            self._pid = os.getpid()
        return self._conn

    def reset(self) -> None:
        if self._conn is not None and os.getpid() == self._pid:
            with suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    _pid = 0


_TAKE = """
INSERT INTO kis_rate_limits AS r (key_id, next_at)
VALUES (%(k)s, extract(epoch from clock_timestamp()) + %(i)s)
ON CONFLICT (key_id) DO UPDATE
   SET next_at = GREATEST(EXCLUDED.next_at - %(i)s, LEAST(r.next_at, EXCLUDED.next_at + 59 * %(i)s)) + %(i)s
RETURNING r.next_at - %(i)s, extract(epoch from clock_timestamp())
"""


class PgRateLimiter(RateLimiter):
    """Calls spaced ``(1 + margin) / rate`` apart for one app key across every process sharing
    the database (the slot taken in one atomic statement, on the database's clock)."""

    def __init__(self, rate: float, url: str, key_id: str, margin: float = 0.04,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(rate, margin, sleep=sleep)
        self.key_id = key_id
        self._db = _Conn(url)

    def acquire(self) -> float:
        with self._lock, self._db.lock:
            try:
                row = self._db.get().execute(_TAKE, {"k": self.key_id, "i": self.interval}).fetchone()
            except psycopg.OperationalError:
                self._db.reset()
                row = self._db.get().execute(_TAKE, {"k": self.key_id, "i": self.interval}).fetchone()
            assert row is not None
            start, now = float(row[0]), float(row[1])
            self.calls += 1
        wait = start - now
        if wait > 0:
            self._sleep(wait)
            self.waited_s += wait
        return max(wait, 0.0)


# ---------------------------------------------------------------------------------- the token cache
def _cipher_key(appsecret: str, key_id: str) -> bytes:
    return hmac.new(appsecret.encode(), f"kis-token-cache|{key_id}".encode(), hashlib.sha256).digest()


def seal(token: str, appsecret: str, key_id: str) -> str:
    nonce = os.urandom(12)
    ct = AESGCM(_cipher_key(appsecret, key_id)).encrypt(nonce, token.encode(), key_id.encode())
    return base64.b64encode(nonce + ct).decode()


def unseal(blob: str, appsecret: str, key_id: str) -> str | None:
    """The token, or None when the row was sealed with another secret (or is damaged)."""
    try:
        raw = base64.b64decode(blob)
        return AESGCM(_cipher_key(appsecret, key_id)).decrypt(raw[:12], raw[12:], key_id.encode()).decode()
    except (ValueError, InvalidTag):
        return None


class PgTokenStore:
    """Token entries in ``kis_tokens`` (one row per app-key fingerprint), the token sealed."""

    def __init__(self, url: str, appsecret: str) -> None:
        self._db = _Conn(url)
        self._secret = appsecret
        self._tx: psycopg.Connection[Any] | None = None

    @contextmanager
    def locked(self, key_id: str) -> Iterator[None]:
        with self._db.lock:
            # its own session, holding the key's advisory lock while a token is issued; each write
            # commits at once (a crash mid-issue still leaves the attempt's time recorded)
            conn = psycopg.connect(self._db.url, autocommit=True)
            try:
                conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 19))", (key_id,))
                self._tx = conn
                yield
            finally:
                self._tx = None
                conn.close()

    def _conn(self) -> psycopg.Connection[Any]:
        if self._tx is None:
            raise RuntimeError("PgTokenStore used outside locked()")
        return self._tx

    def get(self, key_id: str) -> dict[str, Any]:
        row = self._conn().execute(
            "SELECT token_sealed, expires_at, last_issue_at FROM kis_tokens WHERE key_id = %s", (key_id,)
        ).fetchone()
        if row is None:
            return {}
        entry: dict[str, Any] = {"expires_at": float(row[1] or 0), "last_issue_at": float(row[2] or 0)}
        token = unseal(row[0], self._secret, key_id) if row[0] else None
        if token:
            entry["token"] = token
        return entry

    def put(self, key_id: str, entry: dict[str, Any]) -> None:
        token = entry.get("token")
        sealed = seal(token, self._secret, key_id) if token else None
        self._conn().execute(
            """INSERT INTO kis_tokens (key_id, token_sealed, expires_at, last_issue_at)
               VALUES (%s, %s, %s, %s)
               ON CONFLICT (key_id) DO UPDATE SET token_sealed = EXCLUDED.token_sealed,
                 expires_at = EXCLUDED.expires_at, last_issue_at = EXCLUDED.last_issue_at""",
            (key_id, sealed, float(entry.get("expires_at", 0) or 0), float(entry.get("last_issue_at", 0) or 0)),
        )

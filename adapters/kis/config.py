"""KIS client configuration: environment, credentials, account, limits, and the live-trading gate.

The real host is refused unless the caller set ``live=True`` *and* ``live_confirm`` to
:data:`LIVE_CONFIRMATION`; the check fails closed (:class:`SafetyStop`). A loopback ``base_url``
(the simulator) may use the real environment's TR ids without the opt-in, since no money moves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from adapters.kis.errors import mask_account
from adapters.retry_policy import RetryPolicy
from statemachine.errors import SafetyStop

REAL_URL = "https://openapi.koreainvestment.com:9443"
PAPER_URL = "https://openapivts.koreainvestment.com:29443"
LIVE_CONFIRMATION = "I UNDERSTAND REAL MONEY"
DEFAULT_RPS = {"paper": 2.0, "real": 20.0}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ACCOUNT_RE = re.compile(r"^(\d{8})-?(\d{2})$")


class KisConfig(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    env: Literal["paper", "real"] = "paper"
    appkey: SecretStr
    appsecret: SecretStr
    account: SecretStr = Field(description="8-digit CANO and 2-digit product code, e.g. 50001234-01")
    base_url: str | None = Field(None, description="override the host (the simulator); default by env")
    live: bool = False
    live_confirm: str = Field("", repr=False)
    requests_per_second: float | None = Field(None, gt=0, description="default 2/s paper, 20/s real")
    rate_limit_path: Path | None = Field(None, description="share the limiter with other processes")
    limits_db_url: str | None = Field(None, repr=False, description="a PostgreSQL URL: the request limiter and "
                                      "the token cache shared there by every worker (adapters.kis.shared_limits)")
    rate_margin: float = Field(0.04, ge=0, lt=1, description="calls spaced (1 + margin) / N apart")
    timeout_s: float = Field(10.0, gt=0, description="every call: connect, read, write, pool")
    order_timeout_s: float = Field(10.0, gt=0)
    retry: RetryPolicy = RetryPolicy()
    token_cache_path: Path = Path("~/.cache/kis-rebalancer/kis_token.json").expanduser()
    token_min_issue_interval_s: float = Field(61.0, ge=0)
    token_max_wait_s: float = Field(65.0, ge=0)
    custtype: str = "P"
    max_pages: int = Field(500, ge=1)
    legacy_tr: bool = False

    @field_validator("account")
    @classmethod
    def _account(cls, v: SecretStr) -> SecretStr:
        if not ACCOUNT_RE.match(v.get_secret_value().strip()):
            raise ValueError(
                "account must be 8 digits, a dash and the 2-digit product code (e.g. 5000xxxx-01)"
            )
        return v

    # -- derived ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return (self.base_url or (REAL_URL if self.env == "real" else PAPER_URL)).rstrip("/")

    @property
    def cano(self) -> str:
        m = ACCOUNT_RE.match(self.account.get_secret_value().strip())
        assert m
        return m.group(1)

    @property
    def product(self) -> str:
        m = ACCOUNT_RE.match(self.account.get_secret_value().strip())
        assert m
        return m.group(2)

    @property
    def masked_account(self) -> str:
        return mask_account(self.cano, self.product)

    @property
    def rps(self) -> float:
        return self.requests_per_second or DEFAULT_RPS[self.env]

    def tr(self, real_tr: str) -> str:
        """The official sample's paper rule: a real TR starting T, J or C gets a leading V."""
        if self.env == "paper" and real_tr[:1] in ("T", "J", "C"):
            return "V" + real_tr[1:]
        return real_tr

    def check_safety(self) -> None:
        """Refuse the real broker without the explicit opt-in (fails closed)."""
        host = urlparse(self.url).hostname or ""
        if host in LOOPBACK:
            return
        real_host = host == urlparse(REAL_URL).hostname
        if self.env == "paper" and real_host:
            raise SafetyStop("KIS: env is 'paper' but base_url points at the real trading host; refusing")
        opted_in = self.live and self.live_confirm == LIVE_CONFIRMATION
        if (self.env == "real" or real_host) and not opted_in:
            raise SafetyStop(
                f"KIS: refusing to talk to the REAL trading host for account {self.masked_account}: live "
                f"trading needs live=True and live_confirm={LIVE_CONFIRMATION!r}"
            )

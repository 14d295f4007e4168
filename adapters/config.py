"""Settings: the one place that reads the environment.

The entry point (the CLI's callback, the HTTP server, a test) builds one :class:`Settings`; that
reads every variable once, at construction, and the parts are passed down from it:

* ``REBALANCE_*``: the fields of :class:`Settings` itself; :meth:`Settings.engine` builds the
  engine's knobs (:class:`statemachine.settings.EngineSettings`);
* ``REBALANCE_GEMINI_*``: :class:`GeminiSettings`, by :meth:`Settings.gemini`;
* ``GOOGLE_API_KEY`` / ``GEMINI_API_KEY``: the Gemini key, by :meth:`Settings.gemini_api_key`
  (:func:`api_key_from_env`: the first one set wins, as in the SDK);
* ``REBALANCE_KIS_*``: :class:`KisSettings`, by :meth:`Settings.kis`.

Command-line options override these where the CLI offers them (``--db``, ``--log-level``...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.retry_policy import RetryPolicy
from statemachine.settings import BuyRecoveryPolicy, EngineSettings

GEMINI_DEFAULT_MODEL = "gemini-3.1-pro-preview"  # gemini-3-pro-preview (the seed's) was shut down 2026-03-09
GEMINI_DEFAULT_API_VERSION = "v1beta"  # preview models are served on v1beta only
GEMINI_KEY_VARIABLES = ("GOOGLE_API_KEY", "GEMINI_API_KEY")  # first one set wins


def api_key_from_env(environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """(variable, key) of the configured Gemini key: GOOGLE_API_KEY wins over GEMINI_API_KEY.
    ``environ`` defaults to the process environment."""
    env = os.environ if environ is None else environ
    for name in GEMINI_KEY_VARIABLES:
        value = (env.get(name) or "").strip()
        if value:
            return name, value
    return None, None


class ModelPrice(BaseModel):
    """A model's list price in US dollars per one million tokens (prompts up to 200k tokens).
    Output includes the model's thinking tokens, as Google bills them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_usd_per_mtok: float = Field(ge=0)
    output_usd_per_mtok: float = Field(ge=0)


#: Google's published list prices (USD per 1M tokens, prompts <= 200k tokens) when this was written;
#: an estimate, not an invoice: override with REBALANCE_GEMINI_PRICES (JSON) when they change.
GEMINI_DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gemini-3.1-pro-preview": ModelPrice(input_usd_per_mtok=2.0, output_usd_per_mtok=12.0),
    "gemini-3-pro-preview": ModelPrice(input_usd_per_mtok=2.0, output_usd_per_mtok=12.0),
    "gemini-2.5-pro": ModelPrice(input_usd_per_mtok=1.25, output_usd_per_mtok=10.0),
    "gemini-2.5-flash": ModelPrice(input_usd_per_mtok=0.30, output_usd_per_mtok=2.50),
}


class GeminiSettings(BaseSettings):
    """Read from ``REBALANCE_GEMINI_*``; the API key is not here (:func:`api_key_from_env`)."""

    model_config = SettingsConfigDict(env_prefix="REBALANCE_GEMINI_", extra="ignore", frozen=True)

    model: str = GEMINI_DEFAULT_MODEL
    api_version: str = GEMINI_DEFAULT_API_VERSION
    base_url: str | None = None
    timeout_ms: int = Field(120_000, ge=100, description="wall-clock deadline per HTTP call (the whole reply), ms")
    step_timeout_ms: int = Field(420_000, ge=100, description="wall-clock deadline per planning step (every call "
                                 "and backoff wait of one attempt), ms")
    retry_attempts: int = Field(3, ge=1, le=10)
    retry_initial_delay_s: float = Field(2.0, ge=0)
    retry_max_delay_s: float = Field(30.0, ge=0)
    record_limit_bytes: int = Field(8192, ge=256, description="cap on the prompt and reply kept in meta")
    temperature: float | None = None
    prices: dict[str, ModelPrice] = Field(
        default_factory=lambda: dict(GEMINI_DEFAULT_PRICES),
        description="USD per 1M tokens by model id (JSON: {\"model\": {\"input_usd_per_mtok\": 2.0, "
                    "\"output_usd_per_mtok\": 12.0}}); a model missing here is recorded as unpriced")

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.retry_attempts, initial_s=self.retry_initial_delay_s,
                           max_s=self.retry_max_delay_s)


class KisSettings(BaseSettings):
    """Read from ``REBALANCE_KIS_*``: the KIS broker's credentials, host and limits."""

    model_config = SettingsConfigDict(env_prefix="REBALANCE_KIS_", extra="ignore")

    env: Literal["paper", "real"] = "paper"
    appkey: SecretStr | None = None
    appsecret: SecretStr | None = None
    account: SecretStr | None = None
    base_url: str | None = None
    live: bool = False
    live_confirm: str = ""
    rps: float | None = None
    token_cache_path: str = "~/.cache/kis-rebalancer/kis_token.json"
    sim_rps: float = 50.0  # the in-process simulator's rate limit (kis-sim)
    # kis-sim against an external multi-account simulator (python -m adapters.kis_sim.multi) instead
    # of one started in this process: each account there has its own simulated app key
    sim_url: str | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REBALANCE_", extra="ignore")

    database_url: str | None = Field(None, description="default sqlite:///rebalance.db")
    durability: Literal["effects", "every-commit"] = Field(
        "effects", description="REBALANCE_DURABILITY: effects (default): every commit that something outside the "
        "database follows (an order sent, a run's end or stop, a caller told) is on disk before it; the commits "
        "between (a step's transition, an order intent) become durable with it. every-commit: each commit is on "
        "disk before it returns (docs/durability.md)")
    broker: Literal["sim", "kis-sim", "kis"] = "sim"
    sim_account_path: str = "var/sim_account.json"
    sim_session: Literal["always-open", "krx"] = Field(
        "always-open", description="the simulated market's session: always-open (demo) or krx (XKRX calendar, "
        "09:00-15:30 KST, on the simulator's clock)")
    clock_at: str | None = Field(
        None, description="start the clock at this ISO instant (e.g. 2026-11-25T10:30:00+09:00); simulated "
        "brokers only: tests and drills name the instant they run at")
    account_alias: str = "demo"
    planner: str = "auto"
    policy: str = Field("threshold", description="rebalancing policy of runs started without --policy: a name or "
                        "JSON with parameters (statemachine.policies, docs/backtest.md)")
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    lang: Literal["ko", "en", "auto"] | None = Field(
        None, description="REBALANCE_LANG: the language of the CLI's messages and the page: ko, en or auto (the "
        "CLI follows LC_ALL/LANG, the page the browser). Unset: the CLI speaks English, the page follows the browser")

    # engine knobs (see statemachine.settings.EngineSettings)
    cash_buffer_percent: float = 0.5
    cash_buffer_krw: int = 0
    fill_timeout_s: float = 30.0
    fill_poll_s: float = 0.5
    partial_retries: int = 1
    order_style: Literal["market", "limit"] = Field(
        "market", description="REBALANCE_ORDER_STYLE: market orders (default) or marketable limit orders "
        "(buys at the best ask + limit_ticks ticks, sells at the best bid - limit_ticks ticks)")
    limit_ticks: int = Field(1, ge=0, le=50, description="REBALANCE_LIMIT_TICKS: ticks past the best quote")
    open_orders_policy: Literal["fail", "cancel"] = "fail"
    sell_untargeted: bool = True
    lease_ttl_s: float = 60.0
    # a hostile broker (docs/durability.md): how long an order without a reply may still turn up
    send_timeout_s: float = Field(10.0, gt=0, description="the broker client's limit for one order send")
    settle_window_s: float = Field(30.0, ge=0, description="after a send's deadline, how long a late order may "
                                   "still appear before 'not at the broker' counts")
    clock_skew_tolerance_s: float = Field(60.0, ge=0, description="how far the broker's clock may differ from ours")
    unknown_wait_limit_s: float = Field(300.0, gt=0, description="an undecided unknown order blocks the run after this")
    on_llm_failure: Literal["fail", "optimal"] = "fail"
    commission_rate: float = 0.000146527
    commission_min: int = 0

    # safety
    max_turnover_percent: float | None = Field(None, gt=0, description="L2: sells + buys per run, % of T")
    max_order_value_krw: int | None = Field(None, gt=0, description="L1: one order's value, KRW")
    kill_switch: bool = False
    kill_switch_file: str = "var/KILL_SWITCH"
    api_token: SecretStr | None = Field(None, description="REBALANCE_API_TOKEN: the HTTP API's bearer token")
    crash_at: str | None = None  # tests only: see adapters.runtime.CrashHooks

    # notifications when a run ends (adapters.notify): apprise URLs, comma or space separated; secret
    # because such URLs carry the services' tokens
    notify_urls: SecretStr | None = Field(None, description="REBALANCE_NOTIFY_URLS: apprise URLs to notify")
    public_url: str | None = Field(None, description="REBALANCE_PUBLIC_URL: the page's address, for links")

    # scheduler (adapters.scheduler.runner)
    schedule_cron: str | None = Field(None, description='cron in schedule_tz, e.g. "0 10 * * 1-5"')
    schedule_tz: str = "Asia/Seoul"
    schedule_grace_s: float = Field(600.0, gt=0, description="a due time may start this late, then is missed")

    # the automatic buy-side recovery of a PARTIAL run (statemachine.buy_recovery), off by default
    buy_recovery_auto: bool = Field(False, description="retry the buy side of a PARTIAL run automatically")
    buy_recovery_delay_s: float = Field(300.0, ge=0, description="after the PARTIAL outcome (or the last attempt)")
    buy_recovery_max_attempts: int = Field(3, ge=1, description="automatic retries of one run's buy side")
    buy_recovery_window_h: float = Field(24.0, gt=0, description="only runs whose last outcome is this recent")

    # the other parts, read with this object (once), never again below the entry point
    _gemini: GeminiSettings = PrivateAttr(default_factory=GeminiSettings)
    _kis: KisSettings = PrivateAttr(default_factory=KisSettings)
    _gemini_key: tuple[str | None, str | None] = PrivateAttr(default_factory=api_key_from_env)

    def gemini(self) -> GeminiSettings:
        return self._gemini

    def kis(self) -> KisSettings:
        return self._kis

    def gemini_api_key(self) -> tuple[str | None, SecretStr | None]:
        """(the variable it came from, the key); (None, None) without one."""
        name, key = self._gemini_key
        return name, (SecretStr(key) if key else None)

    def buy_recovery(self) -> BuyRecoveryPolicy:
        return BuyRecoveryPolicy(enabled=self.buy_recovery_auto, delay_s=self.buy_recovery_delay_s,
                                 max_attempts=self.buy_recovery_max_attempts, window_h=self.buy_recovery_window_h)

    def engine_settings(self) -> EngineSettings:
        """The engine's knobs (kept for the callers that use this name; see :meth:`engine`)."""
        return self.engine()

    def engine(self) -> EngineSettings:
        from statemachine.fees import FeeModel
        from statemachine.limits import TradingLimits
        from statemachine.policies import Policy

        return EngineSettings(
            fees=FeeModel(commission_rate=self.commission_rate, commission_min=self.commission_min),
            cash_buffer_percent=self.cash_buffer_percent, cash_buffer_krw=self.cash_buffer_krw,
            fill_timeout_s=self.fill_timeout_s, fill_poll_s=self.fill_poll_s,
            partial_retries=self.partial_retries, open_orders_policy=self.open_orders_policy,
            order_style=self.order_style, limit_ticks=self.limit_ticks,
            sell_untargeted=self.sell_untargeted, lease_ttl_s=self.lease_ttl_s,
            send_timeout_s=self.send_timeout_s, settle_window_s=self.settle_window_s,
            clock_skew_tolerance_s=self.clock_skew_tolerance_s, unknown_wait_limit_s=self.unknown_wait_limit_s,
            on_llm_failure=self.on_llm_failure, policy=Policy.parse(self.policy),
            limits=TradingLimits(max_turnover_percent=self.max_turnover_percent,
                                 max_order_value_krw=self.max_order_value_krw),
        )

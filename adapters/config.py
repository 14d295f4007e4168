"""Settings from the environment (prefix ``REBALANCE_``) and command-line options."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from statemachine.settings import EngineSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REBALANCE_", extra="ignore")

    database_url: str | None = Field(None, description="default sqlite:///rebalance.db")
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
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    # engine knobs (see statemachine.settings.EngineSettings)
    cash_buffer_percent: float = 0.5
    cash_buffer_krw: int = 0
    fill_timeout_s: float = 30.0
    fill_poll_s: float = 0.5
    partial_retries: int = 1
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
    crash_at: str | None = None  # tests only: see adapters.runtime.CrashHooks

    # scheduler (adapters.scheduler.runner)
    schedule_cron: str | None = Field(None, description='cron in schedule_tz, e.g. "0 10 * * 1-5"')
    schedule_tz: str = "Asia/Seoul"
    schedule_grace_s: float = Field(600.0, gt=0, description="a due time may start this late, then is missed")

    def engine_settings(self) -> EngineSettings:
        from statemachine.fees import FeeModel
        from statemachine.limits import TradingLimits

        return EngineSettings(
            fees=FeeModel(commission_rate=self.commission_rate, commission_min=self.commission_min),
            cash_buffer_percent=self.cash_buffer_percent, cash_buffer_krw=self.cash_buffer_krw,
            fill_timeout_s=self.fill_timeout_s, fill_poll_s=self.fill_poll_s,
            partial_retries=self.partial_retries, open_orders_policy=self.open_orders_policy,
            sell_untargeted=self.sell_untargeted, lease_ttl_s=self.lease_ttl_s,
            send_timeout_s=self.send_timeout_s, settle_window_s=self.settle_window_s,
            clock_skew_tolerance_s=self.clock_skew_tolerance_s, unknown_wait_limit_s=self.unknown_wait_limit_s,
            on_llm_failure=self.on_llm_failure,
            limits=TradingLimits(max_turnover_percent=self.max_turnover_percent,
                                 max_order_value_krw=self.max_order_value_krw),
        )

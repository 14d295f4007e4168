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
    on_llm_failure: Literal["fail", "optimal"] = "fail"
    commission_rate: float = 0.000146527
    commission_min: int = 0

    # safety
    kill_switch: bool = False
    kill_switch_file: str = "var/KILL_SWITCH"
    crash_at: str | None = None  # tests only: see adapters.runtime.CrashHooks

    def engine_settings(self) -> EngineSettings:
        from statemachine.fees import FeeModel

        return EngineSettings(
            fees=FeeModel(commission_rate=self.commission_rate, commission_min=self.commission_min),
            cash_buffer_percent=self.cash_buffer_percent, cash_buffer_krw=self.cash_buffer_krw,
            fill_timeout_s=self.fill_timeout_s, fill_poll_s=self.fill_poll_s,
            partial_retries=self.partial_retries, open_orders_policy=self.open_orders_policy,
            sell_untargeted=self.sell_untargeted, lease_ttl_s=self.lease_ttl_s,
            on_llm_failure=self.on_llm_failure,
        )

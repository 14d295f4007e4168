"""Engine settings: plain data, filled by the composition root from the environment or a file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .fees import FeeModel
from .limits import TradingLimits
from .policies import Policy


class EngineSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    fees: FeeModel = Field(default_factory=FeeModel)
    cash_buffer_percent: float = Field(0.5, ge=0, le=100, description="kept back from orderable cash")
    cash_buffer_krw: int = Field(0, ge=0)
    order_type: str = "01"  # market: the division of every order when order_style is "market"
    order_style: Literal["market", "limit"] = Field("market", description="market orders (default) or "
                                                    "marketable limits priced at planning (statemachine.orders."
                                                    "pricing)")
    limit_ticks: int = Field(1, ge=0, le=50, description="a limit buy's ticks above the best ask (a sell's "
                             "below the best bid)")
    fill_timeout_s: float = Field(30.0, gt=0)
    fill_poll_s: float = Field(0.5, gt=0)
    cancel_confirm_polls: int = Field(10, ge=1)
    send_attempts: int = Field(3, ge=1, description="sends of one intent per process, broker showing none")
    partial_retries: int = Field(1, ge=0, description="re-sends of an unfilled remainder")
    open_orders_policy: Literal["fail", "cancel"] = "fail"
    sell_untargeted: bool = True
    lease_ttl_s: float = Field(60.0, gt=0)
    # -- a hostile broker (issue 14); documented in docs/durability.md -------------------------------
    send_timeout_s: float = Field(10.0, gt=0, description="the broker client's whole-request limit for a send")
    settle_window_s: float = Field(30.0, ge=0, description="after a send's deadline, how long a late acceptance "
                                  "or a lagging order list may still show the order before 'not found' counts")
    clock_skew_tolerance_s: float = Field(60.0, ge=0, description="how far the broker's clock may differ "
                                          "from ours before matching refuses to decide")
    unknown_wait_limit_s: float = Field(300.0, gt=0, description="an UNKNOWN order still undecided after "
                                        "this long blocks the run, naming it")
    on_llm_failure: Literal["fail", "optimal"] = "fail"
    limits: TradingLimits = Field(default_factory=TradingLimits, description="L1/L2 limits (default off)")
    policy: Policy = Field(default_factory=Policy, description="the policy of a run started without one "
                           "(REBALANCE_POLICY; statemachine.policies)")

    def cash_buffer(self, orderable_cash: int) -> int:
        return self.cash_buffer_krw + int(orderable_cash * self.cash_buffer_percent / 100.0)


class BuyRecoveryPolicy(BaseModel):
    """The automatic buy-side recovery of a PARTIAL run (statemachine.buy_recovery), off by default:
    after ``delay_s`` from the run's last outcome, inside the market session, at most ``max_attempts``
    automatic retries; runs that finished more than ``window_h`` hours ago are left to the operator."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = False
    delay_s: float = Field(300.0, ge=0, description="wait after the PARTIAL outcome (or the last attempt)")
    max_attempts: int = Field(3, ge=1, description="automatic retries of one run's buy side")
    window_h: float = Field(24.0, gt=0, description="only runs whose last outcome is this recent")

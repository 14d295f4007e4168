"""The simulator's settings (:class:`SimulatorConfig`) and its fake test credentials.

Per-process settings: environment (paper / real), the credentials it accepts, its rate limit,
latency and random 5xx / timeout shares, token lifetimes and page sizes. The faults shared across
processes live in the account file instead (:mod:`adapters.kis_sim.faults`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

TEST_APPKEY = "PSsimTESTkey0000KisSimulatorAppKey01"
# 180 characters, the length of a real app secret (clients check it); plainly not a real one
TEST_APPSECRET = "SIMsecret" + "0123456789abcdefXYZ" * 9
TEST_ACCOUNT = "50001234-01"


class SimulatorConfig(BaseModel):
    env: Literal["paper", "real"] = "paper"
    appkey: str = TEST_APPKEY
    appsecret: str = TEST_APPSECRET
    rate_limit_per_s: float | None = Field(None, ge=0, description="None: 2/s paper, 20/s real; 0: off")
    latency_s: float = Field(0.0, ge=0)
    error_5xx_rate: float = Field(0.0, ge=0, le=1, description="share of /uapi calls answered by a 500 page")
    timeout_rate: float = Field(0.0, ge=0, le=1, description="share of /uapi calls that stall")
    timeout_sleep_s: float = Field(12.0, ge=0, description="how long a stalled call sleeps")
    seed: int = 0
    token_ttl_s: int = Field(86400, gt=0)
    token_reuse_s: float = Field(6 * 3600, ge=0, description="tokenP returns the same token within this")
    token_issue_min_interval_s: float = Field(60.0, ge=0, description="EGW00133 inside this interval")
    balance_page_size: int | None = Field(None, gt=0, description="None: 50 real, 20 paper")
    ccld_page_size: int | None = Field(None, gt=0, description="None: 100 real, 15 paper")
    psbl_rvsecncl_page_size: int = Field(50, gt=0, description="cancellable orders per page")
    first_page_tr_cont: Literal["F", "M"] = Field(
        "M", description="response tr_cont of a first page followed by more (the broker documents both)"
    )

    @property
    def rate(self) -> float:
        return (
            self.rate_limit_per_s
            if self.rate_limit_per_s is not None
            else (2.0 if self.env == "paper" else 20.0)
        )

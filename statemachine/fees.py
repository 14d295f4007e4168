"""The fee model: commission per order and transaction tax per instrument type."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .models import Side
from .units import krw_floor


class FeeModel(BaseModel):
    """Commission (rate and minimum) on both sides; tax on sells by instrument type.

    Defaults: KIS non-face-to-face ETF commission ~0.0146527 % (KIS_API.md section 10), no minimum,
    and no securities transaction tax on domestic ETFs. ``tax_rates`` maps an instrument type
    ("etf", "stock", ...) to a sell-side tax rate; ``instrument_types`` maps a ticker to a type
    (unlisted tickers are "etf").
    """

    model_config = ConfigDict(frozen=True)

    commission_rate: float = Field(0.000146527, ge=0, le=0.05)
    commission_min: int = Field(0, ge=0)
    tax_rates: dict[str, float] = Field(default_factory=lambda: {"etf": 0.0, "stock": 0.0020})
    instrument_types: dict[str, str] = Field(default_factory=dict)

    def commission(self, amount: int) -> int:
        if amount <= 0:
            return 0
        return max(self.commission_min, krw_floor(amount * self.commission_rate))

    def tax(self, ticker: str, side: Side, amount: int) -> int:
        if side is not Side.SELL or amount <= 0:
            return 0
        kind = self.instrument_types.get(ticker, "etf")
        return krw_floor(amount * self.tax_rates.get(kind, 0.0))

    def cost(self, ticker: str, side: Side, amount: int) -> int:
        """Commission plus tax for one order of ``amount`` KRW."""
        return self.commission(amount) + self.tax(ticker, side, amount)

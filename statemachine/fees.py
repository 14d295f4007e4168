"""The fee model: commission per order and transaction tax per instrument type.

Needs: an order's ticker, side and amount (integer KRW). Sets: its commission and tax in whole
won, each rounded down (the broker truncates). All rates are configuration (docs/domain.md section 7).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .models import Side
from .units import krw_floor

DEFAULT_TYPE = "etf"


class FeeModel(BaseModel):
    """Commission (rate and minimum) on both sides; tax on sells by instrument type.

    Defaults: KIS non-face-to-face ETF commission ~0.0146527 % (docs/kis.md and docs/domain.md §7), no minimum,
    and no securities transaction tax on domestic ETFs. ``tax_rates`` maps an instrument type
    ("etf", "stock", ...) to a sell-side tax rate; ``instrument_types`` maps a ticker to a type
    (unlisted tickers are ``default_type``, "etf"). A type without a tax rate is refused rather
    than silently taxed at 0.

    The commission of an order is ``max(commission_min, floor(amount * commission_rate))``; the
    tax is ``floor(amount * tax_rate)``. An order of 0 KRW costs nothing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    commission_rate: float = Field(0.000146527, ge=0, le=0.05)
    commission_min: int = Field(0, ge=0)
    tax_rates: dict[str, float] = Field(default_factory=lambda: {"etf": 0.0, "stock": 0.0020})
    instrument_types: dict[str, str] = Field(default_factory=dict)
    default_type: str = DEFAULT_TYPE

    @model_validator(mode="after")
    def _types_known(self) -> FeeModel:
        for kind, rate in self.tax_rates.items():
            if not 0 <= rate <= 0.05:
                raise ValueError(f"tax_rates.{kind} must be between 0 and 0.05, got {rate}")
        for ticker, kind in {**self.instrument_types, "(default)": self.default_type}.items():
            if kind not in self.tax_rates:
                raise ValueError(f"instrument type '{kind}' of {ticker} has no tax rate "
                                 f"(known: {', '.join(sorted(self.tax_rates))})")
        return self

    def instrument_type(self, ticker: str) -> str:
        return self.instrument_types.get(ticker, self.default_type)

    def tax_rate(self, ticker: str, side: Side = Side.SELL) -> float:
        """The transaction tax rate of ``ticker`` on ``side`` (buys pay none)."""
        if side is not Side.SELL:
            return 0.0
        return self.tax_rates[self.instrument_type(ticker)]

    def commission(self, amount: int) -> int:
        if amount <= 0:
            return 0
        return max(self.commission_min, krw_floor(amount * self.commission_rate))

    def tax(self, ticker: str, side: Side, amount: int) -> int:
        if side is not Side.SELL or amount <= 0:
            return 0
        return krw_floor(amount * self.tax_rate(ticker, side))

    def cost(self, ticker: str, side: Side, amount: int) -> int:
        """Commission plus tax for one order of ``amount`` KRW."""
        return self.commission(amount) + self.tax(ticker, side, amount)

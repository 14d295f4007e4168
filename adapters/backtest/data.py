"""Read a price history (and dividends) from CSV; make a clearly labelled synthetic one.

Prices CSV: a header ``date,ticker,close`` then one row per trading day and ticker: an ISO date
(``2024-01-02``), a KRX 6-digit code (``069500``; leading zeros kept), a positive close in whole
KRW (``35120`` or ``35120.0``). Rows may come in any order. A ticker with no close on a date
takes its previous close (a trading halt); a date before a ticker's first close is refused.

Dividends CSV (optional): ``date,ticker,amount``: KRW per share, paid into cash on the ex-date
for the shares held at the previous close.

Bad input raises :class:`DataError` naming the file and the line.
"""

from __future__ import annotations

import csv
import io
import math
import random
import re
from datetime import date, timedelta
from pathlib import Path

from statemachine.backtest.models import PriceHistory
from statemachine.errors import DomainError

TICKER = re.compile(r"^\d{6}$")


class DataError(DomainError):
    """Bad backtest input; the message names the file and line (exit code 2, bad input)."""


def _date(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise DataError(f"{where}: bad date {text!r} (expected YYYY-MM-DD)") from None


def _ticker(text: str, where: str) -> str:
    t = text.strip()
    if not TICKER.match(t):
        raise DataError(f"{where}: bad ticker {text!r} (expected a 6-digit KRX code such as 069500)")
    return t


def _krw(text: str, where: str, field: str, *, positive: bool = True) -> int:
    try:
        v = float(text.strip().replace(",", ""))
    except ValueError:
        raise DataError(f"{where}: bad {field} {text!r} (expected whole KRW)") from None
    if not math.isfinite(v) or v != int(v):
        raise DataError(f"{where}: {field} {text!r} is not a whole number of KRW")
    if v < 0 or (positive and v == 0):
        raise DataError(f"{where}: {field} must be {'positive' if positive else 'zero or more'}, got {text!r}")
    return int(v)


def _rows(text: str, name: str, columns: tuple[str, str, str]) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise DataError(f"{name}: empty file (expected a header {','.join(columns)})")
    cols = [h.strip().lower() for h in header]
    if cols[:3] != list(columns):
        raise DataError(f"{name} line 1: header must be {','.join(columns)}, got {','.join(header)}")
    out = []
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < 3:
            raise DataError(f"{name} line {line}: expected 3 columns ({','.join(columns)}), got {len(row)}")
        out.append((line, row))
    return out


def parse_prices(text: str, name: str = "prices.csv", dividends_text: str | None = None,
                 dividends_name: str = "dividends.csv") -> PriceHistory:
    table: dict[date, dict[str, int]] = {}
    for line, row in _rows(text, name, ("date", "ticker", "close")):
        where = f"{name} line {line}"
        d, t, c = _date(row[0], where), _ticker(row[1], where), _krw(row[2], where, "close")
        day = table.setdefault(d, {})
        if t in day:
            raise DataError(f"{where}: a second close for {t} on {d}")
        day[t] = c
    if not table:
        raise DataError(f"{name}: no price rows")
    dates = sorted(table)
    tickers = sorted({t for day in table.values() for t in day})
    closes: dict[str, list[int]] = {t: [] for t in tickers}
    for t in tickers:
        last: int | None = None
        for d in dates:
            last = table[d].get(t, last)
            if last is None:
                raise DataError(f"{name}: {t} has no close on {d}, the first date of the history "
                                f"(give every ticker a close from the first date, or use --from)")
            closes[t].append(last)
    divs: dict[date, dict[str, int]] = {}
    if dividends_text is not None:
        for line, row in _rows(dividends_text, dividends_name, ("date", "ticker", "amount")):
            where = f"{dividends_name} line {line}"
            d, t, a = _date(row[0], where), _ticker(row[1], where), _krw(row[2], where, "amount", positive=False)
            if t not in closes:
                raise DataError(f"{where}: {t} has no prices")
            divs.setdefault(d, {})[t] = divs.get(d, {}).get(t, 0) + a
    return PriceHistory(dates=dates, closes=closes, dividends=divs)


def read_prices(path: Path, dividends: Path | None = None) -> PriceHistory:
    try:
        text = path.read_text(encoding="utf-8-sig")
        dtext = dividends.read_text(encoding="utf-8-sig") if dividends else None
    except OSError as exc:
        raise DataError(f"cannot read {exc.filename}: {exc.strerror}") from None
    return parse_prices(text, path.name, dtext, dividends.name if dividends else "dividends.csv")


def to_csv(history: PriceHistory) -> str:
    """The history as a prices CSV (what ``parse_prices`` reads)."""
    lines = ["date,ticker,close"]
    for i, d in enumerate(history.dates):
        lines += [f"{d.isoformat()},{t},{c[i]}" for t, c in history.closes.items()]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- synthetic
#: annual drift and volatility per ticker of the demo targets (made up: SYNTHETIC DATA)
SYNTHETIC_PARAMS = {
    "411420": (0.08, 0.20), "360750": (0.09, 0.18), "458730": (0.07, 0.22),
    "453850": (0.03, 0.05), "357870": (0.025, 0.04), "132030": (0.04, 0.15), "261240": (0.02, 0.08),
}


def synthetic_history(years: float = 10.0, tickers: dict[str, tuple[float, float]] | None = None, *,
                      seed: int = 20, start: date = date(2015, 1, 2), start_price: int = 10_000) -> PriceHistory:
    """SYNTHETIC prices (not market data): seeded geometric Brownian motion per ticker, on
    weekdays from ``start`` (252 per year), closes rounded to whole KRW. Labelled
    ``synthetic=True`` wherever it is shown."""
    params = tickers or SYNTHETIC_PARAMS
    rng = random.Random(seed)
    n = max(2, int(round(years * 252)))
    dates: list[date] = []
    d = start
    while len(dates) < n:
        if d.weekday() < 5:
            dates.append(d)
        d += timedelta(days=1)
    dt = 1.0 / 252.0
    closes: dict[str, list[int]] = {}
    for t, (mu, sigma) in params.items():
        p = float(start_price)
        series = []
        for _ in range(n):
            series.append(max(1, int(round(p))))
            p *= math.exp((mu - 0.5 * sigma * sigma) * dt + sigma * math.sqrt(dt) * rng.gauss(0.0, 1.0))
        closes[t] = series
    return PriceHistory(dates=dates, closes=closes, synthetic=True)


def synthetic_tickers(count: int, seed: int = 20) -> dict[str, tuple[float, float]]:
    """``count`` made-up 6-digit codes (900000 + i) with made-up drifts and volatilities."""
    rng = random.Random(seed)
    return {f"{900000 + i:06d}": (rng.uniform(0.0, 0.1), rng.uniform(0.05, 0.3)) for i in range(count)}

"""Two-level drift (docs/domain.md section 2): MP drift per class, Sub-MP drift per ticker.

Sign convention (the seed's): drift = target - actual; negative = overweight = sell.

Needs: a :class:`Snapshot`, :class:`Targets` and :class:`Thresholds`. Sets: a :class:`DriftReport`
with one :class:`ClassDrift` per class and one :class:`TickerDrift` per ticker, where

* every class of ``CLASSES`` has a row (a class with no target and no value has drift 0); the
  class ``Other`` (target 0) has a row only when untargeted holdings are worth something;
* every Sub-MP ticker has a row, held or not, and so does every holding (untargeted holdings are
  in ``Other`` with target 0; their Sub-MP drift is ``0 - v_i / V_Other``, but they carry no Sub-MP
  band of their own: the ``Other`` class's MP drift flags them);
* the cash deposit always has a row, the pseudo-ticker ``CASH`` in class ``Cash``: its in-class
  target is its Sub-MP weight, or 1.0 when the Cash class lists no ticker at all (the deposit
  fills the class), or 0 when the Cash class lists only other tickers. So ``total_abs_drift`` is
  the whole L1 distance between the actual and the target allocation; ``securities_abs_drift``
  leaves the cash row out (what orders can move directly: rule R4);
* holdings listed twice for one ticker are summed;
* an empty account (T = 0) needs nothing: there is nothing to rebalance.
"""

from __future__ import annotations

from .models import (
    CASH_TICKER,
    CLASSES,
    OTHER,
    ClassDrift,
    DriftReport,
    Snapshot,
    Targets,
    Thresholds,
    TickerDrift,
)
from .units import exceeds, share_of

CASH_CLASS = "Cash"


def quantities(snapshot: Snapshot) -> dict[str, int]:
    """Held quantity per ticker (rows for one ticker summed)."""
    out: dict[str, int] = {}
    for h in snapshot.holdings:
        out[h.ticker] = out.get(h.ticker, 0) + h.quantity
    return out


def class_of(targets: Targets, ticker: str) -> str:
    """The class of ``ticker``; ``CASH`` is always in the Cash class, unlisted tickers in Other."""
    return CASH_CLASS if ticker == CASH_TICKER else targets.class_of(ticker)


def in_class_weight(targets: Targets, ticker: str) -> float:
    """Sub-MP weight of ``ticker`` within its class as a fraction (0 for untargeted)."""
    if ticker == CASH_TICKER:
        listed = targets.sub_mp.get(CASH_CLASS, {})
        return 1.0 if not listed else float(listed.get(CASH_TICKER, 0.0))
    return targets.weight(ticker)


def global_target_pct(targets: Targets, ticker: str) -> float:
    """t_i / T in pp: MP of the class times the Sub-MP weight (``CASH`` included)."""
    if ticker == CASH_TICKER:
        return targets.cash_target_pct()
    return targets.global_target_pct(ticker)


def class_values(snapshot: Snapshot, targets: Targets) -> dict[str, int]:
    values = {c: 0 for c in (*CLASSES, OTHER)}
    for h in snapshot.holdings:
        values[class_of(targets, h.ticker)] += h.value
    values[CASH_CLASS] += snapshot.cash
    return values


def _tickers(snapshot: Snapshot, targets: Targets) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for weights in targets.sub_mp.values():
        for t in weights:
            if t not in seen:
                seen.add(t)
                out.append(t)
    if CASH_TICKER not in seen:
        seen.add(CASH_TICKER)
        out.append(CASH_TICKER)
    for h in snapshot.holdings:
        if h.ticker not in seen:
            seen.add(h.ticker)
            out.append(h.ticker)
    return out


def drift_report(snapshot: Snapshot, targets: Targets, thresholds: Thresholds) -> DriftReport:
    """Compute the drift report of ``snapshot`` against ``targets``."""
    total = snapshot.total
    values = class_values(snapshot, targets)
    qty = quantities(snapshot)
    classes: list[ClassDrift] = []
    for c in (*CLASSES, OTHER):
        if c == OTHER and values[c] == 0:
            continue
        target = 0.0 if c == OTHER else float(targets.mp.get(c, 0.0))
        actual = share_of(values[c], total)
        d = target - actual
        classes.append(ClassDrift(asset_class=c, target_pct=target, actual_pct=actual, drift=d,
                                  value=values[c], exceeded=total > 0 and exceeds(d, thresholds.mp)))

    rows: list[TickerDrift] = []
    for t in _tickers(snapshot, targets):
        c = class_of(targets, t)
        if t == CASH_TICKER:
            q, price, value = 0, 1, snapshot.cash
        else:
            q = qty.get(t, 0)
            price = snapshot.price(t) or 0
            value = q * price
        target_w = in_class_weight(targets, t) * 100.0
        actual_w = share_of(value, values[c])
        d = target_w - actual_w
        g_target = global_target_pct(targets, t)
        # an untargeted holding has no Sub-MP band (its class, Other, flags it); a class with no
        # target and no value has nothing to drift
        has_band = c != OTHER and (targets.mp.get(c, 0.0) > 0 or values[c] > 0)
        rows.append(TickerDrift(
            ticker=t,
            name=_name(t, snapshot, targets),
            asset_class=c,
            target_weight=target_w,
            actual_weight=actual_w,
            drift=d,
            global_target_pct=g_target,
            global_actual_pct=share_of(value, total),
            target_value=int(round(total * g_target / 100.0)),
            value=value,
            quantity=q,
            price=price,
            exceeded=total > 0 and has_band and exceeds(d, thresholds.sub_mp),
        ))
    total_abs = sum(abs(r.global_target_pct - r.global_actual_pct) for r in rows)
    sec_abs = sum(abs(r.global_target_pct - r.global_actual_pct) for r in rows if r.ticker != CASH_TICKER)
    needed = any(c.exceeded for c in classes) or any(r.exceeded for r in rows)
    return DriftReport(total=total, cash=snapshot.cash, thresholds=thresholds, classes=classes,
                       tickers=rows, needed=needed, total_abs_drift=total_abs,
                       securities_abs_drift=sec_abs)


def _name(ticker: str, snapshot: Snapshot, targets: Targets) -> str:
    if ticker == CASH_TICKER:
        return "Cash deposit"
    h = snapshot.holding(ticker)
    return targets.names.get(ticker) or (h.name if h else "")

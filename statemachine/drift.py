"""Two-level drift (DOMAIN.md section 2): MP drift per class, Sub-MP drift per ticker.

Sign convention (the seed's): drift = target - actual; negative = overweight = sell.
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


def class_values(snapshot: Snapshot, targets: Targets) -> dict[str, int]:
    values = {c: 0 for c in (*CLASSES, OTHER)}
    for h in snapshot.holdings:
        values[targets.class_of(h.ticker)] += h.value
    values["Cash"] += snapshot.cash
    return values


def drift_report(snapshot: Snapshot, targets: Targets, thresholds: Thresholds) -> DriftReport:
    """Compute the drift report of ``snapshot`` against ``targets``."""
    total = snapshot.total
    values = class_values(snapshot, targets)
    classes: list[ClassDrift] = []
    for c in (*CLASSES, OTHER):
        target = 0.0 if c == OTHER else float(targets.mp.get(c, 0.0))
        actual = share_of(values[c], total)
        if c == OTHER and values[c] == 0:
            continue
        d = target - actual
        classes.append(ClassDrift(asset_class=c, target_pct=target, actual_pct=actual, drift=d,
                                  value=values[c], exceeded=exceeds(d, thresholds.mp)))

    rows: list[TickerDrift] = []
    tickers: list[str] = []
    for weights in targets.sub_mp.values():
        tickers += [t for t in weights if t not in tickers]
    tickers += [h.ticker for h in snapshot.holdings if h.ticker not in tickers]
    for t in tickers:
        c = targets.class_of(t)
        if t == CASH_TICKER:
            qty, price, value = 0, 1, snapshot.cash
        else:
            h = snapshot.holding(t)
            qty = h.quantity if h else 0
            price = snapshot.price(t) or 0
            value = qty * price
        if c == OTHER:
            target_w = 0.0
            actual_w = 100.0 if value > 0 else 0.0
        else:
            target_w = targets.sub_mp[c][t] * 100.0
            actual_w = share_of(value, values[c])
        d = target_w - actual_w
        g_target = targets.global_target_pct(t)
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
            quantity=qty,
            price=price,
            # an untargeted holding has no Sub-MP band (its class, Other, flags it); a class with
            # no target and no value has nothing to drift
            exceeded=c != OTHER and (targets.mp.get(c, 0.0) > 0 or values[c] > 0)
            and exceeds(d, thresholds.sub_mp),
        ))
    total_abs = sum(abs(r.global_target_pct - r.global_actual_pct) for r in rows)
    needed = any(c.exceeded for c in classes) or any(r.exceeded for r in rows)
    return DriftReport(total=total, cash=snapshot.cash, thresholds=thresholds, classes=classes,
                       tickers=rows, needed=needed, total_abs_drift=total_abs)


def _name(ticker: str, snapshot: Snapshot, targets: Targets) -> str:
    if ticker == CASH_TICKER:
        return "Cash deposit"
    h = snapshot.holding(ticker)
    return targets.names.get(ticker) or (h.name if h else "")

"""What if: plan a rebalance of a snapshot file against a targets file, send nothing.

Needs: the SNAPSHOT and TARGETS documents as parsed JSON (formats in ``docs/formats.md``), the
thresholds (None: the defaults 3.0 / 5.0), a planner name (``optimal`` or ``greedy``) and a fee
model. Sets: a JSON-ready dict with the drift before, the sell plan, its checks, the buy plan
(planned after the sells are projected at snapshot prices, from the projected cash as the
orderable cash, less the engine's cash buffer), its checks and the drift after.

It is what ``run_rebalance.py plan --snapshot S.json --targets T.json --json`` prints. Pure: no
I/O, no clock. Bad input raises a :class:`DomainError` subclass naming the field or the ticker:
:class:`SnapshotError` (cash or quantity negative or not whole, price missing or not positive for
a ticker that must trade, a ticker listed twice), :class:`TargetsError` (weights that do not
sum, unknown class, ...), :class:`ThresholdError`, :class:`PlanningError` (unknown planner,
infeasible problem).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .drift import drift_report
from .errors import PlanningError, SnapshotError, TargetsError
from .fees import FeeModel
from .models import (
    CASH_TICKER,
    CheckResult,
    Holding,
    Plan,
    PlanningContext,
    Side,
    Snapshot,
    Targets,
    Thresholds,
)
from .planner_greedy import GreedyPlanner
from .planner_optimal import OptimalPlanner
from .ports import Planner
from .projection import apply_plan
from .rules import check_plan, eligible, failures
from .settings import EngineSettings

PLANNERS = ("optimal", "greedy")


def make_planner(name: str, fees: FeeModel, settings: EngineSettings) -> Planner:
    if name == "optimal":
        return OptimalPlanner(fees, sell_untargeted=settings.sell_untargeted)
    if name == "greedy":
        return GreedyPlanner(fees, sell_untargeted=settings.sell_untargeted)
    raise PlanningError(f"unknown planner '{name}' (what-if knows: {', '.join(PLANNERS)})", field="planner")


# ----------------------------------------------------------------------------- input
def _whole(value: Any, field: str, ticker: str | None = None, *, positive: bool = False) -> int:
    """A whole, non-negative (or positive) number of won or shares; JSON 1e6 is accepted."""
    where = f"'{field}'" + (f" of {ticker}" if ticker else "")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SnapshotError(f"snapshot: {where} must be a number, got {value!r}", field=field,
                            ticker=ticker)
    if isinstance(value, float) and not value.is_integer():
        raise SnapshotError(f"snapshot: {where} must be a whole number, got {value}", field=field,
                            ticker=ticker)
    n = int(value)
    if n < 0 or (positive and n == 0):
        need = "positive" if positive else "zero or more"
        raise SnapshotError(f"snapshot: {where} must be {need}, got {n}", field=field, ticker=ticker)
    return n


def parse_snapshot(doc: Any) -> Snapshot:
    """The SNAPSHOT document: ``{"cash", "holdings": [{"ticker", "name", "quantity", "price"}],
    "prices": {ticker: KRW}}``; ``orderable_quantity`` per holding is optional (default: all)."""
    if not isinstance(doc, dict):
        raise SnapshotError("snapshot must be a JSON object", field="$")
    unknown = set(doc) - {"cash", "holdings", "prices", "taken_at"}
    if unknown:
        raise SnapshotError(f"snapshot: unknown field(s) {', '.join(sorted(unknown))}",
                            field=sorted(unknown)[0])
    if "cash" not in doc:
        raise SnapshotError("snapshot: missing field 'cash'", field="cash")
    cash = _whole(doc["cash"], "cash")
    rows = doc.get("holdings", [])
    if not isinstance(rows, list):
        raise SnapshotError("snapshot: 'holdings' must be a list", field="holdings")
    holdings: list[Holding] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("ticker"), str) or not row["ticker"]:
            raise SnapshotError(f"snapshot: holdings[{i}] needs a 'ticker' string", field=f"holdings[{i}]")
        t = row["ticker"]
        if t == CASH_TICKER:
            raise SnapshotError("snapshot: CASH is the cash deposit; give it as 'cash'", ticker=t,
                                field=f"holdings[{i}]")
        if t in seen:
            raise SnapshotError(f"snapshot: ticker {t} is listed twice in 'holdings'", ticker=t,
                                field="holdings")
        seen.add(t)
        qty = _whole(row.get("quantity"), "quantity", t)
        price = _whole(row.get("price"), "price", t, positive=True)
        orderable = _whole(row.get("orderable_quantity", qty), "orderable_quantity", t)
        if orderable > qty:
            raise SnapshotError(f"snapshot: orderable_quantity of {t} ({orderable}) exceeds its "
                                f"quantity {qty}", ticker=t, field="orderable_quantity")
        holdings.append(Holding(ticker=t, name=str(row.get("name") or ""), quantity=qty,
                                orderable_quantity=orderable, price=price))
    prices_doc = doc.get("prices", {})
    if not isinstance(prices_doc, dict):
        raise SnapshotError("snapshot: 'prices' must be an object of ticker: KRW", field="prices")
    prices = {str(t): _whole(p, "prices", str(t), positive=True) for t, p in prices_doc.items()}
    return Snapshot(holdings=holdings, cash=cash, prices=prices)


def parse_targets(doc: Any) -> Targets:
    try:
        return Targets.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "$"
        raise TargetsError(f"targets: '{field}': {err['msg']}", field=field) from exc


def _check_prices(ctx: PlanningContext) -> None:
    """A ticker that must trade needs a positive price: refuse rather than skip it."""
    for row in ctx.drift.tickers:
        if row.ticker == CASH_TICKER or row.price > 0:
            continue
        if eligible(ctx, row.ticker, Side.SELL) or eligible(ctx, row.ticker, Side.BUY):
            raise SnapshotError(f"snapshot: no price for {row.ticker}, which must be traded "
                                f"(give it in 'prices')", ticker=row.ticker, field="prices")


# ----------------------------------------------------------------------------- output
def _orders(plan: Plan, snap: Snapshot) -> list[dict[str, Any]]:
    out = []
    for o in plan.orders:
        price = snap.price(o.ticker) or 0
        out.append({"ticker": o.ticker, "name": o.name, "quantity": o.quantity, "price": price,
                    "amount": o.quantity * price, "reason": o.reason})
    return out


def _checks(side: Side, rows: list[CheckResult]) -> list[dict[str, Any]]:
    return [{"side": side.value, **r.model_dump(mode="json")} for r in rows]


# ----------------------------------------------------------------------------- the function
def what_if(snapshot_json: dict[str, Any], targets_json: dict[str, Any], mp_threshold: float | None = None,
            sub_mp_threshold: float | None = None, planner: str = "optimal",
            fees: FeeModel | dict[str, Any] | None = None, *,
            settings: EngineSettings | None = None) -> dict[str, Any]:
    """Plan sells, project them, plan buys from the projected cash; return the whole story as JSON.

    ``settings`` gives the cash buffer and the untargeted-holdings policy (default: the engine's
    defaults, a buffer of 0.5 % of the orderable cash); ``fees`` overrides its fee model.
    """
    settings = settings or EngineSettings()
    if fees is None:
        fee_model = settings.fees
    elif isinstance(fees, FeeModel):
        fee_model = fees
    else:
        try:
            fee_model = FeeModel.model_validate(fees)
        except ValidationError as exc:
            raise PlanningError(f"fees: {exc.errors()[0]['msg']}", field="fees") from exc
    snap = parse_snapshot(snapshot_json)
    targets = parse_targets(targets_json)
    th = Thresholds(mp=3.0 if mp_threshold is None else mp_threshold,
                    sub_mp=5.0 if sub_mp_threshold is None else sub_mp_threshold)
    chosen = make_planner(planner, fee_model, settings)
    policy: dict[str, Any] = {"sell_untargeted": settings.sell_untargeted}
    before = drift_report(snap, targets, th)
    out: dict[str, Any] = {
        "planner": planner, "thresholds": {"mp": th.mp, "sub_mp": th.sub_mp}, "needed": before.needed,
        "exceeded": before.exceeded(), "drift_before": before.model_dump(mode="json"),
        "sell_orders": [], "buy_orders": [], "checks": [], "passed": True,
        "cash": {"before": snap.cash, "after_sells": snap.cash, "orderable_for_buys": None, "buffer": 0,
                 "after_buys": snap.cash},
        "fees": 0, "drift_after": before.model_dump(mode="json"), "stopped": None,
    }
    if not before.needed:
        out["stopped"] = "no drift reaches its threshold"
        return out

    sell_ctx = PlanningContext(side=Side.SELL, snapshot=snap, targets=targets, thresholds=th, drift=before,
                               **policy)
    _check_prices(sell_ctx)
    sells = chosen.plan(sell_ctx)
    sell_checks = check_plan(sell_ctx, sells, fee_model)
    out["sell_orders"] = _orders(sells, snap)
    out["checks"] = _checks(Side.SELL, sell_checks)
    if failures(sell_checks):
        out["passed"] = False
        out["stopped"] = "the sell plan failed the rule checks; no buys planned"
        return out
    after_sells, sell_fees = apply_plan(snap, Side.SELL, sells.orders, fee_model, targets.names)

    mid = drift_report(after_sells, targets, th)
    orderable_cash = after_sells.cash
    buffer = settings.cash_buffer(orderable_cash)
    buy_ctx = PlanningContext(side=Side.BUY, snapshot=after_sells, targets=targets, thresholds=th, drift=mid,
                              orderable_cash=orderable_cash, cash_buffer=buffer,
                              sold_tickers=[o.ticker for o in sells.orders], **policy)
    _check_prices(buy_ctx)
    buys = chosen.plan(buy_ctx)
    buy_checks = check_plan(buy_ctx, buys, fee_model)
    out["buy_orders"] = _orders(buys, after_sells)
    out["checks"] += _checks(Side.BUY, buy_checks)
    out["cash"].update(after_sells=after_sells.cash, orderable_for_buys=orderable_cash, buffer=buffer)
    if failures(buy_checks):
        out["passed"] = False
        out["stopped"] = "the buy plan failed the rule checks; sells stand, no buys"
        out["fees"] = sell_fees
        out["cash"]["after_buys"] = after_sells.cash
        out["drift_after"] = mid.model_dump(mode="json")
        return out
    final, buy_fees = apply_plan(after_sells, Side.BUY, buys.orders, fee_model, targets.names)
    out["fees"] = sell_fees + buy_fees
    out["cash"]["after_buys"] = final.cash
    out["drift_after"] = drift_report(final, targets, th).model_dump(mode="json")
    return out

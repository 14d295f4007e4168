"""The typed records the engine's steps store (``step_outputs``) and read back on resume.

One model per output kind (:data:`KINDS`). Each dumps (``model_dump(mode="json")``) to exactly the
JSON the engine stored before the models existed, so a run written by an older engine resumes
(``CHECKPOINT_FORMAT`` is unchanged): same keys in the same order, same value types, and a key
that was absent stays absent (``adopted_odnos`` of a fill). ``tests/unit/test_step_records.py``
holds one literal payload per kind and round-trips the payloads of real runs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from .models import DriftReport, OrderStatus, Side, Snapshot


class StepRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def payload(self) -> dict[str, Any]:
        """The JSON object stored in ``step_outputs.payload``."""
        return self.model_dump(mode="json")


class Fill(StepRecord):
    """One ticker's result of a side: what was intended, what filled, at what cost.

    Real fills (``statemachine.orders.ticker_results``) list ``avg_price`` last and carry
    ``adopted_odnos`` only when a broker order no intent owned was adopted; projected fills
    (a dry run) list ``avg_price`` after ``amount``, as the engine always wrote them."""

    ticker: str
    name: str
    side: Side
    intended: int
    filled: int
    amount: int
    fees: int
    status: OrderStatus
    odnos: list[str]
    adopted_odnos: list[str] | None = None
    avg_price: float

    @model_serializer(mode="wrap")
    def _stored_shape(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if out.get("adopted_odnos") is None:
            out.pop("adopted_odnos", None)
        if self.status is OrderStatus.PROJECTED:
            order = ("ticker", "name", "side", "intended", "filled", "amount", "avg_price", "fees", "status",
                     "odnos", "adopted_odnos")
            out = {k: out[k] for k in order if k in out}
        return out


class Fills(StepRecord):
    """``sell_fills`` / ``buy_fills``: a side's per-ticker results."""

    projected: bool
    fills: list[Fill]

    def filled_tickers(self) -> list[str]:
        return [f.ticker for f in self.fills if f.filled > 0]


class Cash(StepRecord):
    """``cash``: orderable cash after the sells, with the account and drift the buys plan on."""

    orderable_cash: int
    projected: bool
    snapshot: Snapshot
    drift: DriftReport
    #: The buy plan attempts whose orders ``snapshot`` already holds: 0 on the first pass (the account
    #: derived from the start and the sells); on a buy-side recovery pass, every attempt of the passes
    #: before it (the account was read from the broker after they all ended). Planning applies only
    #: the fills of later attempts, so a fill is never counted twice.
    buy_attempts_included: int = 0

    @model_serializer(mode="wrap")
    def _stored_shape(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if not out.get("buy_attempts_included"):  # a first pass is stored as before: the same bytes
            out.pop("buy_attempts_included", None)
        return out


class OrderRow(StepRecord):
    """A broker order as listed in a ``blocked`` record (``placed_at`` as the broker stamped it)."""

    odno: str
    ticker: str
    side: str
    quantity: int
    order_type: str
    placed_at: str
    filled: int


class IntentRow(StepRecord):
    """An intent of this run whose outcome stayed unknown, as listed in a ``blocked`` record."""

    intent: int
    ticker: str
    side: str
    quantity: int
    sent_at: str


class BlockedRecord(StepRecord):
    """``blocked``: why a side's reconciliation stopped, naming the broker orders in question."""

    side: Side
    ticker: str
    reason: str
    candidates: list[OrderRow | IntentRow]


class CancelledOrder(StepRecord):
    odno: str
    ticker: str
    side: str
    quantity: int
    cancelled: int
    filled: int


class CancelledOpenOrders(StepRecord):
    """``cancelled_open_orders``: orders open at the start that the run cancelled (confirmed)."""

    orders: list[CancelledOrder]


class LeaseNote(StepRecord):
    """``lease:<epoch>``: a runner took the run over (a resume after its holder died or stopped):
    who, when, in which state, and who held it before and when it was last seen (ISO texts)."""

    epoch: int
    owner: str
    at: str
    state: str
    seq: int
    previous_owner: str | None
    previous_seen_at: str


#: Every output kind and the model of its payload (``lease`` stands for every ``lease:<epoch>``).
KINDS: dict[str, type[BaseModel]] = {
    "snapshot": Snapshot,
    "cancelled_open_orders": CancelledOpenOrders,
    "drift_before": DriftReport,
    "sell_fills": Fills,
    "cash": Cash,
    "buy_fills": Fills,
    "drift_after": DriftReport,
    "blocked": BlockedRecord,
    "lease": LeaseNote,
}


def kind_family(kind: str) -> str:
    """The :data:`KINDS` key of a stored kind (``lease:3`` -> ``lease``)."""
    return kind.partition(":")[0]


def model_of(kind: str) -> type[BaseModel]:
    """The model of a stored kind's payload."""
    return KINDS[kind_family(kind)]


def fills_kind(side: Side) -> str:
    return f"{side.value}_fills"


def dump(record: BaseModel) -> dict[str, Any]:
    """A record as stored."""
    out: dict[str, Any] = record.model_dump(mode="json")
    return out


class StepOutputs:
    """The newest stored payload of each kind of a run, read through the models."""

    def __init__(self, raw: dict[str, dict[str, Any]]) -> None:
        self.raw = raw

    def __contains__(self, kind: str) -> bool:
        return kind in self.raw

    def snapshot(self) -> Snapshot:
        return Snapshot.model_validate(self.raw["snapshot"])

    def drift_before(self) -> DriftReport | None:
        raw = self.raw.get("drift_before")
        return DriftReport.model_validate(raw) if raw is not None else None

    def fills(self, side: Side) -> Fills | None:
        raw = self.raw.get(fills_kind(side))
        return Fills.model_validate(raw) if raw is not None else None

    def cash(self) -> Cash:
        return Cash.model_validate(self.raw["cash"])

    def cancelled_open_orders(self) -> CancelledOpenOrders | None:
        raw = self.raw.get("cancelled_open_orders")
        return CancelledOpenOrders.model_validate(raw) if raw is not None else None


__all__ = ["KINDS", "BlockedRecord", "CancelledOpenOrders", "CancelledOrder", "Cash", "Fill", "Fills",
           "IntentRow", "LeaseNote", "OrderRow", "StepOutputs", "StepRecord", "dump", "fills_kind", "kind_family",
           "model_of"]

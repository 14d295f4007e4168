"""Reading an account through the broker port: the one definition the engine's fetch steps and the
application's "drift now" query share."""

from __future__ import annotations

from .models import Snapshot, Targets
from .ports import Broker


def read_account(broker: Broker, targets: Targets) -> Snapshot:
    """The account now, with the prices of targeted tickers it does not hold (one extra price
    request for those only)."""
    snap = broker.balance()
    missing = [t for t in targets.tickers() if snap.price(t) is None]
    if missing:
        snap = snap.model_copy(update={"prices": {**snap.prices, **broker.prices(missing)}})
    return snap

"""A simulated KIS-like brokerage account: holdings, prices, cash, orders and fills.

One model, kept in a JSON file of its own (never in the engine's database) under a file lock, so a
killed run and its resume see the same account, and the order log shows every order it accepted.
The in-process broker (:mod:`adapters.sim_broker`) and the KIS REST simulator both sit in front of
this same model.

Market orders fill at once at the current price, unless a fault says otherwise:

* ``partial_fill``: {ticker or "*": fraction} - fill that fraction now; the rest stays open until
  cancelled (or until ``fill_remainder_after_s`` passes, if set);
* ``reject``: {ticker or "*": "insufficient" | "closed" | message} - refuse the order;
* ``market_closed``: true - refuse every order as outside the session;

The account has a clock of its own (orders are stamped and matured by it, never by the system
clock) and a market session: ``always-open`` (the default: the demo and the examples trade at any
hour, and say so) or ``krx`` (the XKRX calendar and the regular session, read on its own clock).
Outside its session it refuses orders as the paper broker does (``40580000``).
* ``lose_reply_rate`` / ``lose_reply_seed`` - accept the order but tell the caller nothing
  (used by the adapters to raise OrderOutcomeUnknown).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock

KST = timezone(timedelta(hours=9))
SimSession = Literal["always-open", "krx"]
SESSIONS: tuple[str, ...] = ("always-open", "krx")
DEMO_DIR = Path(__file__).parent / "demo_data"


class SimRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class PlaceOutcome:
    order: dict[str, Any]
    reply_lost: bool


class SimAccount:
    """Open with :meth:`open`; every operation loads, changes and saves the file under its lock."""

    def __init__(self, path: str | os.PathLike[str], clock: Callable[[], datetime] | None = None,
                 session: SimSession = "always-open") -> None:
        if session not in SESSIONS:
            raise ValueError(f"unknown simulator session '{session}' (one of {', '.join(SESSIONS)})")
        self.path = Path(path)
        self.lock = FileLock(str(self.path) + ".lock", timeout=30)
        if clock is None:
            from .clock import SystemClock

            clock = SystemClock().now
        self.clock = clock
        self.session = session

    def market_status(self, at: datetime | None = None) -> tuple[bool, str]:
        """Is the simulated market open at ``at`` (default: the account's clock)? With the reason."""
        if self.session == "always-open":
            return True, "the simulated market is always open"
        from .market_calendar import XKRX

        st = XKRX.status(at or self.clock())
        return st.open, st.reason

    # -- creation ------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike[str], data: dict[str, Any], *, overwrite: bool = True,
               clock: Callable[[], datetime] | None = None, session: SimSession = "always-open") -> SimAccount:
        acc = cls(path, clock=clock, session=session)
        with acc.lock:
            if acc.path.exists() and not overwrite:
                return acc
            state = {
                "cano": "50001234", "product": "01", "alias": "demo", "cash": 0, "holdings": {}, "prices": {},
                "names": {}, "orders": [], "next_odno": 1, "faults": {}, "calls": {},
            }
            state.update(json.loads(json.dumps(data)))
            acc._save(state)
        return acc

    @classmethod
    def demo(cls, path: str | os.PathLike[str], *, overwrite: bool = True,
             clock: Callable[[], datetime] | None = None, session: SimSession = "always-open") -> SimAccount:
        return cls.create(path, json.loads((DEMO_DIR / "demo_account.json").read_text()), overwrite=overwrite,
                          clock=clock, session=session)

    # -- file handling ---------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            raise FileNotFoundError(f"simulated account file {self.path} does not exist")
        return json.loads(self.path.read_text())

    def _save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(state, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    @contextmanager
    def _tx(self) -> Iterator[dict[str, Any]]:
        with self.lock:
            state = self._load()
            self._mature(state)
            yield state
            self._save(state)

    def read(self) -> dict[str, Any]:
        """A fresh copy of the state; written back only when maturing filled something."""
        with self.lock:
            state = self._load()
            if self._mature(state):
                self._save(state)
            return state

    def update(self, fn: Callable[[dict[str, Any]], None]) -> None:
        with self._tx() as s:
            fn(s)

    def set_faults(self, **faults: Any) -> None:
        def f(s: dict[str, Any]) -> None:
            s["faults"].update(faults)
        self.update(f)

    def set_prices(self, prices: dict[str, int]) -> None:
        def f(s: dict[str, Any]) -> None:
            s["prices"].update(prices)
        self.update(f)

    # -- reads -----------------------------------------------------------------------------------
    def count_call(self, name: str) -> None:
        def f(s: dict[str, Any]) -> None:
            s["calls"][name] = s["calls"].get(name, 0) + 1
        self.update(f)

    def holdings(self) -> list[dict[str, Any]]:
        s = self.read()
        out = []
        for t, h in sorted(s["holdings"].items()):
            if h["qty"] <= 0 and not h.get("sold_today"):
                continue
            reserved = sum(o["remaining"] for o in s["orders"] if o["ticker"] == t and o["side"] == "sell")
            out.append({"ticker": t, "name": s["names"].get(t, ""), "quantity": h["qty"],
                        "orderable_quantity": max(0, h["qty"] - reserved), "price": s["prices"].get(t, 0),
                        "avg_cost": h.get("avg_cost", 0.0)})
        return out

    def cash(self) -> int:
        return int(self.read()["cash"])

    def orderable_cash(self) -> int:
        s = self.read()
        reserved = sum(o["remaining"] * s["prices"].get(o["ticker"], 0)
                       for o in s["orders"] if o["side"] == "buy")
        return max(0, int(s["cash"]) - reserved)

    def price(self, ticker: str) -> int | None:
        p = self.read()["prices"].get(ticker)
        return int(p) if p else None

    def name(self, ticker: str) -> str:
        return self.read()["names"].get(ticker, "")

    def orders(self) -> list[dict[str, Any]]:
        return self.read()["orders"]

    # -- orders ----------------------------------------------------------------------------------
    def place(self, side: str, ticker: str, qty: int, order_type: str = "01", price: int = 0) -> PlaceOutcome:
        """Accept (and fill) an order, or raise SimRejected. ``reply_lost`` says the caller must not
        be told the result (the order still exists)."""
        with self._tx() as s:
            faults = s["faults"]
            now = self.clock()
            if faults.get("market_closed") or not self.market_status(now)[0]:
                raise SimRejected("40580000", "모의투자 장종료 입니다.")
            rej = faults.get("reject", {})
            why = rej.get(ticker) or rej.get("*")
            if why:
                if why == "closed":
                    raise SimRejected("APBK0918", "장운영시간이 아닙니다.(주문불가)")
                if why == "insufficient":
                    raise SimRejected("APBK0952", "주문가능금액을 초과 했습니다")
                raise SimRejected("APBK0999", str(why))
            mkt = s["prices"].get(ticker)
            if not mkt:
                raise SimRejected("APBK0656", "해당종목정보가 없습니다.")
            if qty <= 0:
                raise SimRejected("APBK0500", "주문수량을 확인하세요")
            fill_price = int(price) if order_type == "00" and price else int(mkt)
            if side == "buy":
                reserved = sum(o["remaining"] * s["prices"].get(o["ticker"], 0)
                               for o in s["orders"] if o["side"] == "buy")
                fee = int(qty * fill_price * s.get("commission_rate", 0.000146527))
                if qty * fill_price + fee > s["cash"] - reserved:
                    raise SimRejected("APBK0952", "주문가능금액을 초과 했습니다")
            else:
                h = s["holdings"].get(ticker, {"qty": 0})
                reserved = sum(o["remaining"] for o in s["orders"]
                               if o["ticker"] == ticker and o["side"] == "sell")
                if qty > h["qty"] - reserved:
                    raise SimRejected("APBK0400", "주문 가능한 수량을 초과하였습니다.")
            odno = f"{s['next_odno']:010d}"
            s["next_odno"] += 1
            order = {"odno": odno, "org_no": "00950", "ticker": ticker, "side": side, "qty": qty,
                     "order_type": order_type, "price": int(price), "filled_qty": 0, "amount": 0, "fees": 0,
                     "remaining": qty, "rejected": 0, "cancelled": 0,
                     "placed_at": now.isoformat(), "name": s["names"].get(ticker, "")}
            s["orders"].append(order)
            pf = faults.get("partial_fill", {})
            ratio = pf.get(ticker, pf.get("*", 1.0))
            self._fill(s, order, int(qty * float(ratio)) if ratio < 1 else qty, fill_price)
            lost = False
            rate = float(faults.get("lose_reply_rate", 0) or 0)
            if rate > 0:
                rng = random.Random(f"{faults.get('lose_reply_seed', 0)}:{odno}")
                lost = rng.random() < rate
            return PlaceOutcome(order=dict(order), reply_lost=lost)

    def cancel(self, odno: str, qty: int | None = None) -> dict[str, Any]:
        with self._tx() as s:
            for o in s["orders"]:
                if o["odno"] == odno.zfill(10):
                    if o["remaining"] <= 0:
                        raise SimRejected("APBK0344", "취소 가능한 수량이 없습니다")
                    n = o["remaining"] if not qty else min(qty, o["remaining"])
                    o["remaining"] -= n
                    o["cancelled"] += n
                    return dict(o)
            raise SimRejected("APBK0346", "원주문번호가 존재하지 않습니다")

    def _fill(self, s: dict[str, Any], order: dict[str, Any], qty: int, price: int) -> None:
        if qty <= 0:
            return
        amount = qty * price
        fee = int(amount * s.get("commission_rate", 0.000146527))
        t = order["ticker"]
        h = s["holdings"].setdefault(t, {"qty": 0, "avg_cost": 0.0})
        if order["side"] == "buy":
            cost = h["qty"] * h.get("avg_cost", 0.0) + amount
            h["qty"] += qty
            h["avg_cost"] = cost / h["qty"]
            s["cash"] -= amount + fee
        else:
            h["qty"] -= qty
            h["sold_today"] = True
            s["cash"] += amount - fee
        order["filled_qty"] += qty
        order["amount"] += amount
        order["fees"] += fee
        order["remaining"] -= qty
        order["filled_at"] = self.clock().isoformat()

    def _mature(self, s: dict[str, Any]) -> bool:
        """Open remainders fill once ``fill_remainder_after_s`` has passed (if that fault is set).
        Returns whether anything filled."""
        after = s["faults"].get("fill_remainder_after_s")
        if after is None:
            return False
        now = self.clock()
        changed = False
        for o in s["orders"]:
            placed = datetime.fromisoformat(o["placed_at"])
            if o["remaining"] > 0 and now - placed >= timedelta(seconds=after):
                self._fill(s, o, o["remaining"], int(s["prices"].get(o["ticker"], 0)))
                changed = True
        return changed

    # -- summaries for tests and the demo -----------------------------------------------------------
    def positions(self) -> dict[str, int]:
        return {t: h["qty"] for t, h in sorted(self.read()["holdings"].items()) if h["qty"] > 0}

    def accepted_orders(self) -> list[dict[str, Any]]:
        return [o for o in self.orders()]

"""A simulated KIS-like brokerage account: holdings, prices, cash, orders and fills.

One model, kept in a JSON file of its own (never in the engine's database) under a file lock, so a
killed run and its resume see the same account, and the order log shows every order it accepted.
The in-process broker (:mod:`adapters.sim.broker`) and the KIS REST simulator both sit in front of
this same model. The matching rules (refusals, fills, maturing) are :mod:`adapters.sim.exchange`.

Orders fill at once against the ticker's order book (:mod:`adapters.sim.book`: by default one level
at the current price with unlimited depth; a spread and a depth per level when set), a limit order
only at or better than its price, unless a fault says otherwise:

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

A hostile broker (issue 14; the engine's answers are in docs/durability.md):

* ``accept_delay_s``: N - an order is taken but reaches the exchange only N seconds (of the
  account's clock) later: until then it is pending (no fill, not in the order list, no effect on
  cash or holdings) and the caller gets no reply (``reply_lost``); on arrival it is checked like
  any order (an unaffordable one is recorded rejected) and filled;
* ``list_lag_s``: N - the daily order list (:meth:`listed_orders`) hides orders that arrived less
  than N seconds ago (the fills themselves happen at once: holdings and cash move);
* ``clock_skew_s``: N - the broker stamps ``placed_at`` / ``filled_at`` (and so ``ORD_TMD`` and
  ``ord_tmd``) with its clock, which runs N seconds ahead of the account's (negative: behind);
* ``balance_rows_missing``: N - the next N balance reads (KIS simulator) answer success with an
  empty ``output1`` while ``output2`` still shows the securities value.

The file may be a seed: an account's ``cash`` and ``holdings`` (and, optionally, its ``prices``,
``names``, ``cano``...) without the keys the simulator adds as it runs (``orders``, ``next_odno``,
``faults``, ``calls``), as the bundled ``demo_data/demo_account.json`` is. It loads as that account
with no orders yet, the same state :meth:`SimAccount.create` makes of it. A file that is not an
account (not JSON, no cash or holdings, a wrong type, a negative quantity) raises
:class:`SimAccountError`, one line naming the file and what is wrong (a bad-input error, exit 2).
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock

from adapters.sim import book, exchange
from statemachine.errors import DomainError

SimSession = Literal["always-open", "krx"]
SESSIONS: tuple[str, ...] = ("always-open", "krx")
DEMO_DIR = Path(__file__).parent / "demo_data"


#: What the simulator adds to an account as it runs; a seed file gets these (its own keys win).
RUNTIME_DEFAULTS: dict[str, Any] = {
    "cano": "50001234", "product": "01", "alias": "demo", "prices": {}, "names": {}, "orders": [],
    "next_odno": 1, "faults": {}, "calls": {},
}
#: What an account file must give itself (``create`` defaults them to nothing).
SEED_KEYS: tuple[str, ...] = ("cash", "holdings")
SHAPE_HINT = f"see {DEMO_DIR / 'demo_account.json'} for the shape"


class SimAccountError(DomainError):
    """The simulated account file cannot be used: missing, unreadable, not JSON, or not an account."""


def _json_type(v: Any) -> str:
    """The JSON name of a parsed value's type (an object, an array...)."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
             int: "a number", float: "a number"}
    return names.get(type(v), type(v).__name__)


def _shown(v: Any) -> str:
    """A parsed value as JSON, cut short to keep the error on one short line."""
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def account_problem(state: dict[str, Any]) -> str | None:
    """What makes ``state`` (seed keys and runtime defaults merged) not an account, or None."""
    cash = state["cash"]
    if not _number(cash) or cash < 0:
        return f"cash is {_shown(cash)}; it must be a number >= 0"
    holdings = state["holdings"]
    if not isinstance(holdings, dict):
        return f"holdings is {_json_type(holdings)}; it must be an object of ticker: {{\"qty\": N}}"
    for t, h in holdings.items():
        if not isinstance(h, dict):
            return f"holdings[{t!r}] is {_shown(h)}; it must be an object like {{\"qty\": 10}}"
        qty = h.get("qty")
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 0:
            what = "missing" if "qty" not in h else _shown(qty)
            return f"holdings[{t!r}].qty is {what}; it must be a whole number >= 0"
        cost = h.get("avg_cost", 0)
        if not _number(cost) or cost < 0:
            return f"holdings[{t!r}].avg_cost is {_shown(cost)}; it must be a number >= 0"
    for key in ("prices", "names", "faults", "calls"):
        if not isinstance(state[key], dict):
            return f"{key} is {_json_type(state[key])}; it must be an object"
    for t, p in state["prices"].items():
        if not _number(p) or p < 0:
            return f"prices[{t!r}] is {_shown(p)}; it must be a number >= 0"
    for t, n in state["names"].items():
        if not isinstance(n, str):
            return f"names[{t!r}] is {_shown(n)}; it must be a string"
    if not isinstance(state["orders"], list) or not all(isinstance(o, dict) for o in state["orders"]):
        return "orders must be a list of objects"
    odno = state["next_odno"]
    if not isinstance(odno, int) or isinstance(odno, bool) or odno < 1:
        return f"next_odno is {_shown(odno)}; it must be a whole number >= 1"
    for key, digits in (("cano", 8), ("product", 2)):
        v = state[key]
        if not (isinstance(v, str) and len(v) == digits and v.isdigit()):
            return f"{key} is {_shown(v)}; it must be a string of {digits} digits"
    if not isinstance(state["alias"], str):
        return f"alias is {_shown(state['alias'])}; it must be a string"
    rate = state.get("commission_rate", 0)
    if not _number(rate) or rate < 0:
        return f"commission_rate is {_shown(rate)}; it must be a number >= 0"
    return None


def account_state(data: Any, path: str | os.PathLike[str], *, seed_required: bool = True) -> dict[str, Any]:
    """The account ``data`` (parsed from ``path``, or given to :meth:`SimAccount.create`) describes,
    with the runtime keys it lacks added; :class:`SimAccountError` when it is not an account."""
    where = f"simulated account file {path}"
    if not isinstance(data, dict):
        raise SimAccountError(f"{where} is not a valid account: it holds {_json_type(data)}, not an "
                              f"object ({SHAPE_HINT})", field="sim_account_path")
    missing = [k for k in SEED_KEYS if k not in data] if seed_required else []
    if missing:
        raise SimAccountError(f"{where} is not a valid account: it has no {' and no '.join(missing)} "
                              f"({SHAPE_HINT})", field="sim_account_path")
    state: dict[str, Any] = json.loads(json.dumps({**RUNTIME_DEFAULTS, "cash": 0, "holdings": {}}))
    state.update(data)  # taken as it is: the caller gives a dict of its own (freshly parsed or copied)
    problem = account_problem(state)
    if problem:
        raise SimAccountError(f"{where} is not a valid account: {problem} ({SHAPE_HINT})", field="sim_account_path")
    return state


def load_account_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The account in the file at ``path`` (a seed gets the runtime keys: no orders yet), or
    :class:`SimAccountError` saying in one line what is wrong with the file."""
    where = f"simulated account file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SimAccountError(f"{where} does not exist", field="sim_account_path") from None
    except UnicodeDecodeError:
        raise SimAccountError(f"{where} is not valid JSON: it is not UTF-8 text", field="sim_account_path") from None
    except OSError as exc:
        raise SimAccountError(f"{where} cannot be read: {exc.strerror or exc}", field="sim_account_path") from None
    if not text.strip():
        raise SimAccountError(f"{where} is not valid JSON: it is empty ({SHAPE_HINT})", field="sim_account_path")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = f"{exc.msg} at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) \
            else "nested too deeply"
        raise SimAccountError(f"{where} is not valid JSON: {detail}", field="sim_account_path") from None
    return account_state(data, path)


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
            from adapters.clock import SystemClock

            clock = SystemClock().now
        self.clock = clock
        self.session = session

    def market_status(self, at: datetime | None = None) -> tuple[bool, str]:
        """Is the simulated market open at ``at`` (default: the account's clock)? With the reason."""
        if self.session == "always-open":
            return True, "the simulated market is always open"
        from adapters.scheduler.calendar import XKRX

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
            acc._save(account_state(json.loads(json.dumps(data)), acc.path, seed_required=False))
        return acc

    @classmethod
    def demo(cls, path: str | os.PathLike[str], *, overwrite: bool = True,
             clock: Callable[[], datetime] | None = None, session: SimSession = "always-open") -> SimAccount:
        return cls.create(path, json.loads((DEMO_DIR / "demo_account.json").read_text()), overwrite=overwrite,
                          clock=clock, session=session)

    # -- file handling ---------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        return load_account_file(self.path)

    def check(self) -> dict[str, Any]:
        """The account as its file holds it, changing nothing: :class:`SimAccountError` (one line,
        naming the file) when the file is not an account. Brokers call it before a run starts. No lock:
        every write replaces the file whole (:meth:`_save`)."""
        return self._load()

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
            reserved = sum(o["remaining"] for o in s["orders"]
                           if o["ticker"] == t and o["side"] == "sell" and not o.get("pending"))
            out.append({"ticker": t, "name": s["names"].get(t, ""), "quantity": h["qty"],
                        "orderable_quantity": max(0, h["qty"] - reserved), "price": s["prices"].get(t, 0),
                        "avg_cost": h.get("avg_cost", 0.0)})
        return out

    def cash(self) -> int:
        return int(self.read()["cash"])

    def orderable_cash(self) -> int:
        s = self.read()
        return max(0, int(s["cash"]) - exchange.reserved_cash(s))

    def price(self, ticker: str) -> int | None:
        p = self.read()["prices"].get(ticker)
        return int(p) if p else None

    def quote(self, ticker: str) -> dict[str, int] | None:
        """The top of the ticker's book and its day's limits (:func:`adapters.sim.book.quote`)."""
        s = self.read()
        return book.quote(s, ticker) if s["prices"].get(ticker) else None

    def kind(self, ticker: str) -> str:
        """The ticker's tick table (``etf`` by default; ``kinds`` in the state)."""
        return book.kind(self.read(), ticker)

    def set_book(self, ticker: str = "*", *, spread_ticks: int = 0, depth: int = 0) -> None:
        """Give ``ticker``'s book (or every book, ``*``) a spread of ``spread_ticks`` ticks on each side
        of the current price and ``depth`` shares per level (0: unlimited)."""
        def f(s: dict[str, Any]) -> None:
            s.setdefault("book", {})[ticker] = {"spread_ticks": spread_ticks, "depth": depth}
        self.update(f)

    def name(self, ticker: str) -> str:
        return self.read()["names"].get(ticker, "")

    def orders(self) -> list[dict[str, Any]]:
        return self.read()["orders"]

    # -- orders ----------------------------------------------------------------------------------
    def broker_now(self, state: dict[str, Any] | None = None) -> datetime:
        """The broker's own clock: the account's plus the ``clock_skew_s`` fault (may be negative)."""
        faults = (state if state is not None else self.read())["faults"]
        return self.clock() + timedelta(seconds=float(faults.get("clock_skew_s", 0) or 0))

    def place(self, side: str, ticker: str, qty: int, order_type: str = "01", price: int = 0) -> PlaceOutcome:
        """Accept (and fill) an order, or raise SimRejected. ``reply_lost`` says the caller must not
        be told the result (the order still exists, or will once a delayed acceptance arrives)."""
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
            delay = float(faults.get("accept_delay_s", 0) or 0)
            odno = f"{s['next_odno']:010d}"
            order = {"odno": odno, "org_no": "00950", "ticker": ticker, "side": side, "qty": qty,
                     "order_type": order_type, "price": int(price), "filled_qty": 0, "amount": 0, "fees": 0,
                     "remaining": qty, "rejected": 0, "cancelled": 0, "name": s["names"].get(ticker, "")}
            if delay > 0:
                # taken, but it reaches the exchange only later: the caller hears nothing
                s["next_odno"] += 1
                arrive = now + timedelta(seconds=delay)
                order.update(pending=True, arrive_at=arrive.isoformat(),
                             placed_at=(self.broker_now(s) + timedelta(seconds=delay)).isoformat())
                s["orders"].append(order)
                return PlaceOutcome(order=dict(order), reply_lost=True)
            why_not = exchange.refusal(s, side, ticker, qty, order_type, price)
            if why_not:
                raise SimRejected(*why_not)
            s["next_odno"] += 1
            order.update(placed_at=self.broker_now(s).isoformat(), arrived_at=now.isoformat())
            s["orders"].append(order)
            exchange.execute(s, order, lambda: self.broker_now(s))
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

    def _mature(self, s: dict[str, Any]) -> bool:
        """Delayed acceptances arrive and open remainders fill (:func:`exchange.mature`)."""
        return exchange.mature(s, self.clock(), lambda: self.broker_now(s))

    def listed_orders(self) -> list[dict[str, Any]]:
        """The orders the broker's daily order list shows now: arrived, and older than ``list_lag_s``."""
        s = self.read()
        lag = float(s["faults"].get("list_lag_s", 0) or 0)
        now = self.clock()
        out = []
        for o in s["orders"]:
            if o.get("pending"):
                continue
            arrived = o.get("arrived_at")
            if lag > 0 and arrived and now - datetime.fromisoformat(arrived) < timedelta(seconds=lag):
                continue
            out.append(o)
        return out

    # -- summaries for tests and the demo -----------------------------------------------------------
    def positions(self) -> dict[str, int]:
        return {t: h["qty"] for t, h in sorted(self.read()["holdings"].items()) if h["qty"] > 0}

    def accepted_orders(self) -> list[dict[str, Any]]:
        return [o for o in self.orders()]

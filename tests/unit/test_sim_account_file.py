"""The simulated account file as it is loaded (adapters.sim.account): a seed (cash and holdings, as
the bundled demo file is) loads as that account with no orders yet, the same as the demo reset
makes of it, and trades; a file that is not an account is one line naming the file and what is
wrong (a bad-input error, exit 2), raised by the brokers before any run starts, never a KeyError."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from adapters.bootstrap import make_broker
from adapters.clock import make_clock
from adapters.config import Settings
from adapters.kis.bootstrap import make_kis_broker
from adapters.sim.account import DEMO_DIR, SimAccount, SimAccountError
from adapters.sim.broker import SimulatedBroker
from statemachine.errors import DomainError
from statemachine.models import Side
from statemachine.units import KST

AT = datetime(2026, 3, 3, 10, 30, tzinfo=KST)  # a Tuesday in the KRX session (the sim is always open anyway)
SEED = DEMO_DIR / "demo_account.json"


def clock() -> datetime:
    return AT


def seeded(tmp_path: Path) -> Path:
    path = tmp_path / "acct.json"
    shutil.copy(SEED, path)
    return path


def test_the_bundled_demo_file_is_a_seed() -> None:
    """The premise: the demo file has no runtime keys (so the tests below load a seed, not a full state)."""
    data = json.loads(SEED.read_text())
    assert "orders" not in data and "next_odno" not in data and "faults" not in data and "calls" not in data


def test_a_seed_loads_as_the_demo_reset_makes_it(tmp_path: Path) -> None:
    bundled = SEED.read_bytes()
    path = seeded(tmp_path)
    reset = SimAccount.demo(tmp_path / "reset.json", clock=clock)
    acct = SimAccount(path, clock=clock)
    assert acct.read() == reset.read()
    assert acct.orders() == [] and acct.listed_orders() == []
    assert acct.positions() == reset.positions() and acct.cash() == 20_000_000
    assert SEED.read_bytes() == bundled  # the bundled file is never written


def test_a_seed_file_trades_through_the_broker(tmp_path: Path) -> None:
    broker = SimulatedBroker(SimAccount(seeded(tmp_path), clock=clock))
    snap = broker.balance()
    assert snap.cash == 20_000_000 and {h.ticker for h in snap.holdings} >= {"411420", "069500"}
    assert broker.daily_orders(AT.date()) == []
    placed = broker.place_order(Side.BUY, "261240", 10)
    assert placed.odno == "0000000001"
    assert [o.filled_quantity for o in broker.daily_orders(AT.date())] == [10]
    stored = json.loads((tmp_path / "acct.json").read_text())
    assert [o["odno"] for o in stored["orders"]] == ["0000000001"] and stored["next_odno"] == 2
    assert stored["calls"]["balance"] == 1


def test_make_broker_builds_on_a_seed_file(tmp_path: Path) -> None:
    path = seeded(tmp_path)
    broker = make_broker(Settings(broker="sim", sim_account_path=str(path)), make_clock(AT))
    assert broker.balance().cash == 20_000_000


BROKEN = [
    ("not-json", "{\"cash\": 5,\n", "is not valid JSON: Expecting property name enclosed in double quotes at line 2"),
    ("empty", "", "is not valid JSON: it is empty"),
    ("array", "[1, 2]", "is not a valid account: it holds an array, not an object"),
    ("no-holdings", '{"cash": 100}', "is not a valid account: it has no holdings"),
    ("no-cash", '{"holdings": {}}', "is not a valid account: it has no cash"),
    ("neither", '{"prices": {}}', "it has no cash and no holdings"),
    ("cash-string", '{"cash": "lots", "holdings": {}}', 'cash is "lots"; it must be a number >= 0'),
    ("cash-negative", '{"cash": -1, "holdings": {}}', "cash is -1; it must be a number >= 0"),
    ("holdings-array", '{"cash": 1, "holdings": []}', "holdings is an array; it must be an object"),
    ("holding-number", '{"cash": 1, "holdings": {"069500": 5}}', "holdings['069500'] is 5; it must be an object"),
    ("qty-negative", '{"cash": 1, "holdings": {"069500": {"qty": -3}}}',
     "holdings['069500'].qty is -3; it must be a whole number >= 0"),
    ("qty-fraction", '{"cash": 1, "holdings": {"069500": {"qty": 1.5}}}', "holdings['069500'].qty is 1.5"),
    ("qty-missing", '{"cash": 1, "holdings": {"069500": {"avg_cost": 1.0}}}', "holdings['069500'].qty is missing"),
    ("avg-cost-string", '{"cash": 1, "holdings": {"069500": {"qty": 1, "avg_cost": "x"}}}',
     "holdings['069500'].avg_cost is \"x\""),
    ("price-negative", '{"cash": 1, "holdings": {}, "prices": {"069500": -100}}', "prices['069500'] is -100"),
    ("orders-object", '{"cash": 1, "holdings": {}, "orders": {}}', "orders must be a list of objects"),
    ("cano-number", '{"cash": 1, "holdings": {}, "cano": 50001234}', "cano is 50001234; it must be a string of 8"),
    ("cash-nan", '{"cash": NaN, "holdings": {}}', "cash is NaN"),
]


@pytest.mark.parametrize("text,words", [(t, w) for _, t, w in BROKEN], ids=[i for i, _, _ in BROKEN])
def test_a_file_that_is_not_an_account_is_one_line_naming_it(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(SimAccountError) as caught:
        SimAccount(path, clock=clock).read()
    msg = caught.value.message
    assert msg.startswith(f"simulated account file {path} ") and words in msg, msg
    assert "\n" not in msg
    assert isinstance(caught.value, DomainError) and caught.value.exit_code == 2
    assert caught.value.fields == {"field": "sim_account_path"}
    assert path.read_text() == text  # nothing written over it


def test_a_missing_or_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SimAccountError, match=r"simulated account file .*nowhere\.json does not exist$"):
        SimAccount(tmp_path / "nowhere.json", clock=clock).check()
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(SimAccountError, match=r"dir\.json cannot be read: Is a directory$"):
        SimAccount(tmp_path / "dir.json", clock=clock).check()
    (tmp_path / "latin1.json").write_bytes(b'{"cash": 1, "holdings": {}, "alias": "\xe9"}')
    with pytest.raises(SimAccountError, match=r"latin1\.json is not valid JSON: it is not UTF-8 text$"):
        SimAccount(tmp_path / "latin1.json", clock=clock).check()


@pytest.mark.parametrize("broker", ["sim", "kis-sim"])
def test_the_brokers_refuse_a_broken_file_when_built(tmp_path: Path, broker: str) -> None:
    """Before any run starts (the CLI's ``run`` builds the broker before it starts the run)."""
    path = tmp_path / "acct.json"
    path.write_text('{"cash": 1000, "holdings": {"069500": {"qty": -1}}}')
    settings = Settings(broker=broker, sim_account_path=str(path))
    build = make_broker if broker == "sim" else make_kis_broker
    with pytest.raises(SimAccountError, match=r"holdings\['069500'\]\.qty is -1"):
        build(settings, make_clock(AT))

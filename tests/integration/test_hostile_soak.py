"""A randomized soak of the order protocol against a hostile broker (issue 14), within the
assumptions of docs/durability.md: each seeded run combines

* delayed acceptance: a third of the sends reach the exchange up to the send timeout late (the
  client hears nothing);
* a lagging order list: up to the settle window;
* a skewed broker clock: up to 90% of the tolerance, either way;
* lost replies: 30% of the orders placed at once;
* a crash of the runner (half the seeds): at a random order point or checkpoint, at its 1st to
  3rd passage, the runner dies mid-step (in process: an exception no handler of the engine
  catches), and a second runner resumes the run on the same clock.

Every run must end SUCCEEDED with the account of a fault-free run, every intended order placed
exactly once, and every broker order recorded in the database. 20 seeds always (SQLite and
PostgreSQL); 200 behind ``@pytest.mark.slow`` (``pytest --runslow``).
"""

from __future__ import annotations

import random

import pytest

from statemachine.models import Side
from statemachine.settings import EngineSettings
from statemachine.states import RunStatus
from tests.fakes import FakeClock
from tests.integration.hostile import (
    TARGETS,
    HostileBroker,
    assert_every_broker_order_recorded,
    assert_no_duplicates,
    make_engine,
    new_account,
)
from tests.integration.test_hostile_broker import REFERENCE

DEFAULTS = EngineSettings()
CRASH_POINTS = ("order:intent_committed", "order:before_send", "order:accepted_before_record",
                "order:sent_committed", "order:between_polls", "checkpoint")


class Killed(BaseException):
    """The runner dies where it stands (nothing of the engine handles it, as with SIGKILL)."""


class CrashAt:
    def __init__(self, at: str, nth: int) -> None:
        self.at, self.nth, self.seen, self.fired = at, nth, 0, False

    def point(self, name: str) -> None:
        if name == self.at and not self.fired:
            self.seen += 1
            if self.seen == self.nth:
                self.fired = True
                raise Killed(name)


def _one(db, tmp_path, seed: int) -> dict:
    rng = random.Random(seed)
    clock = FakeClock()
    faults = {
        "list_lag_s": rng.uniform(0, DEFAULTS.settle_window_s),
        "clock_skew_s": rng.uniform(-0.9, 0.9) * DEFAULTS.clock_skew_tolerance_s,
        "lose_reply_rate": 0.3,
        "lose_reply_seed": seed,
    }
    account = new_account(tmp_path / f"soak-{seed}.json", clock, **faults)
    delays: list[float] = []

    def maybe_delay(n: int, side: Side, ticker: str) -> None:
        delay = rng.uniform(0.5, DEFAULTS.send_timeout_s) if rng.random() < 1 / 3 else 0.0
        delays.append(delay)
        account.set_faults(accept_delay_s=delay)

    alias = f"soak-{seed}"  # one account per seed: broker order numbers restart with each
    broker = HostileBroker(account, clock, send_timeout_s=DEFAULTS.send_timeout_s, before_send=maybe_delay,
                           alias=alias)
    crash = CrashAt(rng.choice(CRASH_POINTS), rng.randint(1, 3)) if seed % 2 else None
    eng = make_engine(db, broker, clock, owner=alias, hooks=crash)
    run_id = eng.start(account=alias, targets=TARGETS).id
    try:
        run = eng.run(run_id)
    except Killed:
        clock.advance(1)
        run = make_engine(db, broker, clock, owner=f"{alias}-b").resume(run_id)
    assert run.status is RunStatus.SUCCEEDED, (seed, faults, crash and crash.at, run.error, run.blocked_reason)
    log = assert_every_broker_order_recorded(db, run.id, account, clock)
    assert_no_duplicates(log)
    assert account.positions() == REFERENCE, seed
    return {"delayed": sum(1 for d in delays if d > 0), "sends": broker.sends, "orders": len(log),
            "crashed": int(bool(crash and crash.fired))}


def _soak(db, tmp_path, seeds: range) -> None:
    delayed = sends = orders = crashed = 0
    for seed in seeds:
        got = _one(db, tmp_path, seed)
        delayed += got["delayed"]
        sends += got["sends"]
        orders += got["orders"]
        crashed += got["crashed"]
    assert sends == orders  # nothing was ever sent twice, crashes or not
    assert delayed > len(seeds)  # the faults really happened
    assert crashed >= len(seeds) // 4  # and so did the crashes


@pytest.mark.timeout(900)
def test_hostile_soak_20(db, tmp_path):
    _soak(db, tmp_path, range(20))


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_hostile_soak_200(db, tmp_path):
    _soak(db, tmp_path, range(1000, 1200))

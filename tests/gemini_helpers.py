"""Shared pieces of the Gemini tests and the cassette recorder (no conftest: the lead owns it).

* :data:`FAKE_KEY` - the key used when recording against the fake server; shaped like a real
  Google key so the cassette scan (``AIza`` + 35 characters) would catch a leak of it.
* :func:`gemini_vcr` - the vcrpy configuration: headers and query keys scrubbed, bodies
  decompressed and scrubbed, matching on method and path only (the fake server's port changes on
  every recording; replay points the client at a closed loopback port so nothing can leak out).
* :func:`demo_context` - the planning context of the demo account for a side.
* :func:`engine_for` - an Engine over the in-memory store and the simulated demo account.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import vcr
from google import genai

from adapters.clock import SystemClock
from adapters.gemini.planner import GeminiPlanner, GeminiSettings, make_client
from adapters.memory import MemoryStore
from adapters.planners import PlannerSettings, planner_factory
from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.drift import drift_report
from statemachine.engine import Engine
from statemachine.models import Plan, PlanningContext, Side, Snapshot, Targets, Thresholds
from statemachine.planner_greedy import GreedyPlanner
from statemachine.ports import Planner, PlannerFactory
from statemachine.projection import apply_plan
from statemachine.settings import EngineSettings

FAKE_KEY = "AIzaSyFAKE-recording-key-00000000000000"  # never a real key; shaped like one
assert re.fullmatch(r"AIza[0-9A-Za-z_-]{35}", FAKE_KEY)
API_KEY_PATTERN = re.compile(r"AIza[0-9A-Za-z_-]{35}")
CASSETTES = Path(__file__).parent / "cassettes"
GEMINI_CASSETTES = CASSETTES / "gemini"
REPLAY_BASE_URL = "http://127.0.0.1:9"  # discard port: a request that escapes vcrpy goes nowhere
SECRET_HEADERS = ["x-goog-api-key", "authorization", "appkey", "appsecret", "x-goog-user-project"]


def _scrub_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    for s in (FAKE_KEY, *secrets):
        if s:
            text = text.replace(s, "REDACTED")
    return API_KEY_PATTERN.sub("REDACTED", text)


def _scrubbers(secrets: tuple[str, ...]) -> tuple[Callable[[Any], Any], Callable[[dict[str, Any]], dict[str, Any]]]:
    """vcrpy hooks removing ``secrets`` (the recording key: exact text, whatever its shape) and
    anything key-shaped from request and response bodies, and the secret headers from responses."""

    def request(req: Any) -> Any:
        if req.body:
            body = req.body.decode() if isinstance(req.body, bytes) else req.body
            req.body = _scrub_text(body, secrets).encode()
        return req

    def response(resp: dict[str, Any]) -> dict[str, Any]:
        body = resp.get("body", {}).get("string")
        if body:
            text = body.decode() if isinstance(body, bytes) else body
            resp["body"]["string"] = _scrub_text(text, secrets).encode()
        for name in list(resp.get("headers", {})):
            if name.lower() in SECRET_HEADERS:
                del resp["headers"][name]
        return resp

    return request, response


def gemini_vcr(record_mode: str = "none", library: Path = GEMINI_CASSETTES, secrets: tuple[str, ...] = ()) -> vcr.VCR:
    """``secrets``: more exact texts to scrub when recording (the real key of a live recording)."""
    scrub_request, scrub_response = _scrubbers(secrets)
    return vcr.VCR(
        cassette_library_dir=str(library),
        record_mode=record_mode,
        match_on=["method", "path"],
        filter_headers=SECRET_HEADERS,
        filter_query_parameters=["key"],
        decode_compressed_response=True,
        before_record_request=scrub_request,
        before_record_response=scrub_response,
    )


def fast_settings(**overrides: Any) -> GeminiSettings:
    """Settings for tests: a short timeout and no real waiting between transport retries."""
    values: dict[str, Any] = {"timeout_ms": 5_000, "retry_attempts": 3, "retry_initial_delay_s": 2.0,
                              "retry_max_delay_s": 30.0}
    values.update(overrides)
    return GeminiSettings(**values)


def replay_client(settings: GeminiSettings | None = None) -> genai.Client:
    s = settings or fast_settings()
    return make_client(FAKE_KEY, base_url=REPLAY_BASE_URL, timeout_ms=s.timeout_ms, api_version=s.api_version)


class Sleeps(list):
    """A ``sleep`` that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def gemini_planner(client: genai.Client | None = None, settings: GeminiSettings | None = None,
                   sleep: Callable[[float], None] | None = None) -> GeminiPlanner:
    s = settings or fast_settings()
    return GeminiPlanner(client or replay_client(s), s, sleep=sleep if sleep is not None else Sleeps())


# ------------------------------------------------------------------------------ the demo account
def demo_targets() -> Targets:
    return Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))


def demo_snapshot(tmp: Path) -> Snapshot:
    broker = SimulatedBroker(SimAccount.demo(tmp / "ctx_acct.json"))
    snap = broker.balance()
    missing = [t for t in demo_targets().tickers() if snap.price(t) is None]
    return snap.model_copy(update={"prices": broker.prices(missing)})


def demo_context(tmp: Path, side: Side = Side.SELL) -> PlanningContext:
    """The demo account's context; for buys, after the greedy sells at snapshot prices."""
    targets, thresholds, es = demo_targets(), Thresholds(), EngineSettings()
    snap = demo_snapshot(tmp)
    sell = PlanningContext(side=Side.SELL, snapshot=snap, targets=targets, thresholds=thresholds,
                           drift=drift_report(snap, targets, thresholds))
    if side is Side.SELL:
        return sell
    sells = GreedyPlanner(es.fees).plan(sell)
    after, _ = apply_plan(snap, Side.SELL, sells.orders, es.fees, targets.names)
    return PlanningContext(side=Side.BUY, snapshot=after, targets=targets, thresholds=thresholds,
                           drift=drift_report(after, targets, thresholds), orderable_cash=after.cash,
                           cash_buffer=es.cash_buffer(after.cash),
                           sold_tickers=[o.ticker for o in sells.orders])


def plan_json(plan: Plan, **changes: int) -> str:
    """The seed's JSON for ``plan``; ``changes`` overrides quantities by ticker (to make bad plans)."""
    key = "sell_orders" if plan.side is Side.SELL else "buy_orders"
    rows = [{"ticker": o.ticker, "name": o.name, "quantity": changes.get(o.ticker, o.quantity),
             "reason": o.reason} for o in plan.orders]
    return json.dumps({key: rows}, ensure_ascii=False)


# ------------------------------------------------------------------------------ the engine
def engine_for(tmp: Path, planners: PlannerFactory,
               **settings: Any) -> tuple[Engine, MemoryStore, SimAccount]:
    account = SimAccount.demo(tmp / "acct.json")
    store = MemoryStore()
    es = EngineSettings(fill_poll_s=0.01, fill_timeout_s=5, **settings)
    engine = Engine(store.unit_of_work, SimulatedBroker(account), planners, SystemClock(), es)
    return engine, store, account


def greedy_engine_plans(tmp: Path) -> dict[Side, Plan]:
    """The plans the greedy planner makes when the engine runs on the demo account (all pass R1-R5)."""
    engine, store, _ = engine_for(tmp / "greedy", lambda name: GreedyPlanner())
    run = engine.run(engine.start(account="demo", targets=demo_targets(), planner="greedy").id)
    assert run.status.value == "SUCCEEDED", run
    with store.unit_of_work() as uow:
        attempts = uow.plan_attempts(run.id)
    return {a.side: a.plan for a in attempts if a.plan is not None and a.passed}


def engine_planners(client: genai.Client, settings: GeminiSettings, optimal_stand_in: bool = False,
                    sleep: Callable[[float], None] | None = None) -> PlannerFactory:
    """The engine's planner factory over ``client``; ``optimal_stand_in`` answers "optimal" with the
    greedy planner (statemachine.planner_optimal is being written elsewhere)."""
    factory = planner_factory(PlannerSettings(engine=EngineSettings(), gemini=settings), client=client,
                              sleep=sleep if sleep is not None else Sleeps())

    def planners(name: str) -> Planner:
        if name == "optimal" and optimal_stand_in:
            return GreedyPlanner()
        return factory(name)
    return planners

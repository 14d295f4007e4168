"""Re-record the Gemini cassettes under tests/cassettes/gemini against the local fake server.

    .venv/bin/python tests/record_gemini_cassettes.py            # every scenario, fake server
    .venv/bin/python tests/record_gemini_cassettes.py valid_plan # one scenario
    GOOGLE_API_KEY=... .venv/bin/python tests/record_gemini_cassettes.py --real
                                           # the real API; writes tests/cassettes/gemini_real/

The fake server is as strict as the live API about the request (tests/fake_gemini.py); a scenario
whose request it rejects stops the recording. Each scenario scripts the fake server's replies, then
runs the real code path (the planner, or the whole engine over the simulated demo account) inside a
vcrpy cassette in record mode "all". The good plans are the greedy planner's plans for the same
account, so they pass R1-R5; the bad ones are derived from them (a quantity cut so R2 fails, prose
around the JSON, a string quantity, an unknown ticker). With ``--real`` only the scenarios a real
model can answer are recorded (a plan for each side, and the engine run); errors such as 429 or 503
cannot be provoked on demand, so those cassettes stay the fake server's. See docs/gemini.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.gemini.planner import GeminiSettings, make_client  # noqa: E402
from adapters.planners import api_key_from_env  # noqa: E402
from statemachine.errors import PlanningError  # noqa: E402
from statemachine.models import Side  # noqa: E402
from statemachine.planner_greedy import GreedyPlanner  # noqa: E402
from statemachine.rules import check_plan, failures  # noqa: E402
from statemachine.settings import EngineSettings  # noqa: E402
from tests.fake_gemini import FakeGemini, Step, error, reply  # noqa: E402
from tests.gemini_helpers import (  # noqa: E402
    CASSETTES,
    FAKE_KEY,
    GEMINI_CASSETTES,
    demo_context,
    demo_targets,
    engine_for,
    engine_planners,
    fast_settings,
    gemini_planner,
    gemini_vcr,
    greedy_engine_plans,
    plan_json,
)

BAD_R2 = {"411420": 600}  # sells 600 of the 1,286 shares the target needs: R2 fails on 411420


def bad_replies(good_sell: str, sell_plan: object) -> list[str]:
    """Three bad sell replies: prose around the JSON, an R2 failure, an unknown ticker."""
    unknown = json.loads(good_sell)
    unknown["sell_orders"].append({"ticker": "005930", "name": "Samsung Electronics", "quantity": 10,
                                   "reason": "not in the account"})
    return [f"Here is the sell plan:\n```json\n{good_sell}\n```", plan_json(sell_plan, **BAD_R2),  # type: ignore[arg-type]
            json.dumps(unknown, ensure_ascii=False)]


def scenarios(tmp: Path, sleep: Callable[[float], None] | None = None,
              ) -> dict[str, tuple[list[Step], Callable[[object, GeminiSettings], None]]]:
    """Scenario name -> (the fake server's script, the code to run). ``sleep`` is the planner's
    backoff (None: record the delays without waiting, as against the fake server)."""
    sell_ctx = demo_context(tmp, Side.SELL)
    good = GreedyPlanner().plan(sell_ctx)
    good_json = plan_json(good)
    engine_plans = greedy_engine_plans(tmp)
    e_sell, e_buy = plan_json(engine_plans[Side.SELL]), plan_json(engine_plans[Side.BUY])
    string_qty = json.loads(good_json)
    string_qty["sell_orders"][0]["quantity"] = str(string_qty["sell_orders"][0]["quantity"])

    def one_plan(client: object, s: GeminiSettings) -> None:
        try:
            gemini_planner(client, s, sleep).plan(sell_ctx)  # type: ignore[arg-type]
        except PlanningError as exc:
            print("   planning error:", exc.message)

    def r2_retry(client: object, s: GeminiSettings) -> None:
        p = gemini_planner(client, s, sleep)  # type: ignore[arg-type]
        first = p.plan(sell_ctx)
        bad = failures(check_plan(sell_ctx, first, EngineSettings().fees))
        assert [c.rule for c in bad] == ["R2"], bad
        p.plan(sell_ctx.model_copy(update={"attempt": 2, "previous_plan": first, "previous_failures": bad}))

    def engine_run(on_llm_failure: str, stand_in: bool) -> Callable[[object, GeminiSettings], None]:
        def run(client: object, s: GeminiSettings) -> None:
            d = Path(tempfile.mkdtemp(dir=tmp))
            planners = engine_planners(client, s, stand_in, sleep)  # type: ignore[arg-type]
            engine, _, _ = engine_for(d, planners, on_llm_failure=on_llm_failure)
            out = engine.run(engine.start(account="demo", targets=demo_targets(), planner="auto").id)
            print("   run", out.status.value, out.state.value, out.error or "")
        return run

    bad = bad_replies(e_sell, engine_plans[Side.SELL])
    return {
        "valid_plan": ([reply(good_json)], one_plan),
        "invalid_json": ([reply(f"Sure! Here is the plan:\n```json\n{good_json}\n```\nLet me know.")],
                         one_plan),
        "schema_mismatch": ([reply(json.dumps(string_qty, ensure_ascii=False))], one_plan),
        "r2_retry": ([reply(plan_json(good, **BAD_R2)), reply(good_json)], r2_retry),
        "rate_limit": ([error(429), reply(good_json)], one_plan),
        "unavailable_3x": ([error(503), error(503), error(503)], one_plan),
        "timeout": ([error(504), error(504), error(504)], one_plan),
        "engine_retry_then_execute": ([reply(plan_json(engine_plans[Side.SELL], **BAD_R2)), reply(e_sell),
                                       reply(e_buy)], engine_run("fail", False)),
        "engine_three_bad": ([reply(r) for r in bad], engine_run("fail", False)),
        "engine_handover": ([*(reply(r) for r in bad), reply(e_buy)], engine_run("optimal", True)),
    }


REAL = ("valid_plan", "engine_retry_then_execute")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="scenarios to record (default: all)")
    ap.add_argument("--real", action="store_true", help="record against the real Gemini API (needs a key)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table = scenarios(Path(tmp), time.sleep if args.real else None)
        names = args.names or (list(REAL) if args.real else list(table))
        unknown = [n for n in names if n not in table]
        if unknown:
            ap.error(f"unknown scenario(s) {unknown}; known: {', '.join(table)}")
        if args.real:
            source, key = api_key_from_env(os.environ)
            if not key:
                ap.error("--real needs GOOGLE_API_KEY or GEMINI_API_KEY")
            settings = GeminiSettings()  # REBALANCE_GEMINI_* as set (model id, v1beta, production deadlines)
            library = CASSETTES / "gemini_real"
            client = make_client(key, timeout_ms=settings.timeout_ms, api_version=settings.api_version)
            print(f"recording against the real API with the key from {source}, model {settings.model}")
            for name in names:
                print("-", name)
                with gemini_vcr("all", library, secrets=(key,)).use_cassette(f"{name}.yaml"):
                    table[name][1](client, settings)
                path = library / f"{name}.yaml"
                if path.exists() and key in path.read_text(errors="replace"):  # never keep a cassette with the key
                    path.unlink()
                    print(f"   error: {path} held the key after scrubbing; deleted it")
                    return 1
            return 0
        settings = fast_settings()
        for name in names:
            steps, run = table[name]
            print("-", name)
            with FakeGemini() as fake:
                fake.script(*steps)
                client = make_client(FAKE_KEY, base_url=fake.base_url, timeout_ms=settings.timeout_ms,
                                     api_version=settings.api_version)
                with gemini_vcr("all", GEMINI_CASSETTES).use_cassette(f"{name}.yaml"):
                    run(client, settings)
                left = len(fake.steps)
                if left:
                    print(f"   warning: {left} scripted step(s) not used")
                if fake.rejected:  # the strict stand-in answered 400 as the live API would: never keep that
                    print(f"   error: the stand-in rejected the request: {fake.rejected[0]['error']['message']}")
                    return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Planner choice: names, the API key's precedence, the lazily imported optimal planner."""

from __future__ import annotations

import sys
import types as pytypes
from pathlib import Path

import pytest

from adapters.gemini.planner import GeminiPlanner, GeminiSettings
from adapters.planners import PlannerSettings, UnavailablePlanner, api_key_from_env, planner_factory
from statemachine.errors import PlanningError
from statemachine.fees import FeeModel
from statemachine.models import Plan, PlanningContext, Side
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import EngineSettings
from tests.gemini_helpers import FAKE_KEY, demo_context

OTHER_KEY = "AIza" + "G" * 35


@pytest.fixture
def no_optimal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "statemachine.planner_optimal", None)  # import raises ImportError


@pytest.fixture
def fake_optimal(monkeypatch: pytest.MonkeyPatch) -> type:
    class OptimalPlanner:
        name = "optimal"

        def __init__(self, fees: FeeModel) -> None:
            self.fees = fees

        def plan(self, ctx: PlanningContext) -> Plan:
            return Plan(side=ctx.side, orders=[], planner=self.name)

    module = pytypes.ModuleType("statemachine.planner_optimal")
    module.OptimalPlanner = OptimalPlanner  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "statemachine.planner_optimal", module)
    return OptimalPlanner


def settings(env: dict[str, str]) -> PlannerSettings:
    return PlannerSettings.from_env(env, gemini=GeminiSettings(timeout_ms=1000))


@pytest.mark.parametrize("env,expected", [
    ({"GOOGLE_API_KEY": FAKE_KEY, "GEMINI_API_KEY": OTHER_KEY}, ("GOOGLE_API_KEY", FAKE_KEY)),
    ({"GEMINI_API_KEY": OTHER_KEY}, ("GEMINI_API_KEY", OTHER_KEY)),
    ({"GOOGLE_API_KEY": "  ", "GEMINI_API_KEY": OTHER_KEY}, ("GEMINI_API_KEY", OTHER_KEY)),
    ({}, (None, None)),
])
def test_google_api_key_wins_over_gemini_api_key(env: dict[str, str], expected: tuple) -> None:
    assert api_key_from_env(env) == expected


def test_auto_is_gemini_when_a_key_is_configured() -> None:
    planner = planner_factory(settings({"GEMINI_API_KEY": FAKE_KEY}))("auto")
    assert isinstance(planner, GeminiPlanner) and planner.name == "gemini"
    assert planner.settings.timeout_ms == 1000


def test_auto_is_optimal_without_a_key(fake_optimal: type) -> None:
    planner = planner_factory(settings({}))("auto")
    assert isinstance(planner, fake_optimal) and planner.name == "optimal"
    assert planner.fees == EngineSettings().fees  # only the arguments its constructor takes


def test_a_missing_optimal_planner_fails_each_attempt_with_the_reason(no_optimal: None,
                                                                      tmp_path: Path) -> None:
    planner = planner_factory(settings({}))("auto")
    assert isinstance(planner, UnavailablePlanner) and planner.name == "optimal"
    with pytest.raises(PlanningError, match="optimal planner not available"):
        planner.plan(demo_context(tmp_path, Side.SELL))
    assert planner_factory(settings({}))("optimal").name == "optimal"


def test_gemini_without_a_key_fails_each_attempt_with_the_reason(tmp_path: Path) -> None:
    planner = planner_factory(settings({}))("gemini")
    assert planner.name == "gemini"
    with pytest.raises(PlanningError, match="needs an API key: set GOOGLE_API_KEY or GEMINI_API_KEY"):
        planner.plan(demo_context(tmp_path, Side.SELL))


def test_greedy_and_unknown_names() -> None:
    factory = planner_factory(settings({}))
    assert isinstance(factory("greedy"), GreedyPlanner)
    with pytest.raises(ValueError, match="unknown planner 'llm'"):
        factory("llm")


def test_one_client_is_built_and_shared() -> None:
    factory = planner_factory(settings({"GOOGLE_API_KEY": FAKE_KEY}))
    a, b = factory("gemini"), factory("auto")
    assert isinstance(a, GeminiPlanner) and isinstance(b, GeminiPlanner) and a.client is b.client
    assert a.client._api_client._http_options.api_version == "v1beta"


def test_the_applications_settings_object_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    class AppSettings:  # the composition root's Settings: engine knobs behind engine_settings()
        def engine_settings(self) -> EngineSettings:
            return EngineSettings(fees=FeeModel(commission_rate=0.001), sell_untargeted=False)

    monkeypatch.setenv("GOOGLE_API_KEY", FAKE_KEY)
    monkeypatch.setenv("REBALANCE_GEMINI_MODEL", "gemini-3.1-pro-preview-custom")
    factory = planner_factory(AppSettings())
    greedy = factory("greedy")
    assert isinstance(greedy, GreedyPlanner) and greedy.fees.commission_rate == 0.001
    assert greedy.sell_untargeted is False
    gemini = factory("auto")
    assert isinstance(gemini, GeminiPlanner) and gemini.settings.model == "gemini-3.1-pro-preview-custom"


def test_the_key_never_shows_in_settings() -> None:
    s = settings({"GOOGLE_API_KEY": FAKE_KEY})
    assert s.api_key_source == "GOOGLE_API_KEY"
    for text in (repr(s), str(s), s.model_dump_json()):
        assert FAKE_KEY not in text

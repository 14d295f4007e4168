"""Planner choice: resolves the names a run may ask for to Planner objects.

* ``gemini``  - :class:`adapters.gemini.planner.GeminiPlanner` (needs an API key);
* ``greedy``  - :class:`statemachine.planner_greedy.GreedyPlanner`;
* ``optimal`` - ``statemachine.planner_optimal.OptimalPlanner``, imported lazily; when that module
  is missing the planner returned says so on every attempt ("optimal planner not available"),
  so the run records the reason instead of crashing;
* ``auto``    - Gemini when a key is configured (``GOOGLE_API_KEY`` wins over ``GEMINI_API_KEY``,
  as in the SDK; read by :mod:`adapters.config`, never here), otherwise optimal. The object
  returned is the real planner, so the run records the name of the one it used.

The Gemini client is built once, lazily, by :func:`adapters.gemini.planner.make_client`.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from google import genai
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from adapters.config import GEMINI_KEY_VARIABLES, GeminiSettings, Settings, api_key_from_env
from adapters.gemini.planner import GeminiPlanner, make_client
from statemachine.errors import PlanningError
from statemachine.models import Plan, PlanningContext
from statemachine.planner_greedy import GreedyPlanner
from statemachine.ports import Clock, Planner
from statemachine.settings import EngineSettings

NAMES = ("auto", "gemini", "greedy", "optimal")
KEY_VARIABLES = GEMINI_KEY_VARIABLES  # first one set wins
__all__ = ["NAMES", "KEY_VARIABLES", "PlannerSettings", "UnavailablePlanner", "api_key_from_env", "optimal_planner",
           "planner_factory"]


class PlannerSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    engine: EngineSettings = Field(default_factory=EngineSettings)
    gemini: GeminiSettings = Field(default_factory=GeminiSettings)
    api_key: SecretStr | None = None
    api_key_source: str | None = None  # the variable the key came from (never the key)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, engine: EngineSettings | None = None,
                 gemini: GeminiSettings | None = None) -> PlannerSettings:
        """For callers without a :class:`Settings` (tests, tools): the key from ``environ``."""
        name, key = api_key_from_env(environ)
        return cls(engine=engine or EngineSettings(), gemini=gemini or GeminiSettings(),
                   api_key=SecretStr(key) if key else None, api_key_source=name)

    @classmethod
    def from_settings(cls, settings: Settings) -> PlannerSettings:
        """The parts of the application's settings, as they were read at the entry point."""
        name, key = settings.gemini_api_key()
        return cls(engine=settings.engine(), gemini=settings.gemini(), api_key=key, api_key_source=name)


class UnavailablePlanner:
    """Stands in for a planner whose module is missing: every attempt fails with the reason."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        self.last_meta: dict[str, Any] = {"planner": name, "error": reason}

    def plan(self, ctx: PlanningContext) -> Plan:
        raise PlanningError(self.reason, planner=self.name)


class HasEngineSettings(Protocol):
    def engine_settings(self) -> EngineSettings: ...


AnySettings = PlannerSettings | Settings | EngineSettings | HasEngineSettings


def _coerce(settings: AnySettings) -> PlannerSettings:
    """Accept our own settings, the application's, the engine's alone, or anything with
    ``engine_settings()`` (the key and the Gemini part then read from the environment)."""
    if isinstance(settings, PlannerSettings):
        return settings
    if isinstance(settings, Settings):
        return PlannerSettings.from_settings(settings)
    if isinstance(settings, EngineSettings):
        return PlannerSettings.from_env(engine=settings)
    return PlannerSettings.from_env(engine=settings.engine_settings())


def optimal_planner(engine: EngineSettings) -> Planner:
    try:
        module = importlib.import_module("statemachine.planner_optimal")
        cls = module.OptimalPlanner
    except (ImportError, AttributeError):
        return UnavailablePlanner("optimal", "optimal planner not available "
                                  "(statemachine.planner_optimal.OptimalPlanner is not installed)")
    offered = {"fees": engine.fees, "sell_untargeted": engine.sell_untargeted}
    params = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in offered.items() if k in params})


def planner_factory(settings: AnySettings, *, client: genai.Client | None = None, clock: Clock | None = None,
                    sleep: Callable[[float], None] | None = None) -> Callable[[str], Planner]:
    """``factory(name) -> Planner`` for the engine. ``client`` overrides the one built from the key;
    ``clock`` measures the Gemini deadlines (default the system clock); ``sleep`` is the Gemini
    planner's backoff wait (default ``clock.sleep``)."""
    ps = _coerce(settings)
    lock = threading.Lock()
    built: dict[str, genai.Client] = {}

    def gemini_client() -> genai.Client | None:
        if client is not None:
            return client
        if ps.api_key is None:
            return None
        with lock:
            if "client" not in built:
                g = ps.gemini
                built["client"] = make_client(ps.api_key, base_url=g.base_url, timeout_ms=g.timeout_ms,
                                              api_version=g.api_version)
            return built["client"]

    def factory(name: str) -> Planner:
        if name == "auto":
            name = "gemini" if (client is not None or ps.api_key is not None) else "optimal"
        if name == "gemini":
            c = gemini_client()
            if c is None:
                return UnavailablePlanner("gemini", "the gemini planner needs an API key: set GOOGLE_API_KEY "
                                          "or GEMINI_API_KEY")
            return GeminiPlanner(c, ps.gemini, ps.engine.fees, clock=clock, sleep=sleep)
        if name == "greedy":
            return GreedyPlanner(ps.engine.fees, sell_untargeted=ps.engine.sell_untargeted)
        if name == "optimal":
            return optimal_planner(ps.engine)
        raise ValueError(f"unknown planner {name!r} (choose one of {', '.join(NAMES)})")

    return factory

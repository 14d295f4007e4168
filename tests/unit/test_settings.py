"""adapters.config.Settings reads the whole environment once, at construction (the entry point);
the engine, Gemini and KIS parts come from that one reading, under the variable names of before."""

from __future__ import annotations

import pytest

from adapters.config import Settings
from adapters.planners import PlannerSettings


def test_every_part_is_read_once_with_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REBALANCE_FILL_TIMEOUT_S", "12.5")
    monkeypatch.setenv("REBALANCE_GEMINI_MODEL", "model-a")
    monkeypatch.setenv("REBALANCE_GEMINI_RETRY_ATTEMPTS", "5")
    monkeypatch.setenv("REBALANCE_KIS_APPKEY", "key-a")
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key")
    monkeypatch.setenv("REBALANCE_API_TOKEN", "t" * 20)
    s = Settings()
    for name in ("REBALANCE_FILL_TIMEOUT_S", "REBALANCE_GEMINI_MODEL", "REBALANCE_KIS_APPKEY", "GEMINI_API_KEY"):
        monkeypatch.setenv(name, "changed")  # later changes are not seen: the reading was once
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")
    assert s.engine().fill_timeout_s == 12.5 == s.engine_settings().fill_timeout_s
    assert s.gemini().model == "model-a" and s.gemini().retry_policy().attempts == 5
    kis_key = s.kis().appkey
    assert kis_key is not None and kis_key.get_secret_value() == "key-a"
    source, key = s.gemini_api_key()
    assert source == "GEMINI_API_KEY" and key is not None and key.get_secret_value() == "gemini-key"
    assert s.api_token is not None and s.api_token.get_secret_value() == "t" * 20
    ps = PlannerSettings.from_settings(s)
    assert ps.api_key_source == "GEMINI_API_KEY" and ps.gemini.model == "model-a"
    assert ps.engine.fill_timeout_s == 12.5


def test_google_key_wins_and_none_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "g")
    monkeypatch.setenv("GEMINI_API_KEY", "m")
    assert Settings().gemini_api_key()[0] == "GOOGLE_API_KEY"
    monkeypatch.delenv("GOOGLE_API_KEY")
    monkeypatch.delenv("GEMINI_API_KEY")
    assert Settings().gemini_api_key() == (None, None)

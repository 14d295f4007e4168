"""Cassettes recorded against the live API (tests/cassettes/gemini_real, see docs/gemini.md,
"Recording one cassette against the live API"), replayed when present, and the recorded requests
checked against the strict stand-in's rules.

* every request the live API answered 200 must pass the stand-in's checks (else the stand-in is
  stricter than the API and must be corrected), and every 400 INVALID_ARGUMENT must fail them;
* the recorded reply must become a plan or a failed attempt with a reason, never a crash, with its
  tokens and estimated price recorded.

Without a live cassette the replay is skipped with the reason; the fake server's cassettes are
checked the same way (their requests must pass the strict stand-in, which answered them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from statemachine.errors import PlanningError
from statemachine.models import Side
from tests.fake_gemini import request_violations
from tests.gemini_helpers import CASSETTES, GEMINI_CASSETTES, demo_context, fast_settings, gemini_planner, gemini_vcr

REAL = CASSETTES / "gemini_real"
LIVE = REAL / "valid_plan.yaml"
NO_LIVE = (f"no cassette recorded against the live API ({LIVE.relative_to(CASSETTES.parent.parent)} is absent); "
           "record one with a real key as docs/gemini.md says ('Recording one cassette against the live API')")


def interactions(path: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text())["interactions"])


def generate_calls(path: Path) -> list[tuple[str, dict[str, Any], int]]:
    """(path, request body, response status) of every generateContent call in a cassette."""
    out = []
    for row in interactions(path):
        uri = row["request"]["uri"]
        if ":generateContent" in uri:
            body = row["request"]["body"]
            out.append((uri, json.loads(body) if body else {}, int(row["response"]["status"]["code"])))
    return out


def test_every_recorded_request_of_the_fake_server_passes_the_strict_stand_in() -> None:
    paths = sorted(GEMINI_CASSETTES.glob("*.yaml"))
    assert paths
    for path in paths:
        for uri, body, _ in generate_calls(path):
            assert request_violations(body) == [], (path.name, uri)
            gen = body["generationConfig"]
            assert "responseJsonSchema" in gen and "responseSchema" not in gen, path.name


@pytest.mark.skipif(not LIVE.exists(), reason=NO_LIVE)
def test_the_stand_ins_rules_agree_with_the_live_api() -> None:
    for path in sorted(REAL.glob("*.yaml")):
        for uri, body, status in generate_calls(path):
            found = request_violations(body)
            if status == 200:
                assert found == [], f"{path.name}: the live API accepted what the stand-in rejects: {found}"
            elif status == 400:
                assert found, f"{path.name}: the live API answered 400 to a request the stand-in accepts ({uri})"


@pytest.mark.skipif(not LIVE.exists(), reason=NO_LIVE)
def test_a_live_sell_reply_is_a_plan_or_a_recorded_failure(tmp_path: Path) -> None:
    (uri, _, _), *_ = generate_calls(LIVE)
    model = uri.split("/models/", 1)[1].split(":", 1)[0]  # replay with the model the user recorded
    version = uri.split("/models/", 1)[0].rsplit("/", 1)[1]
    planner = gemini_planner(settings=fast_settings(model=model, api_version=version))
    with gemini_vcr("none", REAL).use_cassette(LIVE.name):
        try:
            plan = planner.plan(demo_context(tmp_path, Side.SELL))
        except PlanningError as exc:
            assert exc.message and planner.last_meta["error"] == exc.message
            meta = planner.last_meta
        else:
            meta = plan.meta
    assert meta["model"] == model
    if meta["usage"]:
        assert meta["cost"]["total_tokens"] > 0 and meta["cost"]["model"] == model

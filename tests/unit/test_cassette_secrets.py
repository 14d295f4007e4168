"""No cassette may hold an API key: the recording key, or anything shaped like a Google key."""

from __future__ import annotations

import re

import yaml

from tests.gemini_helpers import API_KEY_PATTERN, CASSETTES, FAKE_KEY, GEMINI_CASSETTES, SECRET_HEADERS


def test_the_gemini_cassettes_exist() -> None:
    names = {p.stem for p in GEMINI_CASSETTES.glob("*.yaml")}
    assert {"valid_plan", "invalid_json", "schema_mismatch", "r2_retry", "rate_limit", "unavailable_3x",
            "timeout", "engine_retry_then_execute", "engine_three_bad", "engine_handover"} <= names


def test_no_cassette_holds_a_key() -> None:
    files = [p for p in CASSETTES.rglob("*") if p.is_file()]
    assert files
    for path in files:
        text = path.read_text(errors="replace")
        assert FAKE_KEY not in text, path
        assert not API_KEY_PATTERN.search(text), path
        assert not re.search(r"[?&]key=", text), path


def test_no_cassette_holds_a_secret_header() -> None:
    for path in CASSETTES.rglob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        for row in data["interactions"]:
            for part in (row["request"], row["response"]):
                names = {h.lower() for h in part.get("headers", {})}
                assert not names & set(SECRET_HEADERS), (path, names & set(SECRET_HEADERS))

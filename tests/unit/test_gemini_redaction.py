"""Redaction happens on the whole text before anything is cut from it, so a key cut at a
truncation boundary (the 80-character quote of a non-JSON reply, the meta cap) cannot leak a
prefix. These cases failed when the quote was cut first and redacted afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.gemini.planner import make_client
from adapters.gemini.redaction import MARK, cap, redact, redacted_cap, redacted_snippet
from adapters.gemini.schema import parse_reply
from statemachine.errors import PlanningError
from statemachine.models import Side
from tests.fake_gemini import FakeGemini, reply
from tests.gemini_helpers import FAKE_KEY, demo_context, fast_settings, gemini_planner

OTHER_KEY = "AIza" + "Q7" * 17 + "z"  # key-shaped, not the client's
assert len(OTHER_KEY) == 39


def leaked(text: str, key: str) -> bool:
    """Does ``text`` hold any prefix of ``key`` long enough to be recognisable (AIza + 2 characters)?"""
    return any(key[:n] in text for n in range(6, len(key) + 1))


@pytest.mark.parametrize("key", [FAKE_KEY, OTHER_KEY])
@pytest.mark.parametrize("before", range(40, 80))
def test_a_key_cut_by_the_quote_of_a_non_json_reply_is_redacted(key: str, before: int) -> None:
    text = "x" * before + key + " and then some prose"
    with pytest.raises(PlanningError) as info:
        parse_reply(text, Side.SELL, {"411420"}, lambda t: redact(t, [FAKE_KEY]))
    msg = info.value.message
    assert "It began:" in msg and not leaked(msg, key), msg


@pytest.mark.parametrize("limit", range(20, 60))
def test_a_key_cut_by_the_cap_is_redacted(limit: int) -> None:
    text = "y" * 20 + FAKE_KEY + "z" * 40
    assert not leaked(redacted_cap(text, limit, [FAKE_KEY]), FAKE_KEY)
    assert not leaked(redacted_snippet(text, limit, [FAKE_KEY]), FAKE_KEY)
    assert leaked(cap(text, 60), FAKE_KEY)  # cutting alone would not: the order matters


def test_a_key_prefix_already_cut_is_redacted() -> None:
    assert redact("... AIzaSyFAKE-rec") == f"... {MARK}"
    assert redact("AIza is a prefix; AIzaSy too short") == "AIza is a prefix; AIzaSy too short"


def test_the_planner_stores_and_raises_no_part_of_a_key_cut_at_the_boundary(tmp_path: Path) -> None:
    """Through the planner: the reply's quote (error, meta) and the capped reply keep no key prefix."""
    text = "Sure. " + "p" * 64 + FAKE_KEY + " " + OTHER_KEY + " {\"sell_orders\": []}"
    with FakeGemini() as fake:
        fake.script(reply(text))
        settings = fast_settings(record_limit_bytes=256)
        planner = gemini_planner(make_client(FAKE_KEY, base_url=fake.base_url), settings)
        with pytest.raises(PlanningError) as info:
            planner.plan(demo_context(tmp_path, Side.SELL))
    stored = json.dumps(planner.last_meta) + info.value.message
    assert "It began:" in info.value.message
    assert not leaked(stored, FAKE_KEY) and not leaked(stored, OTHER_KEY)
    assert MARK in planner.last_meta["reply"]

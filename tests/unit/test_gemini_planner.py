"""The Gemini planner replaying recorded cassettes (record mode "none": no network), plus a few
live calls to the local fake server for what a cassette cannot hold (a client-side timeout)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from google.genai import errors as genai_errors
from google.genai import types

from adapters.gemini.planner import (
    DEFAULT_API_VERSION,
    DEFAULT_MODEL,
    GeminiSettings,
    cap,
    make_client,
    redact,
)
from adapters.gemini.schema import SellPlanReply, response_json_schema, tradable_tickers
from adapters.retry_policy import RetryPolicy
from statemachine.errors import PlanningError
from statemachine.fees import FeeModel
from statemachine.models import Side
from statemachine.planner_greedy import GreedyPlanner
from statemachine.rules import check_plan, failures, passed
from tests.fake_gemini import FakeGemini, blocked, error, hang, reply, request_violations
from tests.gemini_helpers import (
    FAKE_KEY,
    Sleeps,
    demo_context,
    fast_settings,
    gemini_planner,
    gemini_vcr,
    plan_json,
)

FEES = FeeModel()


@contextmanager
def cassette(name: str) -> Iterator[Any]:
    with gemini_vcr("none").use_cassette(f"{name}.yaml") as cass:
        yield cass
    assert cass.all_played, f"{name}: {cass.play_count} of {len(cass)} interactions played"


def no_secret(obj: object) -> None:
    text = json.dumps(obj, default=str)
    assert FAKE_KEY not in text and "AIza" not in text


# ------------------------------------------------------------------------------ replies
def test_a_valid_reply_is_a_plan_with_its_attempt_recorded(tmp_path: Path) -> None:
    ctx = demo_context(tmp_path, Side.SELL)
    planner = gemini_planner()
    with cassette("valid_plan"):
        plan = planner.plan(ctx)
    expected = GreedyPlanner().plan(ctx)
    assert plan.planner == "gemini" and plan.side is Side.SELL
    assert [(o.ticker, o.quantity) for o in plan.orders] == [(o.ticker, o.quantity) for o in expected.orders]
    assert passed(check_plan(ctx, plan, FEES))
    m = plan.meta
    assert m["model"] == DEFAULT_MODEL == "gemini-3.1-pro-preview" and m["api_version"] == "v1beta"
    assert m["prompt"].startswith("Goal: generate SELL orders")
    assert m["prompt_bytes"] == len(m["prompt"].encode())
    assert json.loads(m["reply"]) == json.loads(plan_json(expected))
    usage = m["usage"]
    assert usage["prompt_token_count"] > 0 and usage["total_token_count"] >= usage["prompt_token_count"]
    assert m["finish_reason"] == "STOP" and m["model_version"] == DEFAULT_MODEL and m["response_id"]
    assert m["transport_retries"] == 0 and [a["outcome"] for a in m["transport_attempts"]] == ["ok"]
    assert isinstance(m["call_latency_ms"], int) and "error" not in m
    json.dumps(m)  # storable as JSON
    no_secret(m)


def test_prose_around_the_json_is_a_failed_attempt_with_the_reply_kept(tmp_path: Path) -> None:
    planner = gemini_planner()
    with cassette("invalid_json"), pytest.raises(PlanningError) as info:
        planner.plan(demo_context(tmp_path, Side.SELL))
    assert "not a single JSON object" in info.value.message
    assert info.value.fields["reason"] == "not_json" and info.value.fields["planner"] == "gemini"
    m = planner.last_meta
    assert m["reply"].startswith("Sure! Here is the plan:") and m["error"] == info.value.message
    assert m["usage"]["total_token_count"] > 0 and m["transport_retries"] == 0
    no_secret(m)


def test_a_schema_mismatch_is_a_failed_attempt(tmp_path: Path) -> None:
    planner = gemini_planner()
    with cassette("schema_mismatch"), pytest.raises(PlanningError) as info:
        planner.plan(demo_context(tmp_path, Side.SELL))
    assert "does not fit the schema" in info.value.message
    assert ("'sell_orders[0].quantity' must be a whole number of shares written as a JSON integer, "
            "got '1286'") in info.value.message
    assert planner.last_meta["reply"].startswith('{"sell_orders": [{"ticker": "411420"')


def test_an_r2_failure_goes_back_in_the_next_prompt_and_the_retry_passes(tmp_path: Path) -> None:
    ctx = demo_context(tmp_path, Side.SELL)
    planner = gemini_planner()
    with cassette("r2_retry") as cass:
        first = planner.plan(ctx)
        bad = failures(check_plan(ctx, first, FEES))
        assert [(c.rule, c.ticker) for c in bad] == [("R2", "411420")]
        second = planner.plan(ctx.model_copy(update={"attempt": 2, "previous_plan": first,
                                                     "previous_failures": bad}))
    assert passed(check_plan(ctx, second, FEES))
    assert second.meta["attempt"] == 2 and first.meta["attempt"] == 1
    assert "PREVIOUS ATTEMPT" not in first.meta["prompt"]
    sent = json.loads(cass.requests[1].body)["contents"][0]["parts"][0]["text"]
    for prompt in (second.meta["prompt"], sent):
        assert "PREVIOUS ATTEMPT (this is attempt 2)" in prompt
        assert '"ticker": "411420", "name": "Stocks ETF 411420", "quantity": 600' in prompt
        assert "- R2 411420: sell 600 x 411420 stays off its target by 9.61pp" in prompt


# ------------------------------------------------------------------------------ transport
def test_a_429_is_retried_after_the_backoff_and_counted(tmp_path: Path) -> None:
    sleeps = Sleeps()
    planner = gemini_planner(sleep=sleeps)
    with cassette("rate_limit"):
        plan = planner.plan(demo_context(tmp_path, Side.SELL))
    assert plan.orders
    m = plan.meta
    assert m["transport_retries"] == 1 and sleeps == [2.0]  # max(initial 2 s, the 429's RetryInfo 1 s)
    assert m["transport_attempts"][0]["error"].startswith("HTTP 429 RESOURCE_EXHAUSTED")
    assert m["transport_attempts"][0]["retry_in_s"] == 2.0 and m["transport_attempts"][1]["outcome"] == "ok"


@pytest.mark.parametrize("name,status", [("unavailable_3x", "HTTP 503 UNAVAILABLE"),
                                         ("timeout", "HTTP 504 DEADLINE_EXCEEDED")])
def test_retries_are_bounded_and_the_error_lists_every_attempt(tmp_path: Path, name: str, status: str,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sleeps = Sleeps()
    planner = gemini_planner(sleep=sleeps)
    with cassette(name), pytest.raises(PlanningError) as info:
        planner.plan(demo_context(tmp_path, Side.SELL))
    msg = info.value.message
    assert msg.startswith("the Gemini call failed 3 times (retries exhausted)")
    assert [f"#{n}: {status}" in msg for n in (1, 2, 3)] == [True, True, True]
    assert sleeps == [2.0, 4.0]  # exponential, and no sleep after the last attempt
    m = planner.last_meta
    assert len(m["transport_attempts"]) == 3 and m["transport_retries"] == 2
    assert m["reply"] is None and m["usage"] is None and m["error"] == msg
    assert FAKE_KEY not in caplog.text and "AIza" not in caplog.text
    no_secret(m)


def test_a_client_side_timeout_is_retried_then_fails(tmp_path: Path) -> None:
    """Live, against the fake server (a timeout has no reply for a cassette to hold)."""
    settings = fast_settings(timeout_ms=300, retry_attempts=2)
    sleeps = Sleeps()
    with FakeGemini() as fake:
        fake.script(hang(1.0), hang(1.0))
        client = make_client(FAKE_KEY, base_url=fake.base_url, timeout_ms=300)
        planner = gemini_planner(client, settings, sleeps)
        t0 = time.monotonic()
        with pytest.raises(PlanningError) as info:
            planner.plan(demo_context(tmp_path, Side.SELL))
        elapsed = time.monotonic() - t0
    assert "failed 2 times" in info.value.message and "#2: timed out after 300 ms" in info.value.message
    assert len(fake.requests) == 2 and sleeps == [2.0] and elapsed < 2.0


def test_a_4xx_other_than_429_is_not_retried(tmp_path: Path) -> None:
    with FakeGemini() as fake:
        fake.script(error(400))
        planner = gemini_planner(make_client(FAKE_KEY, base_url=fake.base_url), fast_settings())
        with pytest.raises(PlanningError) as info:
            planner.plan(demo_context(tmp_path, Side.SELL))
    assert "not retryable: HTTP 400 INVALID_ARGUMENT" in info.value.message
    assert len(fake.requests) == 1 and planner.last_meta["transport_retries"] == 0


def test_a_request_missing_from_the_cassette_fails_instead_of_reaching_the_network(tmp_path: Path) -> None:
    planner = gemini_planner()
    with gemini_vcr("none").use_cassette("valid_plan.yaml"):
        planner.plan(demo_context(tmp_path, Side.SELL))
        with pytest.raises(PlanningError) as info:
            planner.plan(demo_context(tmp_path, Side.SELL))
    assert "CannotOverwriteExistingCassetteException" in info.value.message


def test_the_request_uses_structured_output_and_the_preview_api_version(tmp_path: Path) -> None:
    with FakeGemini() as fake:
        ctx = demo_context(tmp_path, Side.BUY)
        fake.script(reply(plan_json(GreedyPlanner().plan(ctx))))
        planner = gemini_planner(make_client(FAKE_KEY, base_url=fake.base_url), fast_settings())
        plan = planner.plan(ctx)
    req = fake.requests[0]
    assert req["path"] == "/v1beta/models/gemini-3.1-pro-preview:generateContent"
    gen = req["body"]["generationConfig"]
    assert gen["responseMimeType"] == "application/json"
    assert "responseSchema" not in gen  # the live API rejects the SDK's additional_properties there
    schema = gen["responseJsonSchema"]
    assert schema == response_json_schema(ctx) and list(schema["properties"]) == ["buy_orders"]
    items = schema["properties"]["buy_orders"]
    assert items["items"]["properties"]["quantity"] == {
        "type": "integer", "minimum": 1, "description": items["items"]["properties"]["quantity"]["description"]}
    assert items["items"]["properties"]["ticker"]["enum"] == tradable_tickers(ctx)
    assert items["maxItems"] == len(tradable_tickers(ctx)) and items["items"]["required"] == ["ticker", "quantity"]
    assert req["body"]["systemInstruction"]["parts"][0]["text"].startswith("You are a portfolio manager")
    assert passed(check_plan(ctx, plan, FEES)) and plan.side is Side.BUY
    assert fake.rejected == []


@pytest.mark.parametrize("side", [Side.SELL, Side.BUY])
def test_the_planners_real_request_is_accepted_by_the_strict_stand_in(tmp_path: Path, side: Side) -> None:
    """The request the planner builds, through the real google-genai client, to a stand-in that
    rejects what the live API rejects (FAILED with the old code: 400 for additional_properties in
    generationConfig.responseSchema, not retried, so no plan)."""
    ctx = demo_context(tmp_path, side)
    with FakeGemini() as fake:
        fake.script(reply(plan_json(GreedyPlanner().plan(ctx))))
        planner = gemini_planner(make_client(FAKE_KEY, base_url=fake.base_url), fast_settings())
        plan = planner.plan(ctx)
    assert fake.rejected == [] and len(fake.requests) == 1
    assert plan.planner == "gemini" and passed(check_plan(ctx, plan, FEES))


def test_the_strict_stand_in_rejects_what_the_live_api_rejects(tmp_path: Path) -> None:
    """The SDK's request for a pydantic model with extra="forbid" as response_schema (the old code's
    request) is a 400 INVALID_ARGUMENT in the API's shape, as the live API answers it."""
    ctx = demo_context(tmp_path, Side.SELL)
    client_key = FAKE_KEY
    with FakeGemini() as fake:
        client = make_client(client_key, base_url=fake.base_url)
        with pytest.raises(genai_errors.ClientError) as info:
            client.models.generate_content(model=DEFAULT_MODEL, contents="plan", config=types.GenerateContentConfig(
                response_mime_type="application/json", response_schema=SellPlanReply))
        assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
        msg = info.value.message or ""
        assert ('Unknown name "additional_properties" at \'generation_config.response_schema\': Cannot find field.'
                in msg)
        assert "generation_config.response_schema.properties[0].value.items" in msg
        details = info.value.details["error"]["details"][0]
        assert details["@type"].endswith("google.rpc.BadRequest") and details["fieldViolations"]
        schema = response_json_schema(ctx)
        with pytest.raises(genai_errors.ClientError) as both:  # both schemas at once
            client.models.generate_content(model=DEFAULT_MODEL, contents="plan", config=types.GenerateContentConfig(
                response_mime_type="application/json", response_json_schema=schema,
                response_schema={"type": "OBJECT"}))
        assert "mutually exclusive" in (both.value.message or "")
    assert fake.steps == [] and len(fake.rejected) == 2


@pytest.mark.parametrize("body,needle", [
    ({"generationConfig": {"responseMimeType": "application/json", "bogusOption": 1}},
     'Unknown name "bogusOption" at \'generation_config\''),
    ({"generationConfig": {"responseMimeType": "application/json",
                           "responseSchema": {"type": "OBJECT", "additionalProperties": False}}},
     'Unknown name "additionalProperties" at \'generation_config.response_schema\''),
    ({"generationConfig": {"responseJsonSchema": {"type": "object"}}}, "requires response_mime_type"),
    ({"generationConfig": {"responseMimeType": "application/json",
                           "responseJsonSchema": {"type": "string", "pattern": "x"}}}, 'keyword "pattern"'),
    ({"contents": [], "extraTopLevel": 1}, 'Unknown name "extraTopLevel"'),
])
def test_the_stand_in_checks_each_rule(body: dict[str, Any], needle: str) -> None:
    found = request_violations(body)
    assert found and any(needle in m for _, m in found), found


def test_the_stand_in_accepts_the_planners_schema_for_both_sides(tmp_path: Path) -> None:
    for side in (Side.SELL, Side.BUY):
        schema = response_json_schema(demo_context(tmp_path / side.value, side))
        body = {"contents": [], "generationConfig": {"responseMimeType": "application/json",
                                                     "responseJsonSchema": schema}}
        assert request_violations(body) == []


@pytest.mark.parametrize("step,expected", [
    (reply(""), "the model returned an empty reply"),
    (reply('{"sell_orders": [{"ticker": "411420", "na', finish_reason="MAX_TOKENS"),
     "(finish reason MAX_TOKENS)"),
    (blocked("SAFETY"), "the model returned no candidates (prompt blocked: SAFETY)"),
])
def test_empty_cut_or_blocked_replies_are_failed_attempts(tmp_path: Path, step: Any, expected: str) -> None:
    with FakeGemini() as fake:
        fake.script(step)
        planner = gemini_planner(make_client(FAKE_KEY, base_url=fake.base_url), fast_settings())
        with pytest.raises(PlanningError) as info:
            planner.plan(demo_context(tmp_path, Side.SELL))
    assert expected in info.value.message
    assert planner.last_meta["error"] == info.value.message and planner.last_meta["usage"]


# ------------------------------------------------------------------------------ meta and secrets
def test_prompt_and_reply_are_capped_in_meta(tmp_path: Path) -> None:
    settings = fast_settings(record_limit_bytes=512)
    with cassette("valid_plan"):
        plan = gemini_planner(settings=settings).plan(demo_context(tmp_path, Side.SELL))
    m = plan.meta
    assert m["prompt_bytes"] > 512 and len(m["prompt"].encode()) < 512 + 60
    assert "[truncated:" in m["prompt"] and len(m["prompt_sha256"]) == 64


def test_key_like_text_in_a_reply_is_redacted_from_meta(tmp_path: Path) -> None:
    leaked = "AIza" + "B" * 35
    with FakeGemini() as fake:
        fake.script(reply(f"my key is {leaked}"))
        planner = gemini_planner(make_client(FAKE_KEY, base_url=fake.base_url), fast_settings())
        with pytest.raises(PlanningError) as info:
            planner.plan(demo_context(tmp_path, Side.SELL))
    assert leaked not in planner.last_meta["reply"] and "[REDACTED]" in planner.last_meta["reply"]
    assert leaked not in info.value.message
    no_secret(planner.last_meta)


def test_redact_and_cap() -> None:
    assert redact(f"x {FAKE_KEY} y", [FAKE_KEY]) == "x [REDACTED] y"
    assert redact("secret-123 and AIza" + "x" * 35, ["secret-123"]) == "[REDACTED] and [REDACTED]"
    assert cap("abc", 10) == "abc"
    assert cap("가나다라", 7).startswith("가나") and "12 bytes in all" in cap("가나다라", 7)


def test_the_retry_policy_is_bounded_data() -> None:
    p = RetryPolicy(attempts=4, initial_s=1, max_s=5)
    assert [p.delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    assert p.delay(1, hint_s=30) == 5 and p.delay(1, hint_s=3) == 3
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    assert GeminiSettings().retry_policy().attempts == 3


def test_make_client_sets_version_timeout_and_no_sdk_retries() -> None:
    client = make_client(FAKE_KEY, base_url="http://127.0.0.1:9", timeout_ms=1234)
    opts: types.HttpOptions = client._api_client._http_options
    assert opts.api_version == DEFAULT_API_VERSION == "v1beta" and opts.timeout == 1234
    assert opts.retry_options is None  # the planner's own bounded loop retries
    with pytest.raises(ValueError):
        make_client("")

"""Where the server may listen, and how errors map to HTTP statuses."""

from __future__ import annotations

import pytest

from adapters.db.connect import DatabaseError
from adapters.http.errors import status_for
from adapters.http.security import MIN_TOKEN_LENGTH, Unauthorized, WritesDisabled, bind_problem, is_loopback
from statemachine import errors as e

TOKEN = "x" * MIN_TOKEN_LENGTH


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host):
    assert is_loopback(host) and bind_problem(host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", "my-host"])
def test_beyond_loopback_needs_a_token(host):
    assert not is_loopback(host)
    problem = bind_problem(host, None)
    assert problem is not None and "REBALANCE_API_TOKEN" in problem and host in problem
    assert bind_problem(host, TOKEN) is None


def test_a_short_token_is_refused_everywhere():
    for host in ("127.0.0.1", "0.0.0.0"):
        problem = bind_problem(host, "abc123")
        assert problem is not None and "too short" in problem and "abc123" not in problem  # never echoed


@pytest.mark.parametrize(
    "exc,status",
    [
        (Unauthorized("no token"), 401),
        (WritesDisabled("off"), 403),
        (e.RunNotFound("x", run_id="r"), 404),
        (e.RunFinished("x"), 409),
        (e.LeaseHeld("x"), 409),
        (e.IncompatibleCheckpoint("x"), 409),
        (e.TransitionError("x", allowed=["SOLD", "ABORTED"]), 409),
        (e.TransitionError("force needs a reason", field="reason"), 422),
        (e.TargetsError("no targets", field="targets"), 409),
        (e.TargetsError("bad", field="mp.Stocks"), 422),
        (e.ThresholdError("bad", field="mp_threshold_percent"), 422),
        (e.SafetyStop("kill switch"), 503),
        (DatabaseError("down"), 503),
        (e.BrokerError("rate limited", code="EGW00201"), 502),
        (e.OrderOutcomeUnknown("lost"), 502),
        (e.RebalanceError("?"), 500),
    ],
)
def test_status_for_every_error_class(exc, status):
    assert status_for(exc) == status

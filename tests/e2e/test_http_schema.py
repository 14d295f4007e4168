"""Schemathesis against the OpenAPI schema: generated requests (valid and invalid, with the token)
never get a server error, and every answer fits the documented statuses, content types and shapes.
Bounded: a dozen examples per operation and mode, well under a minute."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from adapters.http.api import create_app
from tests.e2e.http_helpers import AUTH, TOKEN, make_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BOUNDED = settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def api(tmp_path):
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'rebalance.db'}", fill_timeout_s=2)
    fastapi_app = create_app(app, TOKEN)
    yield fastapi_app
    left = fastapi_app.state.api.runs.join(timeout=30)
    app.db.dispose()
    assert left == [], f"background runs still going: {left}"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_no_server_error_and_fit_the_schema(api, mode):
    schema = schemathesis.openapi.from_asgi("/openapi.json", api)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @BOUNDED
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case):  # type: ignore[no-untyped-def]
            case.call_and_validate(checks=CHECKS, headers=AUTH if case.method != "GET" else None)

        try:
            check()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise
            continue  # nothing to get wrong (no parameters, no body)
        tested.append(operation.label)
    assert len(tested) == (18 if mode is GenerationMode.POSITIVE else 13), tested  # 4 (3) targets ops

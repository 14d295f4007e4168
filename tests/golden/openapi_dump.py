"""Print the HTTP API's OpenAPI document (sorted keys), the golden record of paths, status codes and
JSON shapes. ``tests/golden/openapi.json`` was written by the code before the redesign (issue 15);
``tests/e2e/test_openapi_snapshot.py`` compares the current code with it."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient


def document() -> dict:
    from tests.e2e.http_helpers import TOKEN, make_app

    try:
        from adapters.http.api import create_app
    except ImportError:  # the code before the redesign
        from adapters.http_api import create_app  # type: ignore[no-redef]
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp), f"sqlite:///{tmp}/openapi.db", targets=False)
        with TestClient(create_app(app, TOKEN)) as c:
            return c.get("/openapi.json").json()


if __name__ == "__main__":
    sys.stdout.write(json.dumps(document(), indent=1, sort_keys=True, ensure_ascii=False) + "\n")

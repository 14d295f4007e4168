"""The redesign (issue 15) changed no interface: the CLI session and the OpenAPI document match what
the code before it produced (``tests/golden/``, written at commit 4243241)."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from tests.golden import cli_session, openapi_dump

GOLDEN = Path(cli_session.__file__).parent


def _diff(expected: str, actual: str, name: str) -> str:
    return "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                        f"golden/{name}", f"now/{name}"))


def test_cli_session_matches_the_golden_record(tmp_path: Path) -> None:
    cli_session.session(tmp_path)
    expected = sorted(p.name for p in (GOLDEN / "cli").glob("*.txt"))
    assert sorted(p.name for p in tmp_path.glob("*.txt")) == expected
    diffs = [_diff((GOLDEN / "cli" / n).read_text(), (tmp_path / n).read_text(), n) for n in expected]
    diffs = [d for d in diffs if d]
    assert not diffs, "\n".join(diffs)


def test_openapi_document_matches_the_snapshot() -> None:
    now = json.dumps(openapi_dump.document(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    diff = _diff((GOLDEN / "openapi.json").read_text(), now, "openapi.json")
    assert not diff, diff

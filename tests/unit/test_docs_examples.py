"""The examples in docs/formats.md are valid input: the documented snapshot plans with the
documented targets (issue 21, item 6)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from statemachine.whatif import what_if

DOC = Path(__file__).resolve().parents[2] / "docs" / "formats.md"


def examples() -> tuple[dict, dict]:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(), flags=re.S)
    return json.loads(blocks[0]), json.loads(blocks[1])


def test_the_documented_snapshot_plans_with_the_documented_targets():
    snapshot, targets = examples()
    result = what_if(snapshot, targets)
    assert result["passed"] is True and result["stopped"] is None, json.dumps(result)[:2000]
    assert result["needed"] and result["sell_orders"] and result["buy_orders"]


ROOT = DOC.parents[1]


def test_docs_cite_only_files_in_the_repository():
    cited = ("DOMAIN.md", "KIS_API.md")
    for path in [*ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("statemachine/**/*.py"),
                 *ROOT.glob("adapters/**/*.py")]:
        text = path.read_text()
        assert not any(c in text for c in cited), path
    readme = (ROOT / "README.md").read_text()
    for doc in ("docs/durability.md", "docs/domain.md", "docs/simulator_faults.md"):
        assert f"]({doc})" in readme and (ROOT / doc).exists()

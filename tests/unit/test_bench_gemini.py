"""The Gemini benchmark reads the cassettes and rewrites only its own section of the docs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "planner_gemini.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_planner_gemini", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_report_covers_every_recorded_reply(bench: ModuleType) -> None:
    text = bench.report()
    assert "local fake Gemini server" in text and bench.COMMAND in text
    assert "| gemini/valid_plan #1 | 77.9490 | pass |" in text
    assert "| gemini/r2_retry #1 | 77.9500 | fail R2 |" in text
    assert "| gemini/engine_retry_then_execute #3 | 1.9258 | pass |" in text
    assert "| gemini/schema_mismatch #1 | - | no plan |" in text


def test_write_replaces_only_the_gemini_section(bench: ModuleType, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nother\n\n{bench.START}\nold\n{bench.END}\n\n## later\nkept\n")
    monkeypatch.setattr(bench, "DOC", doc)
    bench.write("new")
    assert doc.read_text() == f"# Benchmarks\n\nother\n\n{bench.START}\nnew\n{bench.END}\n\n## later\nkept\n"
    doc.unlink()
    bench.write("first")
    assert doc.read_text() == f"# Benchmarks\n\n{bench.START}\nfirst\n{bench.END}\n"

"""Time is a port: nothing reads the system clock except the clock adapter (adapters/clock.py).

A read of the wall clock anywhere else makes the product (or a test) depend on the day and hour it
runs at: the engine's broker day, the simulator's order stamps, the guard, the scheduler. This test
walks the syntax tree of every module of the product, so a call, a default argument
(``clock=time.time``) or an alias (``from time import time``) is caught alike.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {ROOT / "adapters" / "clock.py"}
#: (module or class, attribute) pairs that read the wall clock
WALL = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
        ("time", "time"), ("time", "time_ns"), ("time", "localtime"), ("time", "gmtime"), ("time", "ctime")}


def product_files() -> list[Path]:
    files = [ROOT / "run_rebalance.py"]
    for pkg in ("statemachine", "adapters"):
        files += sorted((ROOT / pkg).rglob("*.py"))
    return [f for f in files if f not in ALLOWED]


def wall_clock_reads(source: str) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and (node.value.id, node.attr) in WALL):
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
        # datetime.datetime.now, datetime.date.today
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                and (node.value.attr, node.attr) in WALL):
            found.append((node.lineno, f"{node.value.attr}.{node.attr}"))
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            for alias in node.names:
                if ("time", alias.name) in WALL:
                    found.append((node.lineno, f"from time import {alias.name}"))
    return found


def test_the_scan_catches_each_form() -> None:
    src = ("import time\nfrom datetime import UTC, date, datetime\nfrom time import time as t\n"
           "a = datetime.now(UTC)\nb = date.today()\ndef f(clock=time.time): ...\n"
           "import datetime as dt\nc = dt.datetime.utcnow()\nd = time.monotonic()\n")
    found = [what for _, what in wall_clock_reads(src)]
    assert sorted(found) == sorted(["from time import time", "datetime.now", "date.today", "time.time",
                                    "datetime.utcnow"])
    assert "time.monotonic" not in found  # durations are not wall time


@pytest.mark.parametrize("path", product_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_wall_clock_outside_the_clock_adapter(path: Path) -> None:
    reads = wall_clock_reads(path.read_text(encoding="utf-8"))
    assert not reads, (f"{path.relative_to(ROOT)} reads the system clock "
                       f"({', '.join(f'line {n}: {w}' for n, w in reads)}); take a Clock from the "
                       f"composition root (adapters/clock.py) instead")

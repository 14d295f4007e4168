"""The ``backtest`` command: a synthetic demo, a CSV history, bad input (exit 2, the line named)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.backtest.data import DataError, parse_prices, synthetic_history, to_csv
from tests.e2e.cli_helpers import DEMO_TARGETS, Cli


def test_synthetic_backtest_json_and_chart(tmp_path: Path) -> None:
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    res = cli("backtest", "--synthetic", "1", "--chart", str(tmp_path / "c.svg"), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["synthetic"] is True and doc["policy"] == "threshold"
    assert doc["summary"]["rebalances"] == len(doc["rebalances"]) >= 1
    svg = (tmp_path / "c.svg").read_text()
    assert svg.startswith("<svg") and "SYNTHETIC DATA" in svg
    assert svg.count('class="rebalance"') == doc["summary"]["rebalances"]


def test_csv_history_with_dividends_and_policy(tmp_path: Path) -> None:
    h = synthetic_history(0.5, {"069500": (0.05, 0.2), "114260": (0.03, 0.05)}, seed=1)
    (tmp_path / "p.csv").write_text(to_csv(h))
    (tmp_path / "d.csv").write_text(f"date,ticker,amount\n{h.dates[10]},069500,150\n")
    (tmp_path / "t.json").write_text(json.dumps({"mp": {"Stocks": 60, "Bonds": 40, "Alternatives": 0, "Cash": 0},
                                                 "sub_mp": {"Stocks": {"069500": 1.0}, "Bonds": {"114260": 1.0}}}))
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    res = cli("backtest", "--prices", "p.csv", "--dividends", "d.csv", "--targets", "t.json", "--policy",
              "band-edge", "--edge-fraction", "0.8", "--cash", "10000000", "--output", "all.json", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["policy"] == "band-edge:0.8" and doc["synthetic"] is False
    assert doc["summary"]["dividends"] > 0
    full = json.loads((tmp_path / "all.json").read_text())
    assert len(full["days"]) == len(h.dates)


def test_bad_rows_exit_2_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("date,ticker,close\n2024-01-02,069500,35000\n2024-01-03,69500,35100\n")
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    res = cli("backtest", "--prices", "p.csv", "--targets", str(DEMO_TARGETS))
    assert res.returncode == 2
    assert "line 3" in res.stderr and "69500" in res.stderr
    res = cli("backtest", "--synthetic", "1", "--policy", "sometimes")
    assert res.returncode == 2


@pytest.mark.parametrize("text,needle", [
    ("date,ticker,close\n2024-13-01,069500,1\n", "line 2: bad date"),
    ("date,ticker,close\n2024-01-02,069500,-5\n", "line 2: close must be positive"),
    ("date,ticker,close\n2024-01-02,069500,12.5\n", "line 2: close '12.5' is not a whole number"),
    ("date,ticker,close\n2024-01-02,069500,1\n2024-01-02,069500,2\n", "line 3: a second close"),
    ("day,ticker,close\n", "line 1: header"),
    ("date,ticker,close\n2024-01-02,069500\n", "line 2: expected 3 columns"),
])
def test_csv_errors_name_the_line(text: str, needle: str) -> None:
    with pytest.raises(DataError, match=needle):
        parse_prices(text)


def test_csv_forward_fills_a_missing_close() -> None:
    h = parse_prices("date,ticker,close\n2024-01-02,069500,100\n2024-01-02,114260,50\n2024-01-03,069500,101\n")
    assert h.closes == {"069500": [100, 101], "114260": [50, 50]}


def test_run_with_a_policy_records_it_in_the_history(tmp_path: Path) -> None:
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert cli("targets", "set", str(DEMO_TARGETS)).returncode == 0
    done = cli.json("run", "--policy", "band-edge", "--planner", "optimal")
    assert done["run"]["status"] == "SUCCEEDED", done["run"]
    assert done["history"]["policy"] == "band-edge:0.5"
    assert any("policy=band-edge:0.5" in (t.get("reason") or "") for t in done["transitions"])
    rows = cli.json("history")
    rows = rows if isinstance(rows, list) else rows.get("rows", rows.get("history", []))
    assert [r["policy"] for r in rows if r["run_id"] == done["run"]["id"]] == ["band-edge:0.5"]
    bad = cli("run", "--policy", "sometimes")
    assert bad.returncode == 2 and "bad policy" in bad.stderr

"""A fixed command-line session whose normalised output is the CLI's golden record.

``python -m tests.golden.cli_session OUT_DIR`` runs every command's ``--help`` and a scripted
session (demo, status, show, history, config, targets, a dry run, an abort, bad input) against a
simulated account on a fixed clock, and writes one file per command with its exit code, stdout
and stderr. Run ids, timestamps and durations are replaced by placeholders; everything else
(option names, JSON keys and values, exit codes, messages) must stay byte-for-byte the same.
The files in ``tests/golden/cli/`` were written by the code before the redesign (issue 15);
``tests/e2e/test_cli_golden.py`` compares the current code with them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLOCK_AT = "2026-12-01T01:30:00+00:00"  # a Tuesday, 10:30 in Seoul

GROUPS = {"config": ["get", "set"], "targets": ["show", "set"], "db": ["upgrade"]}
COMMANDS = ["run", "resume", "demo", "status", "show", "history", "diagram", "force", "abort",
            "schedule", "run-if-due", "retry", "plan", "serve", "simulator", "config", "targets", "db"]

_RUN_ID = re.compile(r"\b\d{8}-\d{6}-[0-9a-f]{6}\b")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
_DURATION = re.compile(r'("(?:duration_ms|latency_ms|elapsed_s|age_s|took_s|duration_s)": )[0-9.]+')
_TEXT_DURATION = re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|s)\b")
_TMP = re.compile(r"/tmp/[^\s\"']+")
_MILLIS = re.compile(r"<TIME>,\d{3}")
_HMS = re.compile(r"\b\d{2}:\d{2}:\d{2}\.\d{3}\b")


def normalise(text: str, tmp: str) -> str:
    text = text.replace(tmp, "<TMP>")
    text = _RUN_ID.sub("<RUN>", text)
    text = _ISO.sub("<TIME>", text)
    text = _MILLIS.sub("<TIME>", text)
    text = _HMS.sub("<HMS>", text)
    text = _DURATION.sub(r"\1<N>", text)
    text = _TEXT_DURATION.sub("<DUR>", text)
    return _TMP.sub("<PATH>", text)


def session(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REBALANCE_", "KIS_", "GEMINI_", "GOOGLE_"))}
        env.update({"REBALANCE_BROKER": "sim", "REBALANCE_DATABASE_URL": f"sqlite:///{tmp}/golden.db",
                    "REBALANCE_SIM_ACCOUNT_PATH": f"{tmp}/account.json", "REBALANCE_CLOCK_AT": CLOCK_AT,
                    "REBALANCE_KILL_SWITCH_FILE": f"{tmp}/KILL", "REBALANCE_FILL_POLL_S": "0.05",
                    "PYTHONPATH": str(ROOT), "COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"})
        runs: list[str] = []

        def cli(name: str, *args: str) -> str:
            res = subprocess.run([sys.executable, str(ROOT / "run_rebalance.py"), *args], env=env, cwd=tmp,
                                 capture_output=True, text=True, timeout=120)
            runs.extend(m for m in _RUN_ID.findall(res.stdout + res.stderr) if m not in runs)
            body = f"$ {' '.join(args)}\nexit {res.returncode}\n--- stdout\n{res.stdout}--- stderr\n{res.stderr}"
            (out / f"{name}.txt").write_text(normalise(body, tmp))
            return res.stdout

        cli("help", "--help")
        for c in COMMANDS:
            cli(f"help-{c}", c, "--help")
        for g, subs in GROUPS.items():
            for s in subs:
                cli(f"help-{g}-{s}", g, s, "--help")
        cli("db-upgrade", "db", "upgrade")
        cli("demo-json", "demo", "--json")
        cli("status-json", "status", "--json")
        cli("history-json", "history", "--json")
        cli("history", "history")
        if runs:
            cli("show-json", "show", runs[0], "--json")
            cli("show", "show", runs[0])
            cli("status-one-json", "status", runs[0], "--json")
            cli("abort-finished", "abort", runs[0], "--reason", "golden")
        cli("config-get-json", "config", "get", "--json")
        cli("config-set-bad", "config", "set", "--mp-threshold", "150", "--json")
        cli("config-set-json", "config", "set", "--sub-mp-threshold", "4.5", "--json")
        bad = Path(tmp) / "bad_targets.json"
        bad.write_text('{"mp": {"stocks": 0.7}}')
        cli("targets-set-bad", "targets", "set", str(bad), "--json")
        cli("targets-show-json", "targets", "show", "--json")
        cli("diagram", "diagram")
        cli("show-unknown", "show", "20260101-000000-abcdef", "--json")
        cli("dry-run-json", "run", "--max-phase", "2", "--json")
        cli("status-after-json", "status", "--json")


if __name__ == "__main__":
    session(Path(sys.argv[1]))

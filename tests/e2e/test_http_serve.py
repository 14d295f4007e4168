"""``run_rebalance.py serve``: refuses to listen beyond loopback without a token; serves otherwise."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.e2e.cli_helpers import ROOT, Cli
from tests.e2e.http_helpers import TOKEN, free_port


def _serve(cli: Cli, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run_rebalance.py"), "serve", *args],
        env={**cli.env, **env},
        cwd=cli.tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_refuses_to_listen_beyond_loopback_without_a_token(tmp_path):
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    env = {k: v for k, v in cli.env.items() if k != "REBALANCE_API_TOKEN"}
    res = subprocess.run(
        [sys.executable, str(ROOT / "run_rebalance.py"), "serve", "--host", "0.0.0.0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert "refusing to listen on 0.0.0.0" in res.stderr and "REBALANCE_API_TOKEN" in res.stderr
    res = cli("serve", "--host", "0.0.0.0", REBALANCE_API_TOKEN="short")
    assert res.returncode == 2 and "too short" in res.stderr


def test_serves_the_api_on_loopback_and_stops_cleanly(tmp_path):
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    port = free_port()
    proc = _serve(cli, "--port", str(port), REBALANCE_API_TOKEN=TOKEN)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info", timeout=2) as r:
                    info = json.loads(r.read())
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "server did not answer"
                time.sleep(0.2)
        assert info["writes_enabled"] is True and info["broker"] == "sim"
        rebound = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/info", headers={"Host": "evil.example"}
        )
        try:
            urllib.request.urlopen(rebound, timeout=5)
            raise AssertionError("a foreign Host header was answered")
        except urllib.error.HTTPError as exc:
            assert exc.code == 400  # DNS rebinding: another site's name pointing at 127.0.0.1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it got
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Application shutdown complete" in err
    assert TOKEN not in out + err

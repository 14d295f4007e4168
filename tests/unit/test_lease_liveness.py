"""lease_is_dead fails closed: only a process of this host that is gone (or a zombie) is dead."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from adapters.runtime import lease_is_dead, lease_owner


def test_a_finished_process_of_this_host_is_dead():
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                           text=True)
    assert lease_is_dead(f"{socket.gethostname()}:{int(child.stdout)}:abcdef")


def test_a_zombie_is_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    try:
        assert lease_is_dead(f"{socket.gethostname()}:{child.pid}:abcdef")
    finally:
        child.wait()


def test_live_own_other_host_and_garbage_are_not_dead():
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as live:
        try:
            assert not lease_is_dead(f"{socket.gethostname()}:{live.pid}:abcdef")
        finally:
            live.kill()
    assert not lease_is_dead(lease_owner())  # this very process
    assert not lease_is_dead("another-host:1:abcdef")  # cannot tell: trust it until it expires
    for garbage in ("", "engine:1234abcd", "host:notapid:x", "test-owner"):
        assert not lease_is_dead(garbage)

"""lease_is_dead fails closed: only a process of this host, this boot and this PID namespace that is
gone (or a zombie) is dead. A pid says nothing across PID namespaces (two containers with the same
hostname on one database) or across boots, so such a lease must expire by its heartbeat."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from adapters import runtime
from adapters.runtime import lease_is_dead, lease_owner

BOOT = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
NS = os.readlink("/proc/self/ns/pid")


def owner(pid: int, *, host: str | None = None, boot: str = BOOT, ns: str = NS, version: str = "v2") -> str:
    return "|".join([version, host or socket.gethostname()[:32], boot, ns, str(pid), "abcdef12"])


def gone_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    return int(child.stdout)


def test_the_owner_names_host_boot_namespace_and_pid():
    me = lease_owner()
    version, host, boot, ns, pid, suffix = me.split("|")
    assert (version, host, boot, ns, pid) == ("v2", socket.gethostname()[:32], BOOT, NS, str(os.getpid()))
    assert ns.startswith("pid:[") and len(suffix) == 8
    assert lease_owner() != me  # a random suffix: two engines of one process are two owners


def test_the_owner_fits_the_column_with_the_longest_hostname(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "h" * 64)  # HOST_NAME_MAX
    assert len(f"scheduler:{lease_owner()}") <= 128  # the scheduler's claims prefix it
    assert not lease_is_dead(lease_owner())


def test_a_finished_process_of_this_host_boot_and_namespace_is_dead():
    assert lease_is_dead(owner(gone_pid()))


def test_a_zombie_is_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    try:
        assert lease_is_dead(owner(child.pid))
    finally:
        child.wait()


def test_a_live_process_and_this_process_are_not_dead():
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as live:
        try:
            assert not lease_is_dead(owner(live.pid))
        finally:
            live.kill()
    assert not lease_is_dead(lease_owner())
    assert not lease_is_dead(owner(os.getpid()))


def test_another_pid_namespace_on_the_same_host_is_never_judged_by_its_pid():
    """The observed failure: a live runner in another container with the same hostname has a pid
    that does not exist here. Its lease must not be stolen."""
    pid = gone_pid()
    assert lease_is_dead(owner(pid))  # the same pid in our namespace would be dead...
    assert not lease_is_dead(owner(pid, ns="pid:[4026599999]"))  # ...but in another one we cannot tell


def test_another_boot_or_host_is_not_dead():
    pid = gone_pid()
    assert not lease_is_dead(owner(pid, boot="00000000-0000-0000-0000-000000000000"))
    assert not lease_is_dead(owner(pid, host="another-host"))


def test_old_format_and_garbage_owners_are_not_dead():
    pid = gone_pid()
    for old in (f"{socket.gethostname()}:{pid}:abcdef", f"scheduler:{socket.gethostname()}:{pid}:abcdef",
                owner(pid, version="v1")):
        assert not lease_is_dead(old)
    for garbage in ("", "engine:1234abcd", "host:notapid:x", "test-owner", "v2|a|b", owner(0),
                    owner(pid).replace(str(pid), "x")):
        assert not lease_is_dead(garbage)


@pytest.mark.parametrize("missing", ["boot_id", "namespace"])
def test_unreadable_proc_fails_closed(monkeypatch, missing):
    candidate = owner(gone_pid())
    if missing == "boot_id":
        monkeypatch.setattr(runtime, "_boot_id", lambda: "")
    else:
        monkeypatch.setattr(runtime, "_pid_namespace", lambda: "")
    assert not lease_is_dead(candidate)


def test_no_proc_at_all_fails_closed(monkeypatch, tmp_path):
    candidate = owner(gone_pid())
    monkeypatch.setattr(runtime, "_PROC", str(tmp_path / "no-proc"))
    assert not lease_is_dead(candidate)

"""PostgreSQL for tests: the server on 127.0.0.1:5432 if one answers, else a throwaway cluster.

With ``CI=true`` PostgreSQL tests must run: if neither can be had, the session fails instead of
skipping. Each test session creates its own databases and drops them at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import psycopg


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            pass
        with psycopg.connect(f"host={host} port={port} user=postgres dbname=postgres", connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> list[str]:
    """initdb and the server refuse to run as root: run them as the postgres user then."""
    return [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]


def start_cluster(options: str, *, prefix: str, missing: str) -> tuple[str, str, int]:
    """initdb a throwaway cluster in a new temporary directory and start it on a free port of
    127.0.0.1 with the server ``options`` (e.g. ``-c fsync=off``); (bindir, datadir, port).
    ``missing``: the error when no initdb is installed."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = bins[-1] if bins else shutil.which("initdb")
    if not initdb:
        raise RuntimeError(missing)
    bindir, port = os.path.dirname(initdb), _free_port()
    datadir = tempfile.mkdtemp(prefix=prefix)
    run_as = _run_as()
    if run_as:
        shutil.chown(datadir, "postgres", "postgres")
    subprocess.run([*run_as, initdb, "-D", datadir, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run([*run_as, os.path.join(bindir, "pg_ctl"), "-D", datadir, "-w", "-l", os.path.join(datadir, "log"),
                    "-o", f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 {options}", "start"],
                   check=True, capture_output=True)
    return bindir, datadir, port


def stop_cluster(bindir: str, datadir: str, mode: str) -> None:
    """Stop a cluster :func:`start_cluster` started (pg_ctl ``-m mode``) and delete its directory."""
    subprocess.run([*_run_as(), os.path.join(bindir, "pg_ctl"), "-D", datadir, "-m", mode, "stop"],
                   capture_output=True)
    shutil.rmtree(datadir, ignore_errors=True)


class PgServer:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 5432
        self.datadir: str | None = None
        self.bindir: str | None = None
        self.created: list[str] = []

    def start(self) -> None:
        env_url = os.environ.get("REBALANCE_TEST_PG")
        if env_url:
            host, _, port = env_url.partition(":")
            self.host, self.port = host, int(port or 5432)
            return
        if _answers("127.0.0.1", 5432):
            return
        self.bindir, self.datadir, self.port = start_cluster(
            "-c fsync=off", prefix="rb-pg-",
            missing="no PostgreSQL server on 127.0.0.1:5432 and no initdb to start one (apt-get install postgresql)")
        for _ in range(50):
            if _answers(self.host, self.port):
                return
            time.sleep(0.2)
        raise RuntimeError("throwaway PostgreSQL cluster did not start")

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(f"host={self.host} port={self.port} user=postgres dbname=postgres",
                               autocommit=True)

    def create_db(self, template: str | None = None) -> str:
        name = f"rb_test_{uuid.uuid4().hex[:12]}"
        with self.admin() as c:
            c.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.created.append(name)
        return name

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{name}"

    def drop_all(self) -> None:
        with self.admin() as c:
            for name in reversed(self.created):
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()

    def stop(self) -> None:
        try:
            self.drop_all()
        finally:
            if self.datadir and self.bindir:
                stop_cluster(self.bindir, self.datadir, "immediate")

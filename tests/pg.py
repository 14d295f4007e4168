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
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = bins[-1] if bins else shutil.which("initdb")
        if not initdb:
            raise RuntimeError("no PostgreSQL server on 127.0.0.1:5432 and no initdb to start one "
                               "(apt-get install postgresql)")
        self.bindir = os.path.dirname(initdb)
        self.port = _free_port()
        self.datadir = tempfile.mkdtemp(prefix="rb-pg-")
        run_as = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        if run_as:
            shutil.chown(self.datadir, "postgres", "postgres")
        subprocess.run([*run_as, initdb, "-D", self.datadir, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True)
        subprocess.run([*run_as, os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-w", "-l",
                        os.path.join(self.datadir, "log"), "-o",
                        f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off",
                        "start"],
                       check=True, capture_output=True)
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
                run_as = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
                subprocess.run([*run_as, os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-m",
                                "immediate", "stop"], capture_output=True)
                shutil.rmtree(self.datadir, ignore_errors=True)

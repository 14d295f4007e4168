"""Checks the command line makes before it touches anything (issue 21, "quiet surprises"):

* a reading command (``status``, ``show``, ``history`` ...) on an SQLite file that does not exist
  refuses (exit 2) instead of creating the file and its directories (a mistyped ``--db``);
* ``--db rebalance.db`` (a bare path) is refused (exit 9, as any invalid URL) with the URL form to
  write: ``sqlite:///rebalance.db``;
* an empty default database while the demo's ``var/demo.db`` exists: a hint naming it;
* ``run --planner gemini`` without a Gemini API key refuses up front (exit 2), creating no run.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from adapters.config import Settings
from adapters.db.connect import DEFAULT_URL, DatabaseError, database_url
from statemachine.errors import DomainError

DEMO_DB = Path("var/demo.db")  # where `make demo` writes (relative to the working directory, as the CLI's default)


class BadDatabase(DomainError):
    """A database URL or path the command line refuses before connecting (exit 2)."""


def checked_url(given: str | None) -> str:
    """The URL for ``given`` (``--db`` or the setting); a bare path is refused with the URL to write."""
    url = database_url(given)
    if "://" not in url:
        raise DatabaseError(f"database URL is not valid: {url!r}; for an SQLite file write sqlite:///{url} "
                            f"(a relative path) or sqlite:////absolute/path.db; for PostgreSQL "
                            f"postgresql://user@host/dbname")
    return url


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL (None for other databases and in-memory SQLite)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser()


def demo_hint(url: str) -> str | None:
    """A hint when ``url`` is the default database and the demo's database exists beside it."""
    if url != DEFAULT_URL or not DEMO_DB.exists():
        return None
    return (f"hint: this is the default database ({DEFAULT_URL}); `make demo` wrote its runs to {DEMO_DB}: "
            f"add --db sqlite:///{DEMO_DB}")


def check_readable(url: str) -> None:
    """A reading command never creates a database: refuse a missing SQLite file (exit 2)."""
    path = sqlite_file(url)
    if path is None or path.exists():
        return
    hint = demo_hint(url)
    raise BadDatabase(f"no database at {path} ({url}): nothing was recorded there, and a reading command "
                      f"creates none; check --db or REBALANCE_DATABASE_URL" + (f". {hint}" if hint else ""),
                      field="db")


def check_planner_usable(planner: str, settings: Settings) -> None:
    """``gemini`` needs an API key: refuse before a run is created rather than fail three attempts."""
    if planner != "gemini":
        return
    _, key = settings.gemini_api_key()
    if key is None:
        raise DomainError(
            "planner gemini needs an API key: set GOOGLE_API_KEY or GEMINI_API_KEY, or choose "
            "--planner optimal (or auto: Gemini when a key is set); no run was created", field="planner")

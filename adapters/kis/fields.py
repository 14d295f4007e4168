"""Reading the broker's string-typed fields: a missing or non-numeric value is a
:class:`KisMalformedReply`, never a zero."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from adapters.kis.errors import KisMalformedReply
from statemachine.units import KST

_INT_RE = re.compile(r"^\s*-?\d+(\.0*)?\s*$")
_NUM_RE = re.compile(r"^\s*-?\d+(\.\d*)?\s*$")


def _field(row: Any, key: str, what: str) -> Any:
    if not isinstance(row, dict) or key not in row:
        raise KisMalformedReply(f"{what}: field {key!r} missing")
    return row[key]


def num_int(row: Any, key: str, what: str) -> int:
    v = _field(row, key, what)
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if not isinstance(v, str) or not _INT_RE.match(v):
        raise KisMalformedReply(f"{what}: field {key!r} is not an integer: {str(v)[:20]!r}")
    return int(float(v)) if "." in v else int(v)


def num_float(row: Any, key: str, what: str) -> float:
    v = _field(row, key, what)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    if not isinstance(v, str) or not _NUM_RE.match(v):
        raise KisMalformedReply(f"{what}: field {key!r} is not a number: {str(v)[:20]!r}")
    return float(v)


def text(row: Any, key: str, what: str) -> str:
    v = _field(row, key, what)
    if not isinstance(v, str):
        raise KisMalformedReply(f"{what}: field {key!r} is not a string")
    return v.strip()


def rows_of(body: dict[str, Any], key: str, what: str) -> list[dict[str, Any]]:
    v = body.get(key)
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise KisMalformedReply(f"{what}: {key!r} missing or not a list of rows")
    return v


def object_of(body: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    v = body.get(key)
    if isinstance(v, list) and len(v) >= 1 and isinstance(v[0], dict):
        return v[0]
    if isinstance(v, dict) and v:
        return v
    raise KisMalformedReply(f"{what}: {key!r} missing or empty")


def kst_time(day: date, hhmmss: str) -> datetime | None:
    if not re.fullmatch(r"\d{6}", hhmmss or ""):
        return None
    t = datetime(day.year, day.month, day.day, int(hhmmss[:2]), int(hhmmss[2:4]), int(hhmmss[4:]), tzinfo=KST)
    return t.astimezone(UTC)

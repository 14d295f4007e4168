"""Reading a KIS reply's JSON and its ``rt_cd``/``msg_cd``/``msg1`` envelope, and keeping the
account number out of httpx's request log (:class:`MaskAccountFilter`, installed on import)."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx

from adapters.kis.errors import KisMalformedReply, KisRetryable, envelope_error


class MaskAccountFilter(logging.Filter):
    """httpx logs every request URL at INFO, query string included: mask the CANO parameter."""

    _re = re.compile(r"(CANO=)\d{4}\d*")

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "CANO=" in msg:
            record.msg, record.args = self._re.sub(r"\g<1>****", msg), ()
        return True


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, MaskAccountFilter) for f in _httpx_log.filters):
    _httpx_log.addFilter(MaskAccountFilter())


def json_dict(r: httpx.Response) -> dict[str, Any] | None:
    if not r.content:
        return None
    try:
        body = r.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def envelope(r: httpx.Response, what: str) -> dict[str, Any]:
    """The successful body of a read, or the typed error its envelope names."""
    body = json_dict(r)
    if body is None or not isinstance(body.get("rt_cd"), str):
        kind = "empty body" if not r.content else ("no rt_cd envelope" if body is not None else "not JSON")
        if r.status_code >= 500:
            raise KisRetryable(f"{what}: HTTP {r.status_code} with {kind}", code=f"HTTP{r.status_code}")
        raise KisMalformedReply(
            f"{what}: malformed reply, {kind} (HTTP {r.status_code}, {r.headers.get('content-type', '?')})",
            status=r.status_code,
        )
    if body["rt_cd"] != "0":
        raise envelope_error(
            str(body.get("msg_cd", "")), str(body.get("msg1", "")).strip(), what=what, status=r.status_code
        )
    if r.status_code != 200:
        raise KisMalformedReply(f"{what}: rt_cd 0 with HTTP {r.status_code}", status=r.status_code)
    return body

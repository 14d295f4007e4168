"""Redaction of what the Gemini planner stores or shows: the one place that decides what a secret
looks like, and the one order of operations (redact the WHOLE text first, cut it afterwards).

Needs: the text and the secrets known to the caller (the client's API key). Gives: the text with
each secret and anything shaped like a Google API key replaced by ``[REDACTED]``.

Why the order matters: a key cut by a truncation (a quoted snippet, a capped reply) matches neither
the exact-key replacement nor the full key pattern, so redacting after cutting lets a key's prefix
through. :func:`redacted_cap` and :func:`redacted_snippet` redact first. The pattern also catches a
key-shaped prefix (``AIza`` and at least 8 key characters), in case a text arrives already cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MARK = "[REDACTED]"
#: a Google API key (``AIza`` + 35 characters), or a cut one (at least 8 key characters after ``AIza``)
API_KEY_RE = re.compile(r"AIza[0-9A-Za-z_\-]{8,}")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret in ``secrets`` and every key-shaped string replaced by ``[REDACTED]``."""
    for s in secrets:
        if s:
            text = text.replace(s, MARK)
    return API_KEY_RE.sub(MARK, text)


def cap(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes of ``text``, with a note when something was cut (no redaction:
    use :func:`redacted_cap` for anything that may hold a secret)."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", errors="ignore") + f"...[truncated: {len(raw):,} bytes in all]"


def redacted_cap(text: str, limit: int, secrets: Iterable[str] = ()) -> str:
    """Redact the whole text, then cap it to ``limit`` bytes."""
    return cap(redact(text, secrets), limit)


def redacted_snippet(text: str, chars: int, secrets: Iterable[str] = ()) -> str:
    """The first ``chars`` characters of the redacted text (redacted first, then cut)."""
    return redact(text, secrets)[:chars]


__all__ = ["API_KEY_RE", "MARK", "cap", "redact", "redacted_cap", "redacted_snippet"]

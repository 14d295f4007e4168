"""The words of a run's notification, redacted.

Needs: a :class:`~statemachine.notices.RunNotice`, the secrets the process knows (KIS app key and
secret, full account number, API token, Gemini key) and the page's public URL. Gives: a title and a
plain-text body holding the run id, the account (its alias or masked number), the outcome, what was
sent and filled, total drift before and after, the reason and a link to the run's page.

Redaction: the project's own (:func:`adapters.gemini.redaction.redact`: each known secret and
anything shaped like a Google API key), then what looks like a bearer token, a JWT, a
``key=value`` secret or a full account number (8 + 2 digits). Everything the body says that comes
from outside this module (the account, the reason) goes through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from adapters.gemini.redaction import MARK, redact
from statemachine.notices import RunEvent, RunNotice

_PATTERNS = (
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?"),  # a JWT (KIS access tokens)
    re.compile(r"(?i)\b(app_?key|app_?secret|secret_?key|access_?token|api_?key|api_?token|token|password|"
               r"authorization)\b(\s*[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"),
    re.compile(r"(?<![\d-])\d{8}-?\d{2}(?![\d-])"),  # a full account number (CANO + product code)
)
REASON_LIMIT = 600

_HEADLINE = {
    RunEvent.FINISHED: "finished",
    RunEvent.FAILED: "failed",
    RunEvent.BLOCKED: "is BLOCKED (needs an operator)",
    RunEvent.GUARD: "was stopped by a safety guard",
}


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without any known secret, key-, token- or account-number-shaped string."""
    text = redact(text, [s for s in secrets if s and len(s) >= 4])
    for p in _PATTERNS:
        text = p.sub(lambda m: (m.group(1) + m.group(2) + MARK) if m.re.groups >= 2 else MARK, text)
    return text


def notice_title(notice: RunNotice, secrets: Iterable[str] = ()) -> str:
    return redact_text(f"Rebalance run {notice.run_id} {_HEADLINE[notice.event]}: {notice.status}", secrets)


def _pct(v: float | None) -> str:
    return "unknown" if v is None else f"{v:.2%}"


def run_link(public_url: str | None, run_id: str) -> str | None:
    """The run's page (the operator page's run detail), when the server's public URL is known."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/#runs/{run_id}"


def notice_body(notice: RunNotice, *, public_url: str | None = None, secrets: Iterable[str] = ()) -> str:
    """The body: one fact a line, redacted as a whole."""
    secrets = list(secrets)
    lines = [
        f"Run: {notice.run_id}",
        f"Account: {notice.account}",
        f"Outcome: {notice.status} at {notice.state} ({notice.event.value})",
        f"Orders: {notice.orders_sent} sent, {notice.orders_filled} filled",
        f"Total drift: {_pct(notice.drift_before)} before, {_pct(notice.drift_after)} after",
    ]
    if notice.reason:
        reason = redact_text(notice.reason, secrets)  # redact the whole text first, then cut it
        lines.append("Reason: " + (reason if len(reason) <= REASON_LIMIT else reason[:REASON_LIMIT] + "..."))
    link = run_link(public_url, notice.run_id)
    if link:
        lines.append(f"Page: {link}")
    return redact_text("\n".join(lines), secrets)

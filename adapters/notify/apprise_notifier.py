"""Sending a run's notification through apprise (https://github.com/caronc/apprise).

One :class:`AppriseNotifier` per process, built by :func:`make_notifier` from the settings:
``REBALANCE_NOTIFY_URLS`` (apprise URLs, comma or space separated, e.g. ``mailtos://...``,
``slack://...``, ``tgram://...``, ``json://host/path``) and ``REBALANCE_PUBLIC_URL`` (the page's
address, for the link). A URL apprise does not understand is refused when the process starts
(:class:`~statemachine.errors.DomainError` naming the setting, never the URL: it may hold a token).

Best effort: a service that is down, slow or refusing makes :meth:`AppriseNotifier.notify` log a
WARNING with the run id and return; it never raises into the engine.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from adapters.notify.message import notice_body, notice_title
from statemachine.errors import DomainError
from statemachine.notices import RunEvent, RunNotice

if TYPE_CHECKING:
    from adapters.config import Settings

log = logging.getLogger("rebalance.notify")


def split_urls(value: str | None) -> list[str]:
    """The URLs of a comma- or whitespace-separated setting."""
    return [u for u in re.split(r"[\s,]+", value or "") if u]


class AppriseNotifier:
    """Sends each :class:`RunNotice` to every configured URL."""

    def __init__(self, urls: list[str], *, public_url: str | None = None, secrets: Iterable[str] = ()) -> None:
        import apprise  # loaded only when notifications are configured

        self.public_url = public_url
        self.secrets = [s for s in secrets if s]
        self._apprise = apprise.Apprise()
        for i, url in enumerate(urls, 1):
            if not self._apprise.add(url):
                raise DomainError(f"REBALANCE_NOTIFY_URLS: URL #{i} is not an apprise URL apprise can use "
                                  "(see https://github.com/caronc/apprise/wiki)", field="notify_urls")
        self._types = {RunEvent.FINISHED: apprise.NotifyType.SUCCESS, RunEvent.FAILED: apprise.NotifyType.FAILURE,
                       RunEvent.BLOCKED: apprise.NotifyType.WARNING, RunEvent.GUARD: apprise.NotifyType.WARNING}

    def notify(self, notice: RunNotice) -> None:
        title = notice_title(notice, self.secrets)
        body = notice_body(notice, public_url=self.public_url, secrets=self.secrets)
        try:
            ok = self._apprise.notify(body=body, title=title, notify_type=self._types[notice.event])
        except Exception as exc:  # noqa: BLE001 - a notification is never worth a run
            log.warning("notification of run %s failed: %s", notice.run_id, type(exc).__name__,
                        extra={"run_id": notice.run_id})
            return
        if ok:
            log.info("run %s: %s notification sent", notice.run_id, notice.event.value,
                     extra={"run_id": notice.run_id})
        else:
            log.warning("notification of run %s (%s) was not delivered to every service; the run is not "
                        "affected", notice.run_id, notice.event.value, extra={"run_id": notice.run_id})


def known_secrets(settings: Settings) -> list[str]:
    """Every secret this process could know: they never appear in a notification."""
    out: list[str] = []
    kis = settings.kis()
    for s in (kis.appkey, kis.appsecret, kis.account, settings.api_token):
        if s is not None and s.get_secret_value():
            out.append(s.get_secret_value())
    _, key = settings.gemini_api_key()
    if key is not None:
        out.append(key.get_secret_value())
    return out


def make_notifier(settings: Settings) -> AppriseNotifier | None:
    """The notifier of ``REBALANCE_NOTIFY_URLS`` (None when the setting is empty)."""
    urls = split_urls(settings.notify_urls.get_secret_value() if settings.notify_urls else None)
    if not urls:
        return None
    return AppriseNotifier(urls, public_url=settings.public_url, secrets=known_secrets(settings))

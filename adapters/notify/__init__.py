"""Notifications to the operator when a run ends (:class:`statemachine.ports.Notifier`).

:mod:`adapters.notify.message` words a :class:`statemachine.notices.RunNotice` (redacted: never a
secret); :mod:`adapters.notify.apprise_notifier` sends it through apprise to every URL of
``REBALANCE_NOTIFY_URLS`` (mail, Slack, Telegram, webhooks...). :func:`make_notifier` is what the
composition root calls: None when no URL is configured.
"""

from __future__ import annotations

from adapters.notify.apprise_notifier import AppriseNotifier, make_notifier, split_urls
from adapters.notify.message import notice_body, notice_title, redact_text

__all__ = ["AppriseNotifier", "make_notifier", "notice_body", "notice_title", "redact_text", "split_urls"]

"""Alert notifications: the ``Notification`` value, the notifiers (webhook, Slack, e-mail),
built from their ``[[notify]]`` entries, and retrying delivery. No module-level state.
"""

from __future__ import annotations

from monitor.alerting.notify.build import build_notifiers
from monitor.alerting.notify.dispatch import (
    DeliveryOutcome,
    DeliveryStatus,
    Dispatcher,
    RetryPolicy,
    Route,
    deliver,
)
from monitor.alerting.notify.errors import NotifyError, NotifyPermanentError, NotifyTemporaryError
from monitor.alerting.notify.model import Notification, Notifier, Severity, Status
from monitor.alerting.notify.slack import SlackNotifier, build_slack_payload
from monitor.alerting.notify.smtp import EmailNotifier, build_email_message
from monitor.alerting.notify.webhook import PAYLOAD_VERSION, WebhookNotifier, build_webhook_payload

__all__ = [
    "PAYLOAD_VERSION",
    "DeliveryOutcome",
    "DeliveryStatus",
    "Dispatcher",
    "EmailNotifier",
    "Notification",
    "Notifier",
    "NotifyError",
    "NotifyPermanentError",
    "NotifyTemporaryError",
    "RetryPolicy",
    "Route",
    "Severity",
    "SlackNotifier",
    "Status",
    "WebhookNotifier",
    "build_email_message",
    "build_notifiers",
    "build_slack_payload",
    "build_webhook_payload",
    "deliver",
]

"""Alert notifications: the ``Notification`` value, the notifiers (webhook, Slack, e-mail),
their ``[[notify]]`` config, and retrying delivery. No module-level state.
"""

from __future__ import annotations

from monitor.notify.dispatch import (
    DeliveryOutcome,
    DeliveryStatus,
    Dispatcher,
    RetryPolicy,
    Route,
    deliver,
)
from monitor.notify.errors import NotifyError, NotifyPermanentError, NotifyTemporaryError
from monitor.notify.model import Notification, Notifier, Severity, Status

__all__ = [
    "DeliveryOutcome",
    "DeliveryStatus",
    "Dispatcher",
    "Notification",
    "Notifier",
    "NotifyError",
    "NotifyPermanentError",
    "NotifyTemporaryError",
    "RetryPolicy",
    "Route",
    "Severity",
    "Status",
    "deliver",
]

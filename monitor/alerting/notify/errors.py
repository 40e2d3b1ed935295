"""Failures of the notifiers, split by what the dispatcher should do about them.

MonitorError
└── NotifyError               not delivered (``reason`` is a stable code)
    ├── NotifyTemporaryError  worth retrying: timeout, connection, HTTP 5xx/408/429, SMTP 4xx
    └── NotifyPermanentError  retrying will not help: HTTP 3xx/4xx, SMTP 5xx, bad credentials

Messages are fixed prose plus a redacted endpoint (scheme and host only): never a
webhook path or query (Slack puts its secret there), a password or a token.
"""

from __future__ import annotations

from monitor.model.errors import ReasonedError

__all__ = ["NotifyError", "NotifyPermanentError", "NotifyTemporaryError"]


class NotifyError(ReasonedError):
    """Root of the notifier failures; ``reason`` is a stable code for logs, outcomes and tests."""


class NotifyTemporaryError(NotifyError):
    """A failure that may pass: retry later; ``retry_after`` is the server's hint in seconds."""

    def __init__(self, reason: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason, message)
        self.retry_after = retry_after


class NotifyPermanentError(NotifyError):
    """A refusal that retrying will not change (bad URL, bad credentials, rejected payload)."""

"""Exceptions of the ``monitor`` package.

MonitorError
├── ConfigError      the configuration is invalid (lists every problem)
├── UsageError       a command-line argument is invalid
├── CommandError    a command could not do its work (the store cannot be used): exit 1
├── PrivacyError     an unusable address or an unsafe key file (monitor.model.privacy)
├── StoreError       the store cannot be used (monitor.store.errors)
├── ImapError        the IMAP mailbox cannot be polled (monitor.ingest.imap)
└── ReasonedError    a refusal or failure with a stable ``reason`` code
    ├── JsonRefused  a body that is not acceptable JSON (monitor.model.jsontext)
    ├── IngestError  (monitor.ingest.errors)
    └── NotifyError  (monitor.alerting.notify.errors)
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CommandError", "ConfigError", "MonitorError", "ReasonedError", "UsageError"]


class MonitorError(Exception):
    """Root of the monitor package's exceptions."""


class ConfigError(MonitorError):
    """Invalid configuration; ``problems`` holds every problem found, not just the first."""

    def __init__(self, problems: Iterable[str], *, source: str = "config") -> None:
        self.problems = tuple(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{lines}")


class UsageError(MonitorError):
    """A command-line argument or target that cannot be used."""


class CommandError(MonitorError):
    """A command that could not do its work for a reason other than its arguments or its
    config (the store cannot be opened or fails mid-run): the CLI exits 1, as for any
    other problem, never 2 ("usage")."""


class ReasonedError(MonitorError):
    """A refusal or failure with ``reason``, a stable code for metrics, logs and tests."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason!r}, message={self.message!r})"

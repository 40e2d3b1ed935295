"""What a notification is, the ``Notifier`` seam, and the small rules every notifier shares.

A ``Notification`` never carries an e-mail address: callers build titles, texts and
labels from targets (IPs, domains), zones, campaign ids and counts only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "SEVERITIES",
    "Notification",
    "Notifier",
    "Severity",
    "Status",
    "format_time",
    "severity_at_least",
]

Status = Literal["firing", "resolved"]
Severity = Literal["critical", "warning", "info"]

#: Severities from least to most urgent.
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")


@dataclass(frozen=True, slots=True)
class Notification:
    """One alert transition to announce: a problem starts (``firing``) or ends (``resolved``).

    ``key`` identifies the alert across transitions (``"listed:192.0.2.1:zen.spamhaus.org"``);
    ``kind`` is the alert kind id (``"listed"``, ``"record_changed"``, ...). ``labels`` are
    bounded, address-free pairs such as ``("target", "192.0.2.1")``. Callers guarantee that no
    e-mail address appears in any field; notifiers send the fields as they are.

    Raises:
        ValueError: naive datetimes, a multi-line title, an unknown status or severity, or
            ``ended_at`` set while firing / missing once resolved.
    """

    key: str
    kind: str
    status: Status
    severity: Severity
    title: str
    text: str
    labels: tuple[tuple[str, str], ...]
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if self.status not in ("firing", "resolved"):
            raise ValueError(f"status must be firing or resolved, got {self.status!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        if not self.key or not self.kind:
            raise ValueError("key and kind must not be empty")
        if not self.title or "\n" in self.title or "\r" in self.title:
            raise ValueError("title must be one non-empty line")
        for moment in (self.started_at, self.ended_at):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError("started_at and ended_at must be timezone-aware")
        if (self.status == "firing") != (self.ended_at is None):
            raise ValueError("ended_at is None while firing and set once resolved")

    @property
    def resolved(self) -> bool:
        """True for the message that says a problem has ended."""
        return self.status == "resolved"


class Notifier(Protocol):
    """Delivers notifications to one destination; ``name`` labels outcomes and logs.

    ``send`` raises ``NotifyTemporaryError`` for failures worth retrying and
    ``NotifyPermanentError`` for refusals; it does not retry itself.
    """

    name: str

    async def send(self, n: Notification) -> None:
        """Deliver one notification, once.

        Raises:
            NotifyTemporaryError: timeout, connection failure, HTTP 5xx/408/429, SMTP 4xx.
            NotifyPermanentError: HTTP 3xx/4xx, SMTP 5xx, refused credentials.
        """
        ...


def severity_at_least(severity: Severity, minimum: Severity) -> bool:
    """True when ``severity`` is as urgent as ``minimum`` or more (info < warning < critical)."""
    return SEVERITIES.index(severity) >= SEVERITIES.index(minimum)


def format_time(moment: dt.datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, to the second: ``2024-05-01T12:00:00Z``."""
    utc = moment.astimezone(dt.UTC).isoformat(timespec="seconds")
    return utc.replace("+00:00", "Z")

"""Receiver telemetry as values: what Gmail Postmaster Tools and Microsoft SNDS said.

Pure and frozen. "No data" is a state, never a 0 % rate: a domain below Google's volume
threshold, a day not yet published, an unverified domain, a permission error and an API
outage are distinct (``GmailState``), and an IP without SNDS rows has no filter result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "GMAIL_METRICS",
    "GMAIL_RECOVERY_DAYS",
    "GMAIL_SPAM_CRITICAL_RATE",
    "GMAIL_SPAM_WARN_RATE",
    "FilterResult",
    "GmailCompliance",
    "GmailDomainImport",
    "GmailStat",
    "GmailState",
    "SndsBlock",
    "SndsImport",
    "SndsRow",
    "TelemetrySource",
]


# Gmail's published thresholds for the user-reported spam rate (also risk constants).
GMAIL_SPAM_WARN_RATE = 0.001  # Gmail: keep the user-reported spam rate below 0.1%
GMAIL_SPAM_CRITICAL_RATE = 0.003  # Gmail: never reach 0.3%
GMAIL_RECOVERY_DAYS = 7  # after 0.3%: no mitigation until 7 consecutive days below it


class TelemetrySource(StrEnum):
    GMAIL = "gmail"
    SNDS = "snds"


class GmailState(StrEnum):
    """What the last import of one domain amounted to (label values of a metric)."""

    OK = "ok"  # the API answered and published at least one day in the window
    NO_DATA = "no_data"  # answered, no day in the window (volume threshold, not yet published)
    UNVERIFIED = "unverified"  # 401/404: the domain is not registered for these credentials
    PERMISSION_DENIED = "permission_denied"  # 403: no access (scope, role, API disabled)
    UNAVAILABLE = "unavailable"  # outage, 429/5xx after retries, malformed answer, no token


# The statistics imported per domain and day: our metric name -> (standardMetric, filter).
# The name is the MetricDefinition.name sent to domainStats:query and echoed back.
GMAIL_METRICS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "spam_rate": ("SPAM_RATE", ""),
        "auth_spf": ("AUTH_SUCCESS_RATE", 'auth_type = "spf"'),
        "auth_dkim": ("AUTH_SUCCESS_RATE", 'auth_type = "dkim"'),
        "auth_dmarc": ("AUTH_SUCCESS_RATE", 'auth_type = "dmarc"'),
        "tls_inbound": ("TLS_ENCRYPTION_RATE", 'traffic_direction = "inbound"'),
        "tls_outbound": ("TLS_ENCRYPTION_RATE", 'traffic_direction = "outbound"'),
        "delivery_error": ("DELIVERY_ERROR_RATE", ""),
        "delivery_reject": ("DELIVERY_ERROR_RATE", 'error_type = "reject"'),
        "delivery_temp_fail": ("DELIVERY_ERROR_RATE", 'error_type = "temp_fail"'),
    }
)


@dataclass(frozen=True, slots=True)
class GmailStat:
    """One statistic of one domain for one day (a ratio 0..1)."""

    domain: str
    day: dt.date
    metric: str
    value: float


@dataclass(frozen=True, slots=True)
class GmailCompliance:
    """One compliance requirement's status: ``compliant`` or ``needs_work`` (others: unknown)."""

    requirement: str
    status: str


@dataclass(frozen=True, slots=True)
class GmailDomainImport:
    """One domain's import: its state, the stats of the days with data, its compliance."""

    domain: str
    state: GmailState
    stats: tuple[GmailStat, ...] = ()
    compliance: tuple[GmailCompliance, ...] | None = None  # None: not fetched or refused
    reason: str = ""  # a short machine code for the state (never a token or a body)


class FilterResult(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


@dataclass(frozen=True, slots=True)
class SndsRow:
    """One data.aspx line (columns in the documented order; times as SNDS prints them)."""

    ip: str
    activity_start: dt.datetime
    activity_end: dt.datetime
    rcpt_commands: int
    data_commands: int
    recipients: int
    filter_result: FilterResult | None  # None: a value SNDS did not document
    complaint_rate: str  # the band as printed ("< 0.1%"); "" when none
    trap_start: dt.datetime | None
    trap_end: dt.datetime | None
    trap_hits: int
    sample_helo: str
    sample_mail_from: str
    comments: str

    @property
    def day(self) -> dt.date:
        return self.activity_end.date()


@dataclass(frozen=True, slots=True)
class SndsBlock:
    """One ipStatus.aspx line: an inclusive range of blocked addresses."""

    first_ip: str
    last_ip: str
    blocked: bool
    reason: str


@dataclass(frozen=True, slots=True)
class SndsImport:
    """One SNDS import: the rows (None: data.aspx failed), the blocks (None: ipStatus failed)."""

    rows: tuple[SndsRow, ...] | None
    blocks: tuple[SndsBlock, ...] | None
    reasons: Mapping[str, str] = field(default_factory=dict)  # endpoint -> failure code
    # From a list with a line that could not be read (``blocks`` None): the ranges its
    # readable lines say are blocked. Added to the last whole list, never clearing it.
    partial_blocks: tuple[SndsBlock, ...] = ()

    @property
    def ok(self) -> bool:
        return self.rows is not None and self.blocks is not None

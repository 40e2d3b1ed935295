"""Values the store takes and returns, and the ``Store`` protocol the daemon depends on."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from monitor.model.events import Category, Consent, Event, Provider
from monitor.model.privacy import Pseudonymizer
from monitor.store.audits import AuditCounts
from monitor.store.rates import DEFAULT_GUARD, CountRow, Dimension, RateRow, VolumeGuard, Window
from monitor.store.schema import MAX_CAMPAIGN_LENGTH, MAX_LABEL_LENGTH

if TYPE_CHECKING:
    from monitor.store.dmarc import DmarcReportRecord, DmarcRowRecord, DmarcSource, SourceFigures

__all__ = [
    "AddResult",
    "Campaign",
    "EraseResult",
    "EventView",
    "PurgeResult",
    "ReportAudit",
    "ReportRecord",
    "ReportResult",
    "ReportView",
    "Store",
    "SubjectExport",
    "SuppressionReason",
    "SuppressionView",
    "WindowRates",
]

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class SuppressionReason(StrEnum):
    """Why a pseudonym is suppressed."""

    UNSUBSCRIBE = "unsubscribe"
    COMPLAINT = "complaint"
    BOUNCE = "bounce"  # permanent bounces only


@dataclass(frozen=True, slots=True)
class AddResult:
    """Events committed (``accepted``) and re-deliveries recognised and skipped;
    ``replayed``: the ``claim`` given was already taken, and nothing was written."""

    accepted: int
    duplicates: int
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class ReportAudit:
    """Original-message audit of a complained-about message; None = could not be told."""

    list_unsubscribe_https: bool | None = None
    list_unsubscribe_one_click: bool | None = None
    dkim_covers_list_unsubscribe: bool | None = None
    feedback_id_valid: bool | None = None


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """What the store keeps of one feedback report (ARF), before pseudonymisation.

    ``recipients`` are raw addresses, in memory only: the store keeps their
    pseudonyms. ``raw`` is the message, kept only with ``store_raw=True``.
    """

    raw_sha256: str
    received_at: dt.datetime
    feedback_type: str
    campaign: str
    provider: Provider = Provider.OTHER
    arrival_date: dt.datetime | None = None
    source_ip: str | None = None
    reporter: str | None = None
    user_agent: str | None = None
    recipients: tuple[str, ...] = ()
    audit: ReportAudit = ReportAudit()
    raw: bytes | None = None
    # DMARC failure reports (auth-failure): the Auth-Failure token, Identity-Alignment,
    # and the domain the report is about.
    auth_failure: str | None = None
    identity_alignment: str | None = None
    failure_domain: str | None = None

    def __post_init__(self) -> None:
        if not _SHA256_HEX.fullmatch(self.raw_sha256):
            raise ValueError("raw_sha256 must be 64 lower-case hex digits")
        if not 0 < len(self.campaign) <= MAX_CAMPAIGN_LENGTH:
            raise ValueError(f"campaign must be 1 to {MAX_CAMPAIGN_LENGTH} characters")
        if not 0 < len(self.feedback_type) <= MAX_LABEL_LENGTH:
            raise ValueError(f"feedback_type must be 1 to {MAX_LABEL_LENGTH} characters")
        if self.source_ip is not None and len(self.source_ip) > 45:
            raise ValueError("source_ip is not an IP address")
        if self.received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")

    def __repr__(self) -> str:
        return (
            f"ReportRecord(raw_sha256={self.raw_sha256!r}, feedback_type={self.feedback_type!r}, "
            f"campaign={self.campaign!r}, recipients=<{len(self.recipients)} redacted>)"
        )


@dataclass(frozen=True, slots=True)
class ReportResult:
    """The stored report's id; ``duplicate`` when the same raw report was already stored."""

    id: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    category: Category | None
    consent: Consent | None
    sending_domain: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ReportView:
    """A stored report as a subject export shows it (no raw message)."""

    id: str
    received_at: dt.datetime
    arrival_date: dt.datetime | None
    feedback_type: str
    campaign: str
    provider: str
    source_ip: str | None
    reporter: str | None
    user_agent: str | None
    # The complained-about message's audit (None: could not be told).
    list_unsubscribe_https: bool | None = None
    list_unsubscribe_one_click: bool | None = None
    dkim_covers_list_unsubscribe: bool | None = None
    feedback_id_valid: bool | None = None
    # A DMARC failure report's.
    auth_failure: str | None = None
    identity_alignment: str | None = None
    failure_domain: str | None = None
    raw_stored: bool = False


@dataclass(frozen=True, slots=True)
class EventView:
    type: str
    campaign: str
    provider: str
    occurred_at: dt.datetime
    source: str
    bounce_kind: str | None
    feedback_type: str | None
    scope: str | None = None
    # A bounce's or deferral's classified reply (every address in it masked).
    bounce_class: str | None = None
    blocklist: str | None = None
    reply_status: str | None = None
    reply_enhanced: str | None = None
    reply_text: str | None = None


@dataclass(frozen=True, slots=True)
class SuppressionView:
    reason: SuppressionReason
    first_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SubjectExport:
    """Everything stored about one pseudonym (GDPR access)."""

    pseudonym: str
    reports: tuple[ReportView, ...]
    events: tuple[EventView, ...]
    suppressions: tuple[SuppressionView, ...]

    @property
    def suppressed(self) -> bool:
        return bool(self.suppressions)


@dataclass(frozen=True, slots=True)
class EraseResult:
    """What an erasure deleted; the suppression marker stays, as it honours the opt-out."""

    reports: int
    events: int
    suppression_kept: bool
    raw_copies: int = 0  # raw reports deleted: those linked to the person and those naming them
    suppression_reasons: tuple[str, ...] = ()  # the kept marker's reasons (SuppressionReason)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """Rows deleted by retention; aggregated counters and suppressions are never purged."""

    events: int
    reports: int
    idempotency_keys: int


@dataclass(frozen=True, slots=True)
class WindowRates:
    """Rates over one window: ``since`` is its first bucket (None for lifetime)."""

    window: Window
    since: dt.datetime | None
    rows: tuple[RateRow, ...]


class Store(Protocol):
    """Durable state of feedback ingestion; every write is one transaction.

    A write that returned is committed: callers acknowledge (HTTP 202) only then.
    """

    async def add_events(
        self,
        events: Sequence[Event],
        pseudonymizer: Pseudonymizer,
        *,
        claim: tuple[str, str] | None = None,
    ) -> AddResult: ...

    async def add_report(
        self,
        record: ReportRecord,
        events: Sequence[Event],
        pseudonymizer: Pseudonymizer,
        *,
        store_raw: bool = False,
    ) -> ReportResult: ...

    async def add_dmarc_report(self, record: DmarcReportRecord) -> ReportResult: ...

    async def stage_dmarc_rows(
        self, load: str, rows: Iterable[DmarcRowRecord], at: dt.datetime
    ) -> None: ...

    async def drop_dmarc_stage(self, load: str) -> None: ...

    async def purge_dmarc_stage(self, before: dt.datetime) -> int: ...

    # DMARC queries (monitor.store.dmarc; the API's views read them)
    async def dmarc_report_count(self, domain: str, since: dt.datetime | None = None) -> int: ...

    async def dmarc_source_figures(
        self, domain: str, since: dt.datetime | None = None
    ) -> list[SourceFigures]: ...

    async def dmarc_selectors(
        self, domain: str, since: dt.datetime | None = None
    ) -> list[tuple[str, str, int]]: ...

    async def dmarc_reporter_figures(
        self, domain: str, since: dt.datetime | None = None
    ) -> list[tuple[str, str, str, int]]: ...

    async def dmarc_sources(self, domain: str | None = None) -> list[DmarcSource]: ...

    async def upsert_campaign(
        self,
        campaign_id: str,
        *,
        category: Category | None,
        consent: Consent | None,
        sending_domain: str | None = None,
    ) -> Campaign: ...

    async def list_campaigns(self) -> tuple[Campaign, ...]: ...

    async def audit_counts(
        self, campaign: str | None = None, *, purged: bool = False
    ) -> tuple[AuditCounts, ...]: ...

    async def get_campaign(self, campaign_id: str) -> Campaign | None: ...

    async def counts(
        self,
        *,
        campaign: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> tuple[CountRow, ...]: ...

    async def rates(
        self,
        *,
        by: Sequence[Dimension] = ("campaign",),
        campaign: str | None = None,
        now: dt.datetime | None = None,
        guard: VolumeGuard = DEFAULT_GUARD,
    ) -> tuple[WindowRates, ...]: ...

    async def export_subject(
        self, pseudonym: str, *, address: str | None = None
    ) -> SubjectExport: ...

    async def erase_subject(self, pseudonym: str, *, address: str | None = None) -> EraseResult: ...

    async def is_suppressed(self, pseudonym: str) -> bool: ...

    async def purge(self, before: dt.datetime) -> PurgeResult: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...

"""Ingest one ARF report: parse, attribute, audit, pseudonymise and store it, or refuse it.

The one code path behind ``POST /api/v1/feedback/arf``, ``delivermon ingest arf``
and the IMAP poller, so every channel counts a report the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from email.utils import parseaddr

from checks.domains import DomainError, to_a_label
from monitor.ingest.arf import FeedbackReport, FeedbackType, parse_arf, redact_addresses
from monitor.ingest.attribution import attribute_campaign, provider_of
from monitor.ingest.audit import audit_original
from monitor.ingest.events import MAX_AHEAD
from monitor.model.events import Event, EventType, Provider, Source
from monitor.model.privacy import Pseudonymizer
from monitor.offloop import off_loop
from monitor.store.models import ReportAudit, ReportRecord, Store

__all__ = ["ArfIngestResult", "ingest_arf"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ArfIngestResult:
    """What the API answers with 202: the stored report, its campaign and type."""

    id: str
    campaign: str
    feedback_type: str
    duplicate: bool


async def ingest_arf(
    raw: bytes,
    *,
    store: Store,
    pseudonymizer: Pseudonymizer,
    campaign_headers: tuple[str, ...],
    store_raw: bool,
    now: dt.datetime,
) -> ArfIngestResult:
    """Store the report once (its raw SHA-256 is the idempotency key).

    Only abuse, fraud and virus reports are complaints; not-spam, auth-failure
    and other reports are stored but count as no complaint and suppress no one.

    Raises:
        NotArfError: not a feedback report (422).
        MalformedReportError: a feedback report that cannot be read (400).
    """
    report = await off_loop(parse_arf, raw)
    campaign = attribute_campaign(report.original_headers, campaign_headers=campaign_headers)
    provider = _provider(report, report.original_rcpt_to[0] if report.original_rcpt_to else None)
    arrival = report.arrival_date
    if arrival is not None and arrival > now + MAX_AHEAD:
        # A reporter's clock years ahead would keep the complaint in every "last hour"
        # window until then: not believed, like an unreadable date (the events API
        # refuses such a time; a third party's report cannot be fixed and re-sent).
        log.warning(
            "feedback report %s: Arrival-Date %s is more than a day ahead, dated on arrival",
            report.raw_sha256[:12],
            arrival.isoformat(),
        )
        arrival = None
    occurred = arrival or now
    record = ReportRecord(
        raw_sha256=report.raw_sha256,
        received_at=now,
        feedback_type=report.feedback_type.value,
        campaign=campaign,
        provider=provider,
        arrival_date=arrival,
        source_ip=report.source_ip,
        reporter=report.reporter,
        user_agent=report.user_agent and redact_addresses(report.user_agent),
        recipients=report.original_rcpt_to,
        audit=_audit(report),
        raw=raw if store_raw else None,
        **_failure_fields(report),
    )
    events = _complaints(report, campaign, occurred, now) if report.is_complaint else ()
    result = await store.add_report(record, events, pseudonymizer, store_raw=store_raw)
    return ArfIngestResult(result.id, campaign, report.feedback_type.value, result.duplicate)


def _provider(report: FeedbackReport, recipient: str | None) -> Provider:
    """The recipient's mailbox provider, else the reporter's, else the User-Agent's."""
    domain = recipient.rpartition("@")[2] if recipient else None
    return provider_of(report.reporter, domain, report.user_agent)


def _complaints(
    report: FeedbackReport, campaign: str, occurred: dt.datetime, received: dt.datetime
) -> tuple[Event, ...]:
    """One complaint per reported recipient, each under its own mailbox provider (or one
    without a recipient). Each is dated when the original message arrived (the rates put
    it beside that mail's deliveries) and known when the report came (the opt-out's
    48-hour deadline runs from then: reports often come days late)."""
    recipients: tuple[str | None, ...] = report.original_rcpt_to or (None,)
    return tuple(
        Event(
            type=EventType.COMPLAINT,
            campaign=campaign,
            occurred_at=occurred,
            source=Source.ARF,
            idempotency_key=f"{report.raw_sha256}:{index}",
            recipient=recipient,
            provider=_provider(report, recipient),
            feedback_type=report.feedback_type.value,
            known_at=received,
        )
        for index, recipient in enumerate(recipients)
    )


def _failure_domain(value: str) -> str | None:
    """A domain as the config spells it (IDNs as A-labels), from a Reported-Domain or an
    address; None for what is no domain name. An address written where a domain belongs
    gives its domain: the address itself is never stored."""
    domain = value.rpartition("@")[2].strip().strip("<>").rstrip(".").lower()
    if not domain:
        return None
    try:
        return to_a_label(domain)
    except DomainError:
        return None


def _failure_fields(report: FeedbackReport) -> dict[str, str | None]:
    """A DMARC failure report's Auth-Failure, Identity-Alignment and domain (RFC 9991 §4):
    the Reported-Domain, else the domain of the original message's From."""
    if report.feedback_type is not FeedbackType.AUTH_FAILURE:
        return {}
    domain = _failure_domain(report.reported_domains[0]) if report.reported_domains else None
    if domain is None and report.original_headers is not None:
        domain = _failure_domain(parseaddr(report.original_headers.get("From") or "")[1])
    return {
        "auth_failure": report.auth_failure or "dmarc",  # absent (NetEase): read as dmarc
        "identity_alignment": report.identity_alignment,
        "failure_domain": domain,
    }


def _audit(report: FeedbackReport) -> ReportAudit:
    audit = audit_original(report.original_headers)
    if audit is None:
        return ReportAudit()
    return ReportAudit(
        list_unsubscribe_https=audit.has_list_unsubscribe_https,
        list_unsubscribe_one_click=audit.has_one_click_post,
        dkim_covers_list_unsubscribe=audit.dkim_covers_list_unsubscribe,
        feedback_id_valid=audit.feedback_id_well_formed if audit.has_feedback_id else None,
    )

"""Ingest one DMARC aggregate report: parse, derive each row's DMARC verdict and alignment,
and store it once (deduplicated by reporting org, report id and policy domain).

The one code path behind ``POST /api/v1/dmarc/reports``, ``delivermon ingest dmarc``
and the IMAP poller (``monitor.ingest.kinds``).
"""

from __future__ import annotations

import asyncio
import functools

from checks.domains import registered_domain
from monitor.ingest.dmarc import AggregateReport, parse_dmarc
from monitor.ingest.dmarc.model import ReportRow
from monitor.ingest.kinds import IngestContext, IngestOutcome
from monitor.store.dmarc import DmarcReportRecord, DmarcRowRecord

__all__ = ["MAJOR_REPORTERS", "ingest_dmarc", "reporter_of"]

# Parsing is CPU work: past this size it runs in a thread so the loop keeps serving.
_THREAD_AFTER = 256 * 1024

# Registrable domains of the report senders of the receivers the alert rules watch.
_REPORTERS = {
    "google.com": "google",
    "microsoft.com": "microsoft",
    "outlook.com": "microsoft",
    "hotmail.com": "microsoft",
    "yahoo.com": "yahoo",
    "yahoo.net": "yahoo",
    "yahooinc.com": "yahoo",
}
MAJOR_REPORTERS = ("google", "microsoft", "yahoo")
_MAX_REPORTER = 64


def reporter_of(email: str, org_name: str) -> str:
    """A stable name for who sent the report: a major receiver's name, else its domain."""
    domain = email.rpartition("@")[2].strip().lower().rstrip(".>")
    org = (registered_domain(domain) if domain else None) or domain
    if org in _REPORTERS:
        return _REPORTERS[org]
    name = org or org_name.strip().casefold()
    return name[:_MAX_REPORTER] or "unknown"


@functools.lru_cache(maxsize=4096)
def _org(domain: str) -> str:
    return (registered_domain(domain) or domain) if domain else ""


def _aligned(identity: str, header_from: str, mode: str | None) -> bool:
    """RFC 7489 §3.1: strict is the same name, relaxed the same organisational domain."""
    if not identity or not header_from:
        return False
    if mode == "s":
        return identity == header_from
    return _org(identity) == _org(header_from)


def _row(report: AggregateReport, row: ReportRow) -> DmarcRowRecord:
    key = row.key
    header_from = key.header_from or report.policy.domain
    dkim_aligned = key.dkim_result == "pass" and _aligned(
        key.dkim_domain, header_from, report.policy.adkim
    )
    spf_aligned = key.spf_result == "pass" and _aligned(
        key.spf_domain, header_from, report.policy.aspf
    )
    # The receiver's own verdict as policy_evaluated gives it; else from auth_results.
    verdict = "pass" in (key.dkim, key.spf)
    passed = verdict if key.dkim or key.spf else dkim_aligned or spf_aligned
    return DmarcRowRecord(
        source_ip=key.source_ip,
        header_from=header_from,
        disposition=key.disposition,
        dmarc="pass" if passed else "fail",
        dkim_aligned=dkim_aligned,
        spf_aligned=spf_aligned,
        dkim_domain=key.dkim_domain,
        dkim_selector=key.dkim_selector,
        dkim_result=key.dkim_result,
        spf_domain=key.spf_domain,
        spf_result=key.spf_result,
        messages=row.messages,
    )


def _summary(report: AggregateReport) -> dict[str, object]:
    meta = report.metadata
    return {
        "org_name": meta.org_name,
        "report_id": meta.report_id,
        "domain": report.policy.domain,
        "begin": meta.begin.isoformat().replace("+00:00", "Z"),
        "end": meta.end.isoformat().replace("+00:00", "Z"),
        "records": report.records,
        "messages": report.messages,
    }


async def ingest_dmarc(raw: bytes, ctx: IngestContext) -> IngestOutcome:
    """Store the aggregate report in ``raw`` once.

    Raises:
        NotDmarcError: readable mail or data without an aggregate report (422).
        MalformedReportError: a report that cannot be read, or hostile input (422).
    """
    if len(raw) > _THREAD_AFTER:
        report = await asyncio.to_thread(parse_dmarc, raw)
    else:
        report = parse_dmarc(raw)
    meta = report.metadata
    record = DmarcReportRecord(
        org=report.dedup_key[0],
        report_id=meta.report_id,
        domain=report.policy.domain,
        org_name=meta.org_name,
        reporter=reporter_of(meta.email, meta.org_name),
        begin=meta.begin,
        end=meta.end,
        received_at=ctx.now,
        records=report.records,
        messages=report.messages,
        policy=report.policy.p,
        flavour=report.flavour.value,
        rows=(_row(report, row) for row in report.rows),
        raw=raw if ctx.store_raw else None,
    )
    result = await ctx.store.add_dmarc_report(record)
    return IngestOutcome(
        "dmarc",
        result.id,
        result.duplicate,
        {
            "domain": report.policy.domain,
            "records": report.records,
            "messages": report.messages,
            "report": _summary(report),
        },
    )

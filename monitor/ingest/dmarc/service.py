"""Ingest one DMARC aggregate report: parse, derive each row's DMARC verdict and alignment,
and store it once (deduplicated by reporting org, report id and policy domain).

The one code path behind ``POST /api/v1/dmarc/reports``, ``delivermon ingest dmarc``
and the IMAP poller (``monitor.ingest.kinds``).

A report with more distinct rows than ``Limits.hand_over_rows`` is parsed in a thread
that hands its rows to the store in batches as it reads them (``_Stage``: each batch a
short transaction into a staging table); the report's own transaction then sums them
into its rows. Memory stays at one batch whatever the report's size, and the store's
writer is never held for the length of a parse.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import uuid
from collections.abc import Coroutine

from checks.domains import registered_domain
from monitor.ingest.dmarc import AggregateReport, PolicyPublished, parse_dmarc
from monitor.ingest.dmarc.model import ReportRow
from monitor.ingest.errors import MalformedReportError
from monitor.ingest.kinds import IngestContext, IngestOutcome
from monitor.model.errors import MonitorError
from monitor.offloop import THREAD_AFTER
from monitor.store import Store
from monitor.store.dmarc import DmarcReportRecord, DmarcRowRecord

__all__ = ["MAJOR_REPORTERS", "ingest_dmarc", "reporter_of"]

log = logging.getLogger(__name__)

# A report whose period ends later than this after its arrival is refused (clock skew
# and time zones aside, a period is reported once it has ended).
_FUTURE_SKEW = dt.timedelta(days=1)

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


def _row(policy: PolicyPublished, row: ReportRow) -> DmarcRowRecord:
    key = row.key
    header_from = key.header_from or policy.domain
    # Aligned passes from auth_results; a record that lists no DKIM (SPF) result there
    # has only the receiver's policy_evaluated verdict, which is the aligned result.
    if key.dkim_result:
        dkim_aligned = key.dkim_result == "pass" and _aligned(
            key.dkim_domain, header_from, policy.adkim
        )
    else:
        dkim_aligned = key.dkim == "pass"
    if key.spf_result:
        spf_aligned = key.spf_result == "pass" and _aligned(
            key.spf_domain, header_from, policy.aspf
        )
    else:
        spf_aligned = key.spf == "pass"
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


def _printable(text: str) -> str:
    """A report's own text for a log line: 64 characters at most, no control characters."""
    return "".join(c if c.isprintable() else "?" for c in text[:64])


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


class _InThread(Exception):  # noqa: N818 (a signal out of the parse, not an error)
    """A report parsed on the loop has more rows than one batch: parse it in a thread."""


class _NoStage:
    """The sink of a parse on the event loop, which must not wait for the store."""

    def rows(self, policy: PolicyPublished, rows: list[ReportRow]) -> None:
        raise _InThread

    def restart(self) -> None:
        pass


class _Stage:
    """Hands a report's rows to the store while a thread parses it (``RowSink``).

    Called in the parse's thread: each batch is written on the event loop and waited
    for, so at most one batch is in memory and a store failure stops the parse.
    """

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop):
        self.store = store
        self.loop = loop
        self.load = uuid.uuid4().hex
        self.used = False
        self.stopped = False

    def rows(self, policy: PolicyPublished, rows: list[ReportRow]) -> None:
        if self.stopped:
            raise asyncio.CancelledError  # the ingest was abandoned: stop parsing
        records = [_row(policy, row) for row in rows]
        del rows
        self.used = True
        # Stamped with the wall clock, not the ingest's (a caller's clock may be set back):
        # the dmarc job deletes staged rows a day old by the wall clock.
        at = dt.datetime.now(dt.UTC)
        self._wait(self.store.stage_dmarc_rows(self.load, records, at))

    def restart(self) -> None:
        if self.used:
            self._wait(self.store.drop_dmarc_stage(self.load))
            self.used = False

    def _wait(self, write: Coroutine[object, object, None]) -> None:
        asyncio.run_coroutine_threadsafe(write, self.loop).result()

    async def drop(self) -> None:
        """Forget what was staged (the report was refused or could not be stored)."""
        self.stopped = True
        if self.used:
            await self.store.drop_dmarc_stage(self.load)


async def _parse(raw: bytes, ctx: IngestContext) -> tuple[AggregateReport, _Stage | None]:
    if len(raw) <= THREAD_AFTER:  # past it, parsed in a thread: the loop keeps serving
        try:
            return parse_dmarc(raw, sink=_NoStage()), None
        except _InThread:
            pass
    stage = _Stage(ctx.store, asyncio.get_running_loop())
    try:
        return await asyncio.to_thread(parse_dmarc, raw, sink=stage), stage
    except BaseException:
        # Refused, or the store failed mid-report: what was staged goes (if the store
        # is down too, the dmarc job's purge deletes it later).
        with contextlib.suppress(MonitorError):
            await stage.drop()
        raise


async def ingest_dmarc(raw: bytes, ctx: IngestContext) -> IngestOutcome:
    """Store the aggregate report in ``raw`` once.

    Raises:
        NotDmarcError: readable mail or data without an aggregate report (422).
        MalformedReportError: a report that cannot be read, or hostile input (422).
        StoreUnavailableError: the store could not take it (nothing was stored).
    """
    report, stage = await _parse(raw, ctx)
    meta = report.metadata
    if meta.end > ctx.now + _FUTURE_SKEW:
        # A receiver reports a period after it ends: this one would sit in every
        # "last N days" window until its dates come, as mail nobody has seen yet.
        if stage is not None:
            with contextlib.suppress(MonitorError):
                await stage.drop()
        raise MalformedReportError("bad_date", "date_range ends in the future")
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
        rows=(_row(report.policy, row) for row in report.rows),
        raw=raw if ctx.store_raw else None,
        stage=stage.load if stage is not None and stage.used else None,
    )
    try:
        result = await ctx.store.add_dmarc_report(record)
    except BaseException:
        if stage is not None:
            with contextlib.suppress(MonitorError):
                await stage.drop()
        raise
    if report.warnings and not result.duplicate:
        # What was accepted but odd (invalid UTF-8 replaced, unknown result tokens, a
        # swapped date range): the report id and the codes, never its content.
        log.info(
            "DMARC report %s from %s stored with warnings: %s",
            _printable(meta.report_id),
            _printable(meta.org_name),
            ", ".join(report.warnings),
        )
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

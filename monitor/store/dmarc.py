"""DMARC aggregate reports in the store: add one (idempotent), and the queries the daemon's
classification job, the metrics and the API read.

Mixed into ``SqlStore``. A report is inserted with ``ON CONFLICT DO NOTHING`` on
(reporting org, report id, policy domain), its rows in the same transaction, so a
report re-sent through any channel, by any replica, is stored once.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.store.engine import Writer
from monitor.store.models import ReportResult
from monitor.store.plans import BindTime, Plan, Query, Statement
from monitor.store.schema import (
    MAX_DMARC_TEXT,
    cacheable_insert,
    dmarc_reports,
    dmarc_row_stage,
    dmarc_rows,
    dmarc_sources,
    feedback_reports,
)

__all__ = [
    "DmarcRecords",
    "DmarcReportRecord",
    "DmarcRowRecord",
    "DmarcSource",
    "DmarcTotal",
    "SourceFigures",
]

# Rows per INSERT statement: the bind values held at once, whatever the report's size.
ROW_BATCH = 1000
# A report's rows with the report: its domain, range and reporter are not repeated on
# each row (migration 0011), and the window's index is the report's (domain, end_at).
_ROWS = dmarc_rows.join(dmarc_reports, dmarc_rows.c.report == dmarc_reports.c.id)
_UPSERT_SOURCE = cacheable_insert(
    dmarc_sources,
    "ON CONFLICT (domain, source_ip) DO UPDATE SET classification = excluded.classification, "
    "ptr = excluded.ptr, classified_at = excluded.classified_at",
)


class DmarcRowRecord(NamedTuple):
    """One row of a report as stored (a tuple: made by the thousand per large report)."""

    source_ip: str
    header_from: str
    disposition: str
    dmarc: str  # pass | fail
    dkim_aligned: bool
    spf_aligned: bool
    dkim_domain: str
    dkim_selector: str
    dkim_result: str
    spf_domain: str
    spf_result: str
    messages: int


@dataclass(frozen=True, slots=True, repr=False)
class DmarcReportRecord:
    org: str
    report_id: str
    domain: str
    org_name: str
    reporter: str
    begin: dt.datetime
    end: dt.datetime
    received_at: dt.datetime
    records: int
    messages: int
    policy: str | None
    flavour: str
    # Read once, as the rows are written: a generator keeps a large report's rows from
    # being held twice (the parser's and these).
    rows: Iterable[DmarcRowRecord]
    raw: bytes | None = None
    # The load id under which ``stage_dmarc_rows`` handed over the report's other rows
    # (a report with more distinct rows than the parser holds at once), or None.
    stage: str | None = None

    def __repr__(self) -> str:
        return f"DmarcReportRecord(domain={self.domain!r}, records={self.records})"


@dataclass(frozen=True, slots=True)
class SourceFigures:
    """One source's mail for a domain over a window, as the reports give it."""

    source_ip: str
    messages: int
    dmarc_pass: int
    dmarc_fail: int
    dkim_aligned: int  # messages with an aligned DKIM pass
    spf_aligned: int


@dataclass(frozen=True, slots=True)
class DmarcSource:
    domain: str
    source_ip: str
    classification: str
    ptr: str | None
    classified_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DmarcTotal:
    """Messages of one (domain, source, reporter, dmarc, disposition) over all stored reports."""

    domain: str
    source_ip: str
    reporter: str
    dmarc: str
    disposition: str
    messages: int


def _clip(text: str) -> str:
    return text[:MAX_DMARC_TEXT]


class DmarcRecords:
    """DMARC aggregate reports over an async engine."""

    _engine: AsyncEngine
    _writer: Writer
    _bind_time: BindTime

    async def add_dmarc_report(self, record: DmarcReportRecord) -> ReportResult:
        """Store the report and its rows once; a report already stored is a duplicate.

        One transaction (a refusal or failure stores nothing); on SQLite one hand-off
        to the driver's thread for the whole of it, or none for a report of at most
        ``ROW_BATCH`` records with nothing staged (``Writer.run``'s ``small``).
        """
        small = record.stage is None and record.records <= ROW_BATCH
        return await self._writer.run(_add_report_plan(record, self._bind_time), small=small)

    async def stage_dmarc_rows(
        self, load: str, rows: Iterable[DmarcRowRecord], at: dt.datetime
    ) -> None:
        """Hand over a batch of a large report's rows ahead of the report (one short
        transaction); ``add_dmarc_report`` with ``stage=load`` sums them into the report.

        Raises:
            StoreUnavailableError: as ``add_dmarc_report``.
        """
        await self._writer.run(_stage_plan(load, rows, self._bind_time(at)))

    async def drop_dmarc_stage(self, load: str) -> None:
        """Delete what ``stage_dmarc_rows`` handed over under ``load`` (a refused report)."""
        await self._writer.run(_drop_stage_plan(load))

    async def purge_dmarc_stage(self, before: dt.datetime) -> int:
        """Delete staged rows older than ``before``: what a process killed mid-report left."""
        async with self._writer.begin() as conn:
            result = await conn.execute(
                delete(dmarc_row_stage).where(dmarc_row_stage.c.staged_at < before)
            )
            return int(result.rowcount or 0)

    async def dmarc_domains(self) -> list[str]:
        """Every policy domain with a stored report."""
        async with self._engine.connect() as conn:
            found = await conn.scalars(select(dmarc_reports.c.domain).distinct())
            return sorted(found)

    async def dmarc_source_figures(
        self, domain: str, since: dt.datetime | None = None
    ) -> list[SourceFigures]:
        """Per source IP: messages, DMARC pass/fail and aligned DKIM/SPF, most mail first."""
        passed = dmarc_rows.c.dmarc == "pass"
        query = (
            select(
                dmarc_rows.c.source_ip,
                func.sum(dmarc_rows.c.messages),
                func.sum(case((passed, dmarc_rows.c.messages), else_=0)),
                func.sum(case((passed, 0), else_=dmarc_rows.c.messages)),
                func.sum(case((dmarc_rows.c.dkim_aligned, dmarc_rows.c.messages), else_=0)),
                func.sum(case((dmarc_rows.c.spf_aligned, dmarc_rows.c.messages), else_=0)),
            )
            .select_from(_ROWS)
            .where(_window(domain, since))
            .group_by(dmarc_rows.c.source_ip)
            .order_by(func.sum(dmarc_rows.c.messages).desc(), dmarc_rows.c.source_ip)
        )
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [SourceFigures(str(r[0]), *(int(v or 0) for v in r[1:])) for r in rows]

    async def dmarc_report_count(self, domain: str, since: dt.datetime | None = None) -> int:
        query = (
            select(func.count()).select_from(dmarc_reports).where(dmarc_reports.c.domain == domain)
        )
        if since is not None:
            query = query.where(dmarc_reports.c.end_at >= since)
        async with self._engine.connect() as conn:
            return int(await conn.scalar(query) or 0)

    async def dmarc_selectors(
        self, domain: str, since: dt.datetime | None = None
    ) -> list[tuple[str, str, int]]:
        """(DKIM domain, selector, messages) of aligned DKIM passes."""
        query = (
            select(
                dmarc_rows.c.dkim_domain,
                dmarc_rows.c.dkim_selector,
                func.sum(dmarc_rows.c.messages),
            )
            .select_from(_ROWS)
            .where(and_(_window(domain, since), dmarc_rows.c.dkim_aligned))
            .group_by(dmarc_rows.c.dkim_domain, dmarc_rows.c.dkim_selector)
        )
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [(str(r[0]), str(r[1]), int(r[2] or 0)) for r in rows]

    async def dmarc_reporter_figures(
        self, domain: str, since: dt.datetime | None = None
    ) -> list[tuple[str, str, str, int]]:
        """(reporter, source IP, dmarc, messages): what each reporter saw from each source."""
        query = (
            select(
                dmarc_reports.c.reporter,
                dmarc_rows.c.source_ip,
                dmarc_rows.c.dmarc,
                func.sum(dmarc_rows.c.messages),
            )
            .select_from(_ROWS)
            .where(_window(domain, since))
            .group_by(dmarc_reports.c.reporter, dmarc_rows.c.source_ip, dmarc_rows.c.dmarc)
        )
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [(str(r[0]), str(r[1]), str(r[2]), int(r[3] or 0)) for r in rows]

    async def dmarc_totals(self, since: dt.datetime | None = None) -> list[DmarcTotal]:
        """Stored messages by (domain, source, reporter, dmarc, disposition), all or those of
        reports whose range ends at ``since`` or later."""
        columns = (
            dmarc_reports.c.domain,
            dmarc_rows.c.source_ip,
            dmarc_reports.c.reporter,
            dmarc_rows.c.dmarc,
            dmarc_rows.c.disposition,
        )
        query = (
            select(*columns, func.sum(dmarc_rows.c.messages)).select_from(_ROWS).group_by(*columns)
        )
        if since is not None:
            query = query.where(dmarc_reports.c.end_at >= since)
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [
                DmarcTotal(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), int(r[5] or 0))
                for r in rows
            ]

    async def dmarc_reporter_last_seen(self) -> list[tuple[str, str, dt.datetime]]:
        """(domain, reporter, the end of its latest report's range)."""
        query = select(
            dmarc_reports.c.domain, dmarc_reports.c.reporter, func.max(dmarc_reports.c.end_at)
        ).group_by(dmarc_reports.c.domain, dmarc_reports.c.reporter)
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [(str(r[0]), str(r[1]), _aware(r[2])) for r in rows]

    async def dmarc_failure_counts(self) -> dict[tuple[str, str], int]:
        """DMARC failure (auth-failure) reports stored, by (domain, Auth-Failure)."""
        r = feedback_reports.c
        query = (
            select(r.failure_domain, r.auth_failure, func.count())
            .where(r.feedback_type == "auth-failure")
            .group_by(r.failure_domain, r.auth_failure)
        )
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return {(str(row[0] or ""), str(row[1] or "")): int(row[2]) for row in rows}

    async def dmarc_sources(self, domain: str | None = None) -> list[DmarcSource]:
        query = select(dmarc_sources)
        if domain is not None:
            query = query.where(dmarc_sources.c.domain == domain)
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [
                DmarcSource(r.domain, r.source_ip, r.classification, r.ptr, _aware(r.classified_at))
                for r in rows
            ]

    async def save_dmarc_sources(self, sources: Sequence[DmarcSource]) -> None:
        if not sources:
            return
        async with self._writer.begin() as conn:
            await conn.execute(
                _UPSERT_SOURCE,
                [
                    {
                        "domain": s.domain,
                        "source_ip": s.source_ip,
                        "classification": s.classification,
                        "ptr": None if s.ptr is None else _clip(s.ptr),
                        "classified_at": s.classified_at,
                    }
                    for s in sorted(sources, key=lambda s: (s.domain, s.source_ip))
                ],
            )

    async def forget_dmarc_sources(self, domain: str, keep: Iterable[str]) -> None:
        """Drop classifications of sources no longer seen for ``domain``."""
        kept = set(keep)
        async with self._writer.begin() as conn:
            found = await conn.scalars(
                select(dmarc_sources.c.source_ip).where(dmarc_sources.c.domain == domain)
            )
            stale = sorted(set(found) - kept)
            for start in range(0, len(stale), 400):
                await conn.execute(
                    delete(dmarc_sources).where(
                        and_(
                            dmarc_sources.c.domain == domain,
                            dmarc_sources.c.source_ip.in_(stale[start : start + 400]),
                        )
                    )
                )


def _window(domain: str, since: dt.datetime | None) -> ColumnElement[bool]:
    """The rows of ``domain``'s reports whose range reaches into the window from
    ``since`` (ends at ``since`` or later: a daily report, sent once its day is over, is
    in a one-day window the day after); over ``_ROWS``, the report's domain and range
    being kept once, on the report."""
    condition = dmarc_reports.c.domain == domain
    if since is not None:
        condition = and_(condition, dmarc_reports.c.end_at >= since)
    return condition


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _add_report_plan(record: DmarcReportRecord, bind_time: BindTime) -> Plan[ReportResult]:
    new_id = uuid.uuid4().hex
    key = (_clip(record.org), _clip(record.report_id), _clip(record.domain))
    inserted = yield Query(
        Statement.INSERT_DMARC_REPORT,
        [
            (
                new_id,
                *key,
                _clip(record.org_name),
                record.reporter,
                bind_time(record.begin),
                bind_time(record.end),
                bind_time(record.received_at),
                record.records,
                record.messages,
                record.policy,
                record.flavour,
                record.raw,
            )
        ],
    )
    if not inserted:
        if record.stage is not None:
            yield Query(Statement.DROP_DMARC_STAGE, [(record.stage,)])
        found = yield Query(Statement.FIND_DMARC_REPORT, [key])
        return ReportResult(str(found[0][0]), True)
    head = (new_id,)
    if record.stage is None:
        rows = iter(record.rows)
        while batch := [_row(head, row) for row in itertools.islice(rows, ROW_BATCH)]:
            yield Query(Statement.INSERT_DMARC_ROWS, batch)
        return ReportResult(new_id, False)
    # The rows still in memory join the staged ones, and all are summed by row: a row
    # handed over in several batches is one row of the report, as if summed in memory.
    yield from _stage_plan(record.stage, record.rows, bind_time(record.received_at))
    yield Query(Statement.MOVE_DMARC_STAGE, [(new_id, record.stage)])
    yield Query(Statement.DROP_DMARC_STAGE, [(record.stage,)])
    return ReportResult(new_id, False)


def _stage_plan(load: str, rows: Iterable[DmarcRowRecord], at: object) -> Plan[None]:
    head = (load, at)
    remaining = iter(rows)
    while batch := [_row(head, row) for row in itertools.islice(remaining, ROW_BATCH)]:
        yield Query(Statement.INSERT_DMARC_STAGE, batch)


def _drop_stage_plan(load: str) -> Plan[None]:
    yield Query(Statement.DROP_DMARC_STAGE, [(load,)])


def _row(head: tuple[object, ...], row: DmarcRowRecord) -> tuple[object, ...]:
    return (
        *head,
        row.source_ip,
        _clip(row.header_from),
        row.disposition[:32],
        row.dmarc,
        row.dkim_aligned,
        row.spf_aligned,
        _clip(row.dkim_domain),
        _clip(row.dkim_selector),
        row.dkim_result[:32],
        _clip(row.spf_domain),
        row.spf_result[:32],
        row.messages,
    )

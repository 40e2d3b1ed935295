"""DMARC reports counted once each, in tallies the purges leave alone.

Mixed into ``SqlStore``. Failure reports are per-person data: the retention purge and an
erasure delete them; aggregate reports are purged after ``[dmarc] retention_days``. So
counting the stored rows would make ``delivermon_dmarc_failure_reports_total``,
``delivermon_dmarc_messages_total`` and ``delivermon_dmarc_reports_total`` fall (and
Prometheus read the fall as a counter reset, then count the remainder again). The
``dmarc`` job (one replica) instead adds the reports received since its last run to a
tally, in one transaction with its watermark (failure reports) or with each report's
``counted`` mark (aggregate reports); an aggregate report is purged only once counted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor.store.engine import Writer
from monitor.store.schema import (
    MAX_DMARC_TEXT,
    MAX_LABEL_LENGTH,
    cacheable_insert,
    dmarc_failure_tally,
    dmarc_message_tally,
    dmarc_report_tally,
    dmarc_reports,
    dmarc_rows,
    feedback_reports,
    tally_watermarks,
)

__all__ = ["UNCOUNTED_PER_RUN", "DmarcTally", "MessageTallyKey"]

_WATERMARK = "dmarc_failures"
# Set once the failure tally's rows are labels (a domain or "_other"), not raw domains.
_LABELLED = "dmarc_failures_labelled"
# Set once the message and report tallies' rows are labels, not raw domains and reporters.
_REPORTS_LABELLED = "dmarc_reports_labelled"
_LOCK = 0x646D61726366  # "dmarcf": the failure tally's transaction, one at a time
_TALLY_BATCH = 500  # aggregate reports counted or deleted per transaction
UNCOUNTED_PER_RUN = 10_000  # aggregate reports the dmarc job counts per run, at most
# (domain, classification, dmarc, disposition as reported)
MessageTallyKey = tuple[str, str, str, str]
_ADD_MESSAGES = cacheable_insert(
    dmarc_message_tally,
    "ON CONFLICT (domain, classification, dmarc, disposition) DO UPDATE "
    "SET messages = dmarc_message_tally.messages + excluded.messages",
)
_ADD_REPORTS = cacheable_insert(
    dmarc_report_tally,
    "ON CONFLICT (domain, reporter) DO UPDATE "
    "SET reports = dmarc_report_tally.reports + excluded.reports",
)
_ADD = cacheable_insert(
    dmarc_failure_tally,
    "ON CONFLICT (domain, auth_failure) DO UPDATE "
    "SET reports = dmarc_failure_tally.reports + excluded.reports",
)
_SET_WATERMARK = cacheable_insert(
    tally_watermarks, "ON CONFLICT (name) DO UPDATE SET at = excluded.at"
)


class DmarcTally:
    _engine: AsyncEngine
    _writer: Writer

    async def tally_dmarc_failures(
        self, until: dt.datetime, label: Callable[[str], str] = lambda domain: domain
    ) -> dict[tuple[str, str], int]:
        """Add the failure reports received after the last call and up to ``until`` to the
        tally, each under ``label(its domain)``; return the whole tally, by (label,
        Auth-Failure token).

        A report stays under the label it was counted under: a domain that later gets a
        label of its own (configured, say) starts at 0, and what was counted as
        ``_other`` stays there, so no series of the counter falls. Rows written before
        labels were (raw domains) are labelled once, at the first call.

        ``until`` should lie a little in the past (the caller's settling time): a report
        whose transaction commits after a call has counted up to its ``received_at`` would
        otherwise be missed. A report erased or purged before it was counted is not counted.
        """
        r = feedback_reports.c
        async with self._writer.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Two tallies at once (SQLite's writer lock does this there) would both read
                # the same watermark and count the same reports twice.
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
            labelled = await conn.scalar(
                select(tally_watermarks.c.at).where(tally_watermarks.c.name == _LABELLED)
            )
            if labelled is None:
                await _relabel(conn, label)
                await _set_watermark(conn, until, _LABELLED)
            since = await conn.scalar(
                select(tally_watermarks.c.at).where(tally_watermarks.c.name == _WATERMARK)
            )
            if since is None or until > since:
                query = (
                    select(r.failure_domain, r.auth_failure, func.count())
                    .where(r.feedback_type == "auth-failure", r.received_at <= until)
                    .group_by(r.failure_domain, r.auth_failure)
                )
                if since is not None:
                    query = query.where(r.received_at > since)
                added: dict[tuple[str, str], int] = {}
                for row in await conn.execute(query):
                    domain = label(str(row[0] or ""))
                    key = (domain[:MAX_DMARC_TEXT], str(row[1] or "")[:MAX_LABEL_LENGTH])
                    added[key] = added.get(key, 0) + int(row[2])
                await _add_failures(conn, added)
                await _set_watermark(conn, until, _WATERMARK)
            rows = await conn.execute(select(dmarc_failure_tally))
            return {(row.domain, row.auth_failure): int(row.reports) for row in rows}

    async def uncounted_dmarc_reports(self, limit: int = UNCOUNTED_PER_RUN) -> list[str]:
        """Ids of the aggregate reports ``tally_dmarc_reports`` has not counted yet, at most
        ``limit``, those received first first (a backlog is counted over several runs)."""
        p = dmarc_reports.c
        query = select(p.id).where(p.counted.is_(False)).order_by(p.received_at).limit(limit)
        async with self._engine.connect() as conn:
            return list(await conn.scalars(query))

    async def dmarc_failure_tally(self) -> dict[tuple[str, str], int] | None:
        """The failure tally as counted so far (by label and Auth-Failure token), without
        counting anything; None while its rows are raw domains (not labelled yet)."""
        async with self._engine.connect() as conn:
            labelled = await conn.scalar(
                select(tally_watermarks.c.at).where(tally_watermarks.c.name == _LABELLED)
            )
            if labelled is None:
                return None
            rows = await conn.execute(select(dmarc_failure_tally))
            return {(row.domain, row.auth_failure): int(row.reports) for row in rows}

    async def dmarc_tallies_labelled(self) -> bool:
        """Whether the message and report tallies hold labels (``relabel_dmarc_tallies``
        has run once, or the store was made since labels are)."""
        async with self._engine.connect() as conn:
            found = await conn.scalar(
                select(tally_watermarks.c.at).where(tally_watermarks.c.name == _REPORTS_LABELLED)
            )
        return found is not None

    async def relabel_dmarc_tallies(
        self,
        domain: Callable[[str], str],
        reporter: Callable[[str], str],
        at: dt.datetime,
    ) -> None:
        """Move the tallies' rows written under raw domains and reporters under their
        labels (``domain``, ``reporter``: the mapping the export read them through, so no
        series changes), once; later calls do nothing."""
        async with self._writer.begin() as conn:
            done = await conn.scalar(
                select(tally_watermarks.c.at).where(tally_watermarks.c.name == _REPORTS_LABELLED)
            )
            if done is not None:
                return
            messages: dict[MessageTallyKey, int] = {}
            for row in (await conn.execute(select(dmarc_message_tally))).all():
                key = (domain(row.domain), row.classification, row.dmarc, row.disposition)
                messages[key] = messages.get(key, 0) + int(row.messages)
            reports: dict[tuple[str, str], int] = {}
            for row in (await conn.execute(select(dmarc_report_tally))).all():
                pair = (domain(row.domain), reporter(row.reporter))
                reports[pair] = reports.get(pair, 0) + int(row.reports)
            await conn.execute(delete(dmarc_message_tally))
            await conn.execute(delete(dmarc_report_tally))
            await _add_messages(conn, messages)
            await _add_reports(conn, reports)
            await _set_watermark(conn, at, _REPORTS_LABELLED)

    async def tally_dmarc_reports(
        self,
        ids: Sequence[str],
        classify: Callable[[str, str], str],
        domain: Callable[[str], str] = lambda name: name,
        reporter: Callable[[str], str] = lambda name: name,
    ) -> tuple[dict[MessageTallyKey, int], dict[tuple[str, str], int]]:
        """Add the reports ``ids`` not counted yet to the tallies and mark them counted;
        return both whole tallies: messages by (domain, classification, dmarc, disposition
        as reported) and reports by (domain, reporter).

        Each report is counted under ``domain(its policy domain)`` and ``reporter(its
        reporter)``, the labels it keeps (so no series of the counters falls when the
        labels would be chosen otherwise later).

        ``classify(domain, source_ip)`` names each row's class, as the counter labels it
        from then on: the caller takes ``ids`` (``uncounted_dmarc_reports``) before it
        classifies, so every source of them has had its chance; a report stored since is
        counted by the next call. A batch of reports per transaction, each counted with
        its mark, so a report is never counted twice.
        """
        p, r = dmarc_reports.c, dmarc_rows.c
        for start in range(0, len(ids), _TALLY_BATCH):
            async with self._writer.begin() as conn:
                # Claimed first: a concurrent transaction marking the same reports waits for
                # this one's row locks, then finds them counted (never counted twice).
                batch = list(
                    await conn.scalars(
                        update(dmarc_reports)
                        .where(p.id.in_(ids[start : start + _TALLY_BATCH]), p.counted.is_(False))
                        .values(counted=True)
                        .returning(p.id)
                    )
                )
                if not batch:
                    continue
                columns = (p.domain, r.source_ip, r.dmarc, r.disposition)
                rows = await conn.execute(
                    select(*columns, func.sum(r.messages))
                    .select_from(dmarc_rows.join(dmarc_reports, r.report == p.id))
                    .where(r.report.in_(batch))
                    .group_by(*columns)
                    # Labels go to the first counted (``domain`` is called in this order):
                    # in the order the reports arrived, not the database's hash order.
                    .order_by(func.min(p.received_at), *columns)
                )
                messages: dict[MessageTallyKey, int] = {}
                for name, ip, dmarc, disposition, n in rows:
                    cls = classify(name, ip)
                    key = (domain(name), cls, dmarc, disposition[:MAX_LABEL_LENGTH])
                    messages[key] = messages.get(key, 0) + int(n or 0)
                await _add_messages(conn, messages)
                reports = await conn.execute(
                    select(p.domain, p.reporter, func.count())
                    .where(p.id.in_(batch))
                    .group_by(p.domain, p.reporter)
                    .order_by(func.min(p.received_at), p.domain, p.reporter)
                )
                summed: dict[tuple[str, str], int] = {}
                for d, rep, n in reports:
                    pair = (domain(d), reporter(rep))
                    summed[pair] = summed.get(pair, 0) + int(n)
                await _add_reports(conn, summed)
        async with self._engine.connect() as conn:
            message_tally = {
                (row.domain, row.classification, row.dmarc, row.disposition): int(row.messages)
                for row in await conn.execute(select(dmarc_message_tally))
            }
            report_tally = {
                (row.domain, row.reporter): int(row.reports)
                for row in await conn.execute(select(dmarc_report_tally))
            }
        return message_tally, report_tally

    async def purge_dmarc_reports(self, before: dt.datetime) -> int:
        """Delete the aggregate reports (and their rows) received before ``before`` that
        ``tally_dmarc_reports`` has counted, a batch per transaction; return how many."""
        p = dmarc_reports.c
        purged = 0
        while True:
            async with self._writer.begin() as conn:
                ids = list(
                    await conn.scalars(
                        select(p.id)
                        .where(p.counted.is_(True), p.received_at < before)
                        .limit(_TALLY_BATCH)
                    )
                )
                if not ids:
                    return purged
                await conn.execute(delete(dmarc_rows).where(dmarc_rows.c.report.in_(ids)))
                await conn.execute(delete(dmarc_reports).where(p.id.in_(ids)))
                purged += len(ids)


async def _add_messages(conn: AsyncConnection, messages: dict[MessageTallyKey, int]) -> None:
    if messages:
        await conn.execute(
            _ADD_MESSAGES,
            [
                {"domain": d, "classification": c, "dmarc": x, "disposition": p, "messages": n}
                for (d, c, x, p), n in messages.items()
            ],
        )


async def _add_reports(conn: AsyncConnection, reports: dict[tuple[str, str], int]) -> None:
    if reports:
        await conn.execute(
            _ADD_REPORTS,
            [{"domain": d, "reporter": rep, "reports": n} for (d, rep), n in reports.items()],
        )


async def _add_failures(conn: AsyncConnection, failures: dict[tuple[str, str], int]) -> None:
    if failures:
        await conn.execute(
            _ADD,
            [{"domain": d, "auth_failure": a, "reports": n} for (d, a), n in failures.items()],
        )


async def _relabel(conn: AsyncConnection, label: Callable[[str], str]) -> None:
    """Rows counted under raw domains (before labels were) moved under their label now:
    the export read them through the same ``label``, so no series changes here."""
    t = dmarc_failure_tally.c
    moved: dict[tuple[str, str], int] = {}
    for row in (await conn.execute(select(dmarc_failure_tally))).all():
        target = label(row.domain)[:MAX_DMARC_TEXT]
        if target != row.domain:
            await conn.execute(
                delete(dmarc_failure_tally).where(
                    t.domain == row.domain, t.auth_failure == row.auth_failure
                )
            )
            key = (target, row.auth_failure)
            moved[key] = moved.get(key, 0) + int(row.reports)
    await _add_failures(conn, moved)


async def _set_watermark(conn: AsyncConnection, at: dt.datetime, name: str) -> None:
    await conn.execute(_SET_WATERMARK, [{"name": name, "at": at}])

"""Per-person data in the store: export, erasure, suppression look-ups and retention.

The base of ``SqlStore``; everything here is keyed by pseudonym or by age, never
by address. Suppressions survive erasure and retention: they honour opt-outs.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor.store.audits import tally_audits
from monitor.store.engine import Writer
from monitor.store.errors import StoreUnavailableError
from monitor.store.models import (
    EraseResult,
    EventView,
    PurgeResult,
    ReportView,
    SubjectExport,
    SuppressionReason,
    SuppressionView,
)
from monitor.store.rawmentions import address_pattern, names_address
from monitor.store.schema import (
    cacheable_insert,
    event_keys,
    events,
    feedback_reports,
    report_recipients,
    store_keys,
    suppressions,
)

__all__ = ["KeyCheck", "SubjectRecords"]

log = logging.getLogger(__name__)

_RAW_BATCH = 200  # raw copies read at a time when looking for an address in them


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    """Bound the parameters of one IN list (SQLite allows 32,766)."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


_PSEUDONYM_KEY = "pseudonym"
_RECORD_KEY = cacheable_insert(store_keys, "ON CONFLICT (name) DO NOTHING")
_REPLACE_KEY = cacheable_insert(
    store_keys,
    "ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint, "
    "recorded_at = excluded.recorded_at",
)


class KeyCheck(enum.Enum):
    """What the store says of the pseudonym key it is opened with (``check_pseudonym_key``)."""

    MATCHES = "matches"  # the key the store's pseudonyms were made with
    RECORDED = "recorded"  # the first key used with this store: recorded now
    OTHER_KEY = "other_key"  # the store's pseudonyms were made with another key
    UNKNOWN_KEY = "unknown_key"  # a key just created, and pseudonyms already stored


_REPORT_VIEW = (
    feedback_reports.c.id,
    feedback_reports.c.received_at,
    feedback_reports.c.arrival_date,
    feedback_reports.c.feedback_type,
    feedback_reports.c.campaign,
    feedback_reports.c.provider,
    feedback_reports.c.source_ip,
    feedback_reports.c.reporter,
    feedback_reports.c.user_agent,
    feedback_reports.c.list_unsubscribe_https,
    feedback_reports.c.list_unsubscribe_one_click,
    feedback_reports.c.dkim_covers_list_unsubscribe,
    feedback_reports.c.feedback_id_valid,
    feedback_reports.c.auth_failure,
    feedback_reports.c.identity_alignment,
    feedback_reports.c.failure_domain,
    # The raw message is not exported (it names the report's other recipients too);
    # whether one is kept is.
    feedback_reports.c.raw.is_not(None).label("raw_stored"),
)
# Every column of a report but its key, its SHA-256 and the raw message; every column of
# an event but its row id and the pseudonym (tests/integration/test_store_subjects.py
# checks both lists against the tables).
_EVENT_VIEW = (
    events.c.type,
    events.c.campaign,
    events.c.provider,
    events.c.occurred_at,
    events.c.source,
    events.c.bounce_kind,
    events.c.feedback_type,
    events.c.scope,
    events.c.bounce_class,
    events.c.blocklist,
    events.c.reply_status,
    events.c.reply_enhanced,
    events.c.reply_text,
)


class SubjectRecords:
    """Subject access, erasure, suppression and retention over an async engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = Writer(engine)

    async def _empty_wal(self, after: str) -> None:
        """After a deletion of personal data: on SQLite, empty the WAL file, where the rows
        as they were stay until later writes overwrite them (the deletion is committed:
        a failure here is logged, not raised)."""
        try:
            emptied = await self._writer.empty_wal()
        except StoreUnavailableError as exc:
            log.warning("after the %s the WAL file could not be emptied: %s", after, exc)
            return
        if not emptied:
            log.warning(
                "after the %s a reader kept the WAL file from being emptied: what was deleted "
                "stays in it until later writes overwrite it",
                after,
            )

    async def export_subject(self, pseudonym: str, *, address: str | None = None) -> SubjectExport:
        """Everything stored about one person: reports, events, suppressions. With the
        ``address``, also the reports whose raw copy names it without a link to the person
        (see ``monitor.store.rawmentions``)."""
        reported = select(report_recipients.c.report_id).where(
            report_recipients.c.pseudonym == pseudonym
        )
        mentioned = await self._raw_mentions(address) if address is not None else []
        async with self._engine.connect() as conn:
            reports = await conn.execute(
                select(*_REPORT_VIEW)
                .where(feedback_reports.c.id.in_(reported) | feedback_reports.c.id.in_(mentioned))
                .order_by(feedback_reports.c.received_at, feedback_reports.c.id)
            )
            report_views = tuple(
                ReportView(**{**row._asdict(), "raw_stored": bool(row.raw_stored)})
                for row in reports
            )
            found = await conn.execute(
                select(*_EVENT_VIEW)
                .where(events.c.pseudonym == pseudonym)
                .order_by(events.c.occurred_at, events.c.id)
            )
            event_views = tuple(EventView(*row) for row in found)
            marks = await conn.execute(
                select(suppressions.c.reason, suppressions.c.first_at)
                .where(suppressions.c.pseudonym == pseudonym)
                .order_by(suppressions.c.first_at, suppressions.c.reason)
            )
            suppression_views = tuple(
                SuppressionView(SuppressionReason(row.reason), row.first_at) for row in marks
            )
        return SubjectExport(pseudonym, report_views, event_views, suppression_views)

    async def erase_subject(self, pseudonym: str, *, address: str | None = None) -> EraseResult:
        """Delete the person's events and their link to each report, with each report's
        raw copy; keep the suppression marker and say so. With the ``address``, also the
        raw copy of every report that names it without a link (an original's ``To:``).

        GDPR Art. 17(3) / 21: the pseudonymous marker is what keeps honouring the
        opt-out; without it the next import would mail the person again. What is left of
        a report names no one (its other recipients keep their links): its SHA-256 makes
        the same report re-sent a duplicate, where it would be stored and linked to the
        person again; the retention purge deletes it like any other.
        """
        async with self._writer.begin() as conn:
            found = await conn.execute(
                select(report_recipients.c.report_id).where(
                    report_recipients.c.pseudonym == pseudonym
                )
            )
            report_ids = sorted(found.scalars())
            reports = 0
            if report_ids:
                unlinked = await conn.execute(
                    delete(report_recipients).where(report_recipients.c.pseudonym == pseudonym)
                )
                reports = unlinked.rowcount
            raw_copies = 0
            mentioned = await self._raw_mentions(address, conn) if address is not None else []
            for chunk in _chunks(sorted(set(report_ids) | set(mentioned))):
                cleared = await conn.execute(
                    update(feedback_reports)
                    .where(feedback_reports.c.id.in_(chunk), feedback_reports.c.raw.is_not(None))
                    .values(raw=None)
                )
                raw_copies += cleared.rowcount
            deleted = await conn.execute(delete(events).where(events.c.pseudonym == pseudonym))
            kept = await conn.scalars(
                select(suppressions.c.reason).where(suppressions.c.pseudonym == pseudonym)
            )
            reasons = tuple(sorted(set(kept)))
        await self._empty_wal("erasure")
        return EraseResult(
            reports=reports,
            events=deleted.rowcount,
            suppression_kept=bool(reasons),
            raw_copies=raw_copies,
            suppression_reasons=reasons,
        )

    async def _raw_mentions(self, address: str, conn: AsyncConnection | None = None) -> list[str]:
        """The ids of the feedback reports whose raw copy names ``address``, read a batch
        of raw copies at a time (in ``conn``'s transaction when given)."""
        pattern = address_pattern(address)
        found: list[str] = []
        last = ""  # report ids are strings: the batches go in their order
        while True:
            query = (
                select(feedback_reports.c.id, feedback_reports.c.raw)
                .where(feedback_reports.c.raw.is_not(None), feedback_reports.c.id > last)
                .order_by(feedback_reports.c.id)
                .limit(_RAW_BATCH)
            )
            if conn is not None:
                rows = (await conn.execute(query)).all()
            else:
                async with self._engine.connect() as reader:
                    rows = (await reader.execute(query)).all()
            if not rows:
                return found
            found += [row.id for row in rows if names_address(bytes(row.raw), pattern)]
            last = rows[-1].id

    async def is_suppressed(self, pseudonym: str) -> bool:
        """Whether the person unsubscribed, complained or hard-bounced, ever."""
        async with self._engine.connect() as conn:
            found = await conn.scalar(select(exists().where(suppressions.c.pseudonym == pseudonym)))
        return bool(found)

    async def check_pseudonym_key(
        self, fingerprint: str, *, key_is_new: bool, now: dt.datetime
    ) -> KeyCheck:
        """Compare the key's fingerprint with the one recorded; record it on first use.

        A store that has no fingerprint yet (created before migration 0010) takes the
        key it is opened with, unless that key was created just now while pseudonyms
        are already stored: then the key they were made with has been lost.
        """
        async with self._writer.begin() as conn:
            recorded = await conn.scalar(
                select(store_keys.c.fingerprint).where(store_keys.c.name == _PSEUDONYM_KEY)
            )
            if recorded is not None:
                return KeyCheck.MATCHES if recorded == fingerprint else KeyCheck.OTHER_KEY
            if key_is_new and await conn.scalar(
                select(
                    exists(select(events.c.id))
                    | exists(select(suppressions.c.pseudonym))
                    | exists(select(report_recipients.c.pseudonym))
                )
            ):
                return KeyCheck.UNKNOWN_KEY
            await conn.execute(
                _RECORD_KEY,
                {"name": _PSEUDONYM_KEY, "fingerprint": fingerprint, "recorded_at": now},
            )
            again = await conn.scalar(  # another replica may have recorded one meanwhile
                select(store_keys.c.fingerprint).where(store_keys.c.name == _PSEUDONYM_KEY)
            )
        return KeyCheck.RECORDED if again == fingerprint else KeyCheck.OTHER_KEY

    async def replace_pseudonym_key(self, fingerprint: str, now: dt.datetime) -> None:
        """Record ``fingerprint`` as the store's key, whatever was recorded before
        (``delivermon subject accept-key``, after the old key was lost)."""
        async with self._writer.begin() as conn:
            await conn.execute(
                _REPLACE_KEY,
                {"name": _PSEUDONYM_KEY, "fingerprint": fingerprint, "recorded_at": now},
            )

    async def purge(self, before: dt.datetime) -> PurgeResult:
        """Retention: delete events, reports (raw ones too) and idempotency keys older than
        ``before``. Aggregated counters and suppressions stay; the deleted reports' audit
        counts are added to ``audit_tally``.
        """
        old_reports = select(feedback_reports.c.id).where(feedback_reports.c.received_at < before)
        async with self._writer.begin() as conn:
            await tally_audits(conn, before)  # the audit counter must not fall
            await conn.execute(
                delete(report_recipients).where(report_recipients.c.report_id.in_(old_reports))
            )
            reports = await conn.execute(
                delete(feedback_reports).where(feedback_reports.c.received_at < before)
            )
            old_events = await conn.execute(delete(events).where(events.c.occurred_at < before))
            keys = await conn.execute(delete(event_keys).where(event_keys.c.seen_at < before))
        if old_events.rowcount or reports.rowcount:
            await self._empty_wal("retention purge")
        return PurgeResult(
            events=old_events.rowcount, reports=reports.rowcount, idempotency_keys=keys.rowcount
        )

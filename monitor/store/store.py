"""The SQL store: ``open_store(url)`` migrates and returns a ``SqlStore`` over SQLite or PostgreSQL.

Each write is one transaction and safe with several replicas writing at once:
counters are atomic upserts (``SET n = n + excluded.n``) applied in a fixed
key order (no deadlocks between replicas), idempotency keys are claimed with
``INSERT ... ON CONFLICT DO NOTHING RETURNING``, so exactly one writer of a
re-delivered event counts it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Insert, RowMapping, Table, and_, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor.events import Category, Consent, Event, EventType
from monitor.privacy import Pseudonymizer
from monitor.store import batch
from monitor.store.audits import AuditQueries
from monitor.store.engine import build_engine, migrate
from monitor.store.errors import StoreUnavailableError
from monitor.store.models import (
    AddResult,
    Campaign,
    ReportRecord,
    ReportResult,
    Store,
    SuppressionReason,
    WindowRates,
)
from monitor.store.rates import (
    DEFAULT_GUARD,
    CountRow,
    Dimension,
    Totals,
    VolumeGuard,
    Window,
    floor_hour,
    group_rows,
    window_start,
)
from monitor.store.schema import (
    COUNTER_COLUMNS,
    MAX_CAMPAIGN_LENGTH,
    campaigns,
    counters,
    event_keys,
    events,
    feedback_reports,
    report_recipients,
    sqlite_datetime,
    suppressions,
)
from monitor.store.state import StateRecords
from monitor.store.subjects import SubjectRecords
from monitor.store.url import async_url

__all__ = ["SqlStore", "open_store"]

log = logging.getLogger(__name__)
_DIMENSIONS = (counters.c.campaign, counters.c.provider, counters.c.category, counters.c.consent)
_OPT_OUTS = (SuppressionReason.UNSUBSCRIBE.value, SuppressionReason.COMPLAINT.value)


def _upsert(table: Table, on_conflict: str) -> Insert:
    """A plain (cacheable) ``INSERT`` with an ``ON CONFLICT`` clause as SQL text.

    SQLAlchemy 2.0's dialect ``Insert`` and its ``on_conflict_do_*`` clauses have no
    cache key, so every statement built with them is compiled again on every
    execution. A ``TextClause`` in the post-VALUES position is cacheable, and this
    ``ON CONFLICT`` syntax is the same on SQLite (3.35+) and PostgreSQL. The statement
    stays an ``Insert``: typed columns, and executemany with ``RETURNING`` still goes
    through insertmanyvalues (multi-row VALUES) on both aiosqlite and asyncpg.
    """
    stmt = insert(table)
    stmt._post_values_clause = text(on_conflict)
    return stmt


_INSERT_REPORT = _upsert(feedback_reports, "ON CONFLICT (raw_sha256) DO NOTHING").returning(
    feedback_reports.c.id
)
_CLAIM_KEYS = _upsert(event_keys, "ON CONFLICT DO NOTHING").returning(
    event_keys.c.source, event_keys.c.key_sha256
)
_UPSERT_SUPPRESSIONS = _upsert(
    suppressions,
    "ON CONFLICT (pseudonym, reason) DO UPDATE SET first_at = excluded.first_at"
    " WHERE excluded.first_at < suppressions.first_at",
)
_UPSERT_COUNTERS = _upsert(
    counters,
    "ON CONFLICT (campaign, provider, category, consent, bucket) DO UPDATE SET "
    + ", ".join(f"{name} = counters.{name} + excluded.{name}" for name in COUNTER_COLUMNS),
)
# Positional (qmark) SQL of the same statement, for the driver on SQLite.
_UPSERT_COUNTERS_SQLITE = str(_UPSERT_COUNTERS.compile(dialect=sqlite.dialect()))


async def open_store(url: str) -> SqlStore:
    """Open the database at ``url`` and bring its schema to the latest revision.

    Raises:
        StoreUrlError: not a ``sqlite:///PATH`` or ``postgresql://`` URL.
        StoreUnavailableError: the database cannot be reached or migrated.
    """
    parsed = async_url(url)
    engine = build_engine(parsed)
    try:
        await migrate(engine)
    # Broad on purpose: asyncpg raises its own exceptions on connect, unwrapped by
    # SQLAlchemy; whatever the driver, a store that cannot open is unavailable.
    except Exception as exc:
        await engine.dispose()
        raise StoreUnavailableError(f"cannot open the store: {type(exc).__name__}") from exc
    log.info("store opened", extra={"store": parsed.render_as_string(hide_password=True)})
    return SqlStore(engine)


# Group commit of feedback reports: at most this many reports per transaction.
_MAX_REPORT_GROUP = 64


@dataclass(slots=True)
class _PendingReport:
    """A report waiting for the next group commit, and its caller's future."""

    row: dict[str, Any]
    recipients: list[str]
    prepared: list[batch.PreparedEvent]
    future: asyncio.Future[ReportResult]


class SqlStore(SubjectRecords, AuditQueries, StateRecords):
    """``Store`` over an async SQLAlchemy engine (aiosqlite or asyncpg)."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self._pending_reports: list[_PendingReport] = []
        self._report_task: asyncio.Task[None] | None = None

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def close(self) -> None:
        if self._report_task is not None:
            await self._report_task  # answer the reports already queued
        await self._engine.dispose()

    async def ping(self) -> None:
        """Raises StoreUnavailableError when the database does not answer."""
        try:
            async with self._engine.connect() as conn:
                await conn.execute(select(1))
        except Exception as exc:  # the readiness probe: any driver failure means not ready
            raise StoreUnavailableError(f"store did not answer: {type(exc).__name__}") from exc

    # --- writes -------------------------------------------------------------

    async def add_events(self, events: Sequence[Event], pseudonymizer: Pseudonymizer) -> AddResult:
        """Count the events once each, in one transaction; a re-delivered key is a duplicate.

        Raises:
            PrivacyError: a recipient is not an address (nothing is written).
            ValueError: a campaign name is empty or too long (nothing is written).
        """
        prepared = batch.prepare_events(events, pseudonymizer)
        async with self._writer.begin() as conn:
            return await self._add_prepared(conn, prepared)

    async def add_report(
        self,
        record: ReportRecord,
        events: Sequence[Event],
        pseudonymizer: Pseudonymizer,
        *,
        store_raw: bool = False,
    ) -> ReportResult:
        """Store a feedback report and its events once; the same raw report again is a duplicate.

        The raw message is kept only with ``store_raw`` (``[privacy] store_raw``).

        Raises:
            PrivacyError: a recipient is not an address (nothing is written).
        """
        recipients = sorted({pseudonymizer.pseudonym(r) for r in record.recipients})
        prepared = batch.prepare_events(events, pseudonymizer)
        row = _report_row(record, store_raw=store_raw)
        pending = _PendingReport(
            row, recipients, prepared, asyncio.get_running_loop().create_future()
        )
        self._pending_reports.append(pending)
        if self._report_task is None or self._report_task.done():
            self._report_task = asyncio.create_task(self._commit_reports())
        return await pending.future

    async def _commit_reports(self) -> None:
        """Group commit: the reports queued meanwhile go into one transaction.

        Each caller is answered after the commit that holds its report. When a
        group fails, its reports are retried one per transaction, so one bad report
        fails alone.
        """
        await asyncio.sleep(0)  # let the callers already running join the first group
        while self._pending_reports:
            group = self._pending_reports[:_MAX_REPORT_GROUP]
            del self._pending_reports[:_MAX_REPORT_GROUP]
            group = [p for p in group if not p.future.done()]  # callers gone: not stored
            if not group:
                continue
            try:
                results = await self._store_reports(group)
            except asyncio.CancelledError:
                for pending in group:
                    _settle(pending.future, StoreUnavailableError("the store is closing"))
                raise
            except Exception as exc:  # any failure: isolate it by retrying one by one
                if len(group) == 1:
                    _settle(group[0].future, exc)
                    continue
                for pending in group:
                    try:
                        (result,) = await self._store_reports([pending])
                    except Exception as one_exc:
                        _settle(pending.future, one_exc)
                    else:
                        _settle(pending.future, result)
            else:
                for pending, result in zip(group, results, strict=True):
                    _settle(pending.future, result)

    async def _store_reports(self, group: list[_PendingReport]) -> list[ReportResult]:
        """Store the reports in one transaction, as if one after the other, in order."""
        first: dict[str, _PendingReport] = {}
        for pending in group:
            first.setdefault(pending.row["raw_sha256"], pending)
        async with self._writer.begin() as conn:
            # One key order for every writer (the unique index on raw_sha256).
            rows = sorted((p.row for p in first.values()), key=lambda r: str(r["raw_sha256"]))
            inserted = await conn.execute(_INSERT_REPORT, rows)
            new_ids = set(inserted.scalars())
            new = [p for p in first.values() if p.row["id"] in new_ids]
            existing: dict[str, str] = {}
            if len(new) < len(first):
                found = await conn.execute(
                    select(feedback_reports.c.raw_sha256, feedback_reports.c.id).where(
                        feedback_reports.c.raw_sha256.in_(
                            sorted(sha for sha, p in first.items() if p.row["id"] not in new_ids)
                        )
                    )
                )
                existing = {row.raw_sha256: row.id for row in found}
            recipients = [
                {"report_id": p.row["id"], "pseudonym": pseudonym}
                for p in new
                for pseudonym in p.recipients
            ]
            if recipients:
                await conn.execute(report_recipients.insert(), recipients)
            if any(i.event.type is EventType.SENT for p in new for i in p.prepared):
                # Sends are checked against opt-outs: keep each report's own view.
                for p in new:
                    await self._add_prepared(conn, p.prepared)
            else:
                await self._add_prepared(conn, [i for p in new for i in p.prepared])
        results = []
        for pending in group:
            owner = first[pending.row["raw_sha256"]]
            if owner.row["id"] not in new_ids:
                results.append(ReportResult(existing[pending.row["raw_sha256"]], duplicate=True))
            else:
                results.append(ReportResult(owner.row["id"], duplicate=owner is not pending))
        return results

    async def _add_prepared(
        self, conn: AsyncConnection, prepared: list[batch.PreparedEvent]
    ) -> AddResult:
        unique, duplicates = batch.split_in_batch_duplicates(prepared)
        accepted = await self._claim_keys(conn, unique)
        duplicates += len(unique) - len(accepted)
        if not accepted:
            return AddResult(0, duplicates)
        labels = await self._campaign_labels(conn, {i.event.campaign for i in accepted})
        await self._upsert_suppressions(conn, batch.suppression_rows(accepted))
        violating = await self._violating_sends(conn, batch.deadline_candidates(accepted, labels))
        await self._upsert_counters(conn, batch.counter_deltas(accepted, labels, violating))
        personal = [_event_row(i) for i in accepted if i.pseudonym is not None]
        if personal:
            await conn.execute(events.insert(), personal)
        return AddResult(len(accepted), duplicates)

    async def _claim_keys(
        self, conn: AsyncConnection, unique: list[batch.PreparedEvent]
    ) -> list[batch.PreparedEvent]:
        """The events whose (source, key) this transaction inserted first, plus unkeyed ones."""
        keyed = sorted(
            {(i.event.source.value, i.key_sha256) for i in unique if i.key_sha256 is not None}
        )
        claimed: set[tuple[str, str]] = set()
        if keyed:
            now = dt.datetime.now(dt.UTC)
            result = await conn.execute(
                _CLAIM_KEYS,
                [{"source": s, "key_sha256": k, "seen_at": now} for s, k in keyed],
            )
            claimed = set(map(tuple, result.tuples()))
        return [
            i
            for i in unique
            if i.key_sha256 is None or (i.event.source.value, i.key_sha256) in claimed
        ]

    async def _campaign_labels(self, conn: AsyncConnection, ids: set[str]) -> batch.CampaignLabels:
        result = await conn.execute(
            select(campaigns.c.id, campaigns.c.category, campaigns.c.consent).where(
                campaigns.c.id.in_(sorted(ids))
            )
        )
        return {
            row.id: (
                Category(row.category) if row.category else None,
                Consent(row.consent) if row.consent else None,
            )
            for row in result
        }

    async def _upsert_suppressions(
        self, conn: AsyncConnection, rows: dict[tuple[str, SuppressionReason], dt.datetime]
    ) -> None:
        if not rows:
            return
        await conn.execute(
            _UPSERT_SUPPRESSIONS,
            [
                {"pseudonym": p, "reason": r.value, "first_at": at}
                for (p, r), at in sorted(rows.items())
            ],
        )

    async def _violating_sends(
        self, conn: AsyncConnection, candidates: list[batch.PreparedEvent]
    ) -> list[batch.PreparedEvent]:
        if not candidates:
            return []
        pseudonyms = sorted({i.pseudonym for i in candidates if i.pseudonym is not None})
        result = await conn.execute(
            select(suppressions.c.pseudonym, func.min(suppressions.c.first_at).label("first_at"))
            .where(suppressions.c.pseudonym.in_(pseudonyms), suppressions.c.reason.in_(_OPT_OUTS))
            .group_by(suppressions.c.pseudonym)
        )
        opted_out = {row.pseudonym: _as_utc(row.first_at) for row in result}
        return batch.violating_sends(candidates, opted_out)

    async def _upsert_counters(
        self, conn: AsyncConnection, deltas: dict[batch.CounterKey, dict[str, int]]
    ) -> None:
        # One key order for every writer: two replicas never wait on each other in a cycle.
        ordered = sorted(deltas.items(), key=lambda kv: _key_order(kv[0]))
        if conn.dialect.name == "sqlite":
            # The widest executemany of a batch (13 columns, a row per campaign x provider
            # x labels x hour): bound straight by the driver, as SQLAlchemy would bind it,
            # without its per-row parameter processing.
            await conn.exec_driver_sql(
                _UPSERT_COUNTERS_SQLITE,
                [
                    (
                        key.campaign,
                        key.provider,
                        key.category,
                        key.consent,
                        sqlite_datetime(key.bucket),
                        *(values.get(name, 0) for name in COUNTER_COLUMNS),
                    )
                    for key, values in ordered
                ],
            )
            return
        params = [
            {
                "campaign": key.campaign,
                "provider": key.provider,
                "category": key.category,
                "consent": key.consent,
                "bucket": key.bucket,
                **{name: values.get(name, 0) for name in COUNTER_COLUMNS},
            }
            for key, values in ordered
        ]
        await conn.execute(_UPSERT_COUNTERS, params)

    async def upsert_campaign(
        self,
        campaign_id: str,
        *,
        category: Category | None,
        consent: Consent | None,
        sending_domain: str | None = None,
    ) -> Campaign:
        """Register or replace a campaign's category, consent basis and sending domain."""
        if not campaign_id or len(campaign_id) > MAX_CAMPAIGN_LENGTH:
            raise ValueError(f"campaign must be 1 to {MAX_CAMPAIGN_LENGTH} characters")
        now = dt.datetime.now(dt.UTC)
        stmt = self._insert(campaigns).values(
            id=campaign_id,
            category=category.value if category else None,
            consent=consent.value if consent else None,
            sending_domain=sending_domain,
            created_at=now,
            updated_at=now,
        )
        replace = {c: stmt.excluded[c] for c in ("category", "consent", "sending_domain")}
        async with self._writer.begin() as conn:
            result = await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["id"], set_={**replace, "updated_at": now}
                ).returning(*campaigns.c)
            )
            return _campaign(result.one()._mapping)

    # --- reads --------------------------------------------------------------

    async def list_campaigns(self) -> tuple[Campaign, ...]:
        """Every registered campaign, by id (with or without traffic)."""
        async with self._engine.connect() as conn:
            result = await conn.execute(select(campaigns).order_by(campaigns.c.id))
            return tuple(_campaign(row._mapping) for row in result)

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        async with self._engine.connect() as conn:
            result = await conn.execute(select(campaigns).where(campaigns.c.id == campaign_id))
            row = result.one_or_none()
        return None if row is None else _campaign(row._mapping)

    async def counts(
        self,
        *,
        campaign: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> tuple[CountRow, ...]:
        """Counter sums per campaign x provider x category x consent.

        Hourly buckets: a bucket counts when its start is in ``[floor_hour(since), until)``.
        """
        query = select(
            *_DIMENSIONS, *(func.sum(counters.c[name]).label(name) for name in COUNTER_COLUMNS)
        )
        conditions = []
        if campaign is not None:
            conditions.append(counters.c.campaign == campaign)
        if since is not None:
            conditions.append(counters.c.bucket >= floor_hour(since))
        if until is not None:
            conditions.append(counters.c.bucket < until)
        query = query.where(and_(True, *conditions)).group_by(*_DIMENSIONS).order_by(*_DIMENSIONS)
        async with self._engine.connect() as conn:
            result = await conn.execute(query)
            rows = result.all()
        return tuple(
            CountRow(
                row.campaign,
                row.provider,
                row.category,
                row.consent,
                # SUM(bigint) is numeric on PostgreSQL: back to int.
                Totals(**{name: int(row._mapping[name] or 0) for name in COUNTER_COLUMNS}),
            )
            for row in rows
        )

    async def rates(
        self,
        *,
        by: Sequence[Dimension] = ("campaign",),
        campaign: str | None = None,
        now: dt.datetime | None = None,
        guard: VolumeGuard = DEFAULT_GUARD,
    ) -> tuple[WindowRates, ...]:
        """Totals and rates over 1 h, 24 h, 7 d and lifetime, grouped ``by`` the dimensions."""
        moment = now or dt.datetime.now(dt.UTC)
        found = []
        for window in Window:
            since = window_start(window, moment)
            rows = await self.counts(campaign=campaign, since=since)
            found.append(WindowRates(window, since, group_rows(rows, by, guard)))
        return tuple(found)


if TYPE_CHECKING:
    _IMPLEMENTS: type[Store] = SqlStore  # mypy checks the protocol here


def _settle(future: asyncio.Future[ReportResult], outcome: ReportResult | Exception) -> None:
    if future.done():  # the caller was cancelled meanwhile
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _key_order(key: batch.CounterKey) -> tuple[str, str, str, str, dt.datetime]:
    return (key.campaign, key.provider, key.category, key.consent, key.bucket)


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _report_row(record: ReportRecord, *, store_raw: bool) -> dict[str, Any]:
    audit = record.audit
    return {
        "id": uuid.uuid4().hex,
        "raw_sha256": record.raw_sha256,
        "received_at": record.received_at,
        "arrival_date": record.arrival_date,
        "feedback_type": record.feedback_type,
        "campaign": record.campaign,
        "provider": record.provider.value,
        "source_ip": record.source_ip,
        # Informational and sender-controlled: cut, rather than refuse the report.
        "reporter": record.reporter and record.reporter[:255],
        "user_agent": record.user_agent and record.user_agent[:255],
        "list_unsubscribe_https": audit.list_unsubscribe_https,
        "list_unsubscribe_one_click": audit.list_unsubscribe_one_click,
        "dkim_covers_list_unsubscribe": audit.dkim_covers_list_unsubscribe,
        "feedback_id_valid": audit.feedback_id_valid,
        "raw": record.raw if store_raw else None,
    }


def _event_row(item: batch.PreparedEvent) -> dict[str, Any]:
    event = item.event
    return {
        "pseudonym": item.pseudonym,
        "type": event.type.value,
        "campaign": event.campaign,
        "provider": event.provider.value,
        "occurred_at": event.occurred_at,
        "source": event.source.value,
        "bounce_kind": event.bounce_kind.value if event.bounce_kind else None,
        "feedback_type": event.feedback_type,
    }


def _campaign(row: RowMapping) -> Campaign:
    return Campaign(
        id=row["id"],
        category=Category(row["category"]) if row["category"] else None,
        consent=Consent(row["consent"]) if row["consent"] else None,
        sending_domain=row["sending_domain"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )

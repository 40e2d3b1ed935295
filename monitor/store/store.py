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
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import URL, RowMapping, Table, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.model.events import Category, Consent, Event
from monitor.model.privacy import Pseudonymizer
from monitor.store import batch
from monitor.store.audits import AuditQueries
from monitor.store.bounces import BounceQueries
from monitor.store.dmarc import DmarcRecords
from monitor.store.dmarc_tally import DmarcTally
from monitor.store.engine import build_engine, has_schema, migrate
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
from monitor.store.plans import (
    BindTime,
    PendingReport,
    Row,
    add_events_plan,
    store_reports_plan,
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
    sqlite_datetime,
)
from monitor.store.state import StateRecords
from monitor.store.subjects import SubjectRecords
from monitor.store.telemetry import TelemetryRecords
from monitor.store.url import async_url

__all__ = ["SqlStore", "open_store"]

log = logging.getLogger(__name__)
_DIMENSIONS = (counters.c.campaign, counters.c.provider, counters.c.category, counters.c.consent)
# A counter row's category or consent when its events carried none and the campaign had
# none registered (batch.UNKNOWN_CATEGORY, Consent.UNKNOWN).
_UNKNOWN = batch.UNKNOWN_CATEGORY
_IN_CHUNK = 500  # campaign ids per IN (...) list
_WRITE_FAILURE_KEPT = 60.0  # seconds a refused write keeps the store not ready
_OPT_OUTS = (SuppressionReason.UNSUBSCRIBE.value, SuppressionReason.COMPLAINT.value)


async def open_store(url: str, *, create: bool = True) -> SqlStore:
    """Open the database at ``url`` and bring its schema to the latest revision.

    With ``create=False`` (the commands that only read or erase what is stored) a store
    that does not exist yet is refused instead of made: a SQLite file that is not there
    (a relative URL read from another directory) or a database without delivermon's
    schema. An empty new store would answer "nothing stored" about anyone.

    Raises:
        StoreUrlError: not a ``sqlite:///PATH`` or ``postgresql://`` URL.
        StoreUnavailableError: the database cannot be reached or migrated, or (with
            ``create=False``) holds no store.
    """
    parsed = async_url(url)
    where = parsed.render_as_string(hide_password=True)
    if create:
        _make_sqlite_directory(parsed)
    else:
        _require_sqlite_file(parsed, where)
    engine = build_engine(parsed)
    try:
        found = create or await has_schema(engine)
        if found:
            await migrate(engine)
    except StoreUnavailableError as exc:  # our own words (a schema newer than the code)
        await engine.dispose()
        raise StoreUnavailableError(f"cannot open the store {where}: {exc}") from exc
    # Broad on purpose: asyncpg raises its own exceptions on connect, unwrapped by
    # SQLAlchemy; whatever the driver, a store that cannot open is unavailable.
    except Exception as exc:
        await engine.dispose()
        raise StoreUnavailableError(f"cannot open the store {where}: {_cause(exc)}") from exc
    if not found:
        await engine.dispose()
        raise StoreUnavailableError(
            f"no store at {where}: the database holds no delivermon data (check the config's "
            "[store] url, and the working directory for a relative SQLite path)"
        )
    log.info("store opened", extra={"store": where})
    return SqlStore(engine)


def _sqlite_path(parsed: URL) -> Path | None:
    """The file of a SQLite URL; None for another backend, ``:memory:`` or a ``file:`` URI
    (SQLite's own syntax, left to it)."""
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database)


def _require_sqlite_file(parsed: URL, where: str) -> None:
    """Refuse a SQLite path with no file there (SQLite would create one).

    Raises:
        StoreUnavailableError: no file at the path.
    """
    path = _sqlite_path(parsed)
    if path is not None and not path.exists():
        raise StoreUnavailableError(
            f"no store at {where}: {path.resolve()} does not exist (check the "
            "config's [store] url, and the working directory for a relative path)"
        )


def _make_sqlite_directory(parsed: URL) -> None:
    """Create a SQLite database's directory (0700, as the key file beside it gets), so a
    first start into a fresh data directory works whether or not the key is configured.

    Raises:
        StoreUnavailableError: the directory cannot be made.
    """
    path = _sqlite_path(parsed)
    if path is None:
        return
    directory = path.parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        where = parsed.render_as_string(hide_password=True)
        raise StoreUnavailableError(
            f"cannot open the store {where}: cannot create {directory}: {exc.strerror}"
        ) from exc


def _cause(exc: BaseException) -> str:
    """The driver's own words for why (SQLAlchemy wraps them), on one short line: the
    drivers' messages name files, hosts and users, never passwords."""
    root = getattr(exc, "orig", None) or exc
    words = str(root).strip().splitlines()
    detail = words[0][:200] if words else ""
    return f"{type(root).__name__}: {detail}" if detail else type(root).__name__


# Group commit of feedback reports: at most this many reports per transaction.
_MAX_REPORT_GROUP = 64


@dataclass(slots=True)
class _PendingReport:
    """A report waiting for the next group commit, and its caller's future."""

    report: PendingReport
    future: asyncio.Future[ReportResult]


class SqlStore(
    SubjectRecords,
    AuditQueries,
    BounceQueries,
    StateRecords,
    TelemetryRecords,
    DmarcRecords,
    DmarcTally,
):
    """``Store`` over an async SQLAlchemy engine (aiosqlite or asyncpg)."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self._pending_reports: list[_PendingReport] = []
        self._report_task: asyncio.Task[None] | None = None
        # How a plan binds datetimes: as UtcDateTime stores them on SQLite (the plan
        # runs on sqlite3 there), as themselves through SQLAlchemy elsewhere.
        self._bind_time: BindTime = (
            sqlite_datetime if engine.dialect.name == "sqlite" else _same_time
        )

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def close(self) -> None:
        if self._report_task is not None:
            await self._report_task  # answer the reports already queued
        await self._writer.close()
        await self._engine.dispose()

    def check_file(self) -> None:
        """Raises StoreUnavailableError when the SQLite file this store opened is no longer
        at its path (deleted or replaced); nothing on PostgreSQL."""
        self._writer.check_file()

    async def ping(self) -> None:
        """Raises StoreUnavailableError when the database does not answer, its SQLite file
        is no longer at its path, or a write was refused in the last minute and none has
        succeeded since (a read-only probe would not tell: a full disk, a file made
        read-only)."""
        self._writer.check_writable(_WRITE_FAILURE_KEPT)
        try:
            async with self._engine.connect() as conn:
                await conn.execute(select(1))
        except Exception as exc:  # the readiness probe: any driver failure means not ready
            raise StoreUnavailableError(f"store did not answer: {type(exc).__name__}") from exc

    # --- writes -------------------------------------------------------------

    async def add_events(
        self,
        events: Sequence[Event],
        pseudonymizer: Pseudonymizer,
        *,
        claim: tuple[str, str] | None = None,
    ) -> AddResult:
        """Count the events once each, in one transaction; a re-delivered key is a duplicate.

        ``claim``: a (source, SHA-256) key that this request may use once, whatever the
        replica or restart (a Mailgun signature's token): claimed in the same
        transaction, first; when it was taken already nothing is written and the result
        says ``replayed``. A failed transaction claims nothing, so a retry is accepted.

        Raises:
            PrivacyError: a recipient is not an address (nothing is written).
            ValueError: a campaign name is empty or too long (nothing is written).
        """
        prepared = batch.prepare_events(events, pseudonymizer)
        return await self._writer.run(
            add_events_plan(
                prepared, now=dt.datetime.now(dt.UTC), bind_time=self._bind_time, claim=claim
            )
        )

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
        report = PendingReport(_report_row(record, store_raw=store_raw), recipients, prepared)
        pending = _PendingReport(report, asyncio.get_running_loop().create_future())
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
        plan = store_reports_plan(
            [p.report for p in group], now=dt.datetime.now(dt.UTC), bind_time=self._bind_time
        )
        return await self._writer.run(plan)

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
        A registered campaign's counts all take its category and consent as registered
        now, whatever their events carried: one campaign is one group, and registering it
        late, or again with another category, moves all of it. An unregistered campaign's
        counts keep the label their events carried; those that carried none take the one
        its other events carried if they carried only one (``campaign_labels``), so a
        campaign labelled only on its sends is not split into a labelled and an
        "unknown" part.
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
        found = [
            CountRow(
                row.campaign,
                row.provider,
                row.category,
                row.consent,
                # SUM(bigint) is numeric on PostgreSQL: back to int.
                Totals(**{name: int(row._mapping[name] or 0) for name in COUNTER_COLUMNS}),
            )
            for row in rows
        ]
        if not found:
            return ()
        labels = await self._labels(sorted({r.campaign for r in found}))
        merged: dict[tuple[str, str, str, str], Totals] = {}
        for r in found:
            got = labels[r.campaign]
            key = (
                r.campaign,
                r.provider,
                got.registered[0] or (got.resolved[0] if r.category == _UNKNOWN else r.category),
                got.registered[1] or (got.resolved[1] if r.consent == _UNKNOWN else r.consent),
            )
            merged[key] = merged.get(key, Totals()) + r.totals
        return tuple(CountRow(*key, totals) for key, totals in sorted(merged.items()))

    async def campaign_labels(self, campaign_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Each campaign's (category, consent): the registered one, else the one its
        counted events carried if they carried exactly one, else ``unknown``."""
        return {c: got.resolved for c, got in (await self._labels(campaign_ids)).items()}

    async def _labels(self, campaign_ids: Sequence[str]) -> dict[str, _Labels]:
        """Each campaign's registered (category, consent), and what ``campaign_labels``
        resolves them to."""
        found: dict[str, _Labels] = {}
        async with self._engine.connect() as conn:
            for start in range(0, len(campaign_ids), _IN_CHUNK):
                chunk = list(campaign_ids[start : start + _IN_CHUNK])
                # A registered 'unknown' (a [[campaigns]] entry without consent) says
                # nothing: the events' own labels count.
                registered: dict[str, tuple[str | None, str | None]] = {
                    row.id: (
                        None if row.category == _UNKNOWN else row.category,
                        None if row.consent == _UNKNOWN else row.consent,
                    )
                    for row in await conn.execute(
                        select(campaigns.c.id, campaigns.c.category, campaigns.c.consent).where(
                            campaigns.c.id.in_(chunk)
                        )
                    )
                }
                seen: dict[str, tuple[set[str], set[str]]] = {c: (set(), set()) for c in chunk}
                # What the events carried is read only where the registration is silent:
                # most counts carry no label and most campaigns are registered.
                silent = [c for c in chunk if not all(registered.get(c, (None, None)))]
                if silent:
                    for row in await conn.execute(
                        select(counters.c.campaign, counters.c.category, counters.c.consent)
                        .where(counters.c.campaign.in_(silent))
                        .distinct()
                    ):
                        seen[row.campaign][0].add(row.category)
                        seen[row.campaign][1].add(row.consent)
                for campaign in chunk:
                    category, consent = registered.get(campaign, (None, None))
                    categories, consents = seen[campaign]
                    found[campaign] = _Labels(
                        (category, consent),
                        (category or _only_label(categories), consent or _only_label(consents)),
                    )
        return found

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


@dataclass(frozen=True, slots=True)
class _Labels:
    """A campaign's registered (category, consent), each None when not registered, and
    the (category, consent) its counts take where neither the registration nor the
    event says (``SqlStore.campaign_labels``)."""

    registered: tuple[str | None, str | None]
    resolved: tuple[str, str]


def _only_label(values: set[str]) -> str:
    """The one label other than ``unknown`` in ``values``, else ``unknown``."""
    known = values - {_UNKNOWN}
    return known.pop() if len(known) == 1 else _UNKNOWN


def _same_time(value: dt.datetime) -> dt.datetime:
    return value


def _settle(future: asyncio.Future[ReportResult], outcome: ReportResult | Exception) -> None:
    if future.done():  # the caller was cancelled meanwhile
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _report_row(record: ReportRecord, *, store_raw: bool) -> Row:
    """The report's row, in ``COLUMNS[Statement.INSERT_REPORTS]`` order."""
    audit = record.audit
    return (
        uuid.uuid4().hex,
        record.raw_sha256,
        record.received_at,
        record.arrival_date,
        record.feedback_type,
        record.campaign,
        record.provider.value,
        record.source_ip,
        # Informational and sender-controlled: cut, rather than refuse the report.
        record.reporter and record.reporter[:255],
        record.user_agent and record.user_agent[:255],
        audit.list_unsubscribe_https,
        audit.list_unsubscribe_one_click,
        audit.dkim_covers_list_unsubscribe,
        audit.feedback_id_valid,
        record.raw if store_raw else None,
        record.auth_failure and record.auth_failure[:32],
        record.identity_alignment,
        record.failure_domain and record.failure_domain[:255],
    )


def _campaign(row: RowMapping) -> Campaign:
    return Campaign(
        id=row["id"],
        category=Category(row["category"]) if row["category"] else None,
        consent=Consent(row["consent"]) if row["consent"] else None,
        sending_domain=row["sending_domain"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )

"""The SQL store against real SQLite and real PostgreSQL (each test runs on both):
migrations, idempotency, concurrent writers, counters, rates and windows, campaigns."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.model.events import BounceKind, Category, Consent, Event, EventType, Provider, Source
from monitor.model.privacy import PrivacyError, Pseudonymizer
from monitor.store import (
    AddResult,
    ReportRecord,
    SqlStore,
    StoreUnavailableError,
    Totals,
    VolumeGuard,
    Window,
    open_store,
)
from monitor.store.schema import metadata

P = Pseudonymizer(b"k" * 32)
NOW = dt.datetime(2025, 3, 10, 10, 20, tzinfo=dt.UTC)
SHA = "ab" * 32


def ev(kind: EventType, **kw: object) -> Event:
    fields: dict[str, object] = {"campaign": "spring", "occurred_at": NOW, "source": Source.API}
    fields.update(kw)
    return Event(kind, **fields)  # type: ignore[arg-type]  # test shorthand over typed fields


async def lifetime(store: SqlStore, campaign: str | None = None) -> Totals:
    total = Totals()
    for row in await store.counts(campaign=campaign):
        total += row.totals
    return total


def _schema_diff(conn: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


async def test_migrations_match_the_schema_and_reopening_is_a_no_op(store_url: str) -> None:
    first = await open_store(store_url)
    await first.add_events([ev(EventType.SENT)], P)
    await first.close()
    again = await open_store(store_url)
    async with again._engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []
    assert (await lifetime(again)).sent == 1
    await again.close()


async def test_an_existing_store_only_refuses_a_database_without_the_schema(
    store_url: str,
) -> None:
    """``create=False`` (subject export/erase, telemetry status): an empty database (a fresh
    PostgreSQL one, an empty SQLite file) is refused and left empty; a store is opened."""
    if store_url.startswith("sqlite"):
        sqlite3.connect(store_url.removeprefix("sqlite:///")).close()
    with pytest.raises(StoreUnavailableError, match="holds no delivermon data"):
        await open_store(store_url, create=False)
    first = await open_store(store_url)  # the daemon's first start makes it
    await first.add_events([ev(EventType.SENT)], P)
    await first.close()
    again = await open_store(store_url, create=False)
    assert (await lifetime(again)).sent == 1
    await again.close()


async def test_replicas_starting_together_migrate_once(store_url: str) -> None:
    stores = await asyncio.gather(*(open_store(store_url) for _ in range(4)))
    for opened in stores:
        await opened.ping()
        await opened.close()


async def test_a_sqlite_store_in_a_directory_not_made_yet_makes_it(tmp_path: Path) -> None:
    """As the generated key file's directory is made: a first start into a fresh data
    directory must not depend on whether the key is configured."""
    path = tmp_path / "data" / "deeper" / "delivermon.db"
    store = await open_store(f"sqlite:///{path}")
    await store.close()
    assert path.is_file()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


async def test_a_sqlite_directory_that_cannot_be_made_is_a_clear_refusal(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StoreUnavailableError, match=r"cannot create .*a-file/sub: Not a directory"):
        await open_store(f"sqlite:///{blocker / 'sub' / 'd.db'}")


async def test_the_same_event_twice_is_counted_once(store: SqlStore) -> None:
    event = ev(EventType.COMPLAINT, idempotency_key="sg-1", recipient="a@example.com")
    assert await store.add_events([event, event], P) == AddResult(1, 1)
    assert await store.add_events([event], P) == AddResult(0, 1)
    other_source = ev(EventType.COMPLAINT, idempotency_key="sg-1", source=Source.SENDGRID)
    assert await store.add_events([other_source], P) == AddResult(1, 0)
    assert (await lifetime(store)).complaints == 2
    assert len((await store.export_subject(P.pseudonym("a@example.com"))).events) == 1


async def test_events_without_a_key_always_count(store: SqlStore) -> None:
    result = await store.add_events([ev(EventType.SENT, count=5), ev(EventType.SENT, count=5)], P)
    assert result == AddResult(2, 0)
    assert (await lifetime(store)).sent == 10


async def test_concurrent_writers_lose_no_counter_updates(store_url: str) -> None:
    # Two "replicas" (engines), four tasks each, all hitting the same counter rows,
    # and every keyed event submitted by two tasks: counted exactly once.
    replicas = [await open_store(store_url) for _ in range(2)]

    async def writer(n: int) -> int:
        accepted = 0
        replica = replicas[n % 2]
        for round_ in range(10):
            batch = [ev(EventType.SENT, count=2), ev(EventType.DELIVERED, provider=Provider.GOOGLE)]
            batch += [
                ev(EventType.COMPLAINT, idempotency_key=f"{n // 2}-{round_}-{i}") for i in range(5)
            ]
            accepted += (await replica.add_events(batch, P)).accepted
        return accepted

    accepted = await asyncio.gather(*(writer(n) for n in range(8)))
    totals = await lifetime(replicas[0])
    for replica in replicas:
        await replica.close()
    assert totals.sent == 8 * 10 * 2
    assert totals.delivered == 8 * 10
    assert totals.complaints == 4 * 10 * 5
    assert sum(accepted) == 8 * 10 * 2 + 4 * 10 * 5


async def test_counters_survive_a_restart(store_url: str) -> None:
    first = await open_store(store_url)
    await first.add_events([ev(EventType.SENT, count=7), ev(EventType.DELIVERED, count=6)], P)
    before = await first.counts()
    await first.close()
    second = await open_store(store_url)
    assert await second.counts() == before
    assert (await lifetime(second)).delivered == 6
    await second.close()


async def test_counts_group_and_filter_by_campaign_and_hour_buckets(store: SqlStore) -> None:
    await store.add_events(
        [
            ev(EventType.SENT, occurred_at=NOW - dt.timedelta(hours=3)),
            ev(EventType.SENT, provider=Provider.YAHOO),
            ev(EventType.SENT, campaign="autumn"),
        ],
        P,
    )
    rows = await store.counts(campaign="spring")
    assert [(r.campaign, r.provider, r.totals.sent) for r in rows] == [
        ("spring", "other", 1),
        ("spring", "yahoo", 1),
    ]
    recent = await store.counts(since=NOW - dt.timedelta(minutes=30))
    assert sum(r.totals.sent for r in recent) == 2
    old = await store.counts(until=NOW - dt.timedelta(hours=1))
    assert sum(r.totals.sent for r in old) == 1


async def test_rates_over_windows_with_the_volume_guard(store: SqlStore) -> None:
    await store.add_events(
        [
            ev(EventType.DELIVERED, count=1000, occurred_at=NOW - dt.timedelta(minutes=10)),
            ev(EventType.COMPLAINT, count=3, occurred_at=NOW - dt.timedelta(minutes=5)),
            ev(EventType.DELIVERED, count=1000, occurred_at=NOW - dt.timedelta(hours=5)),
            ev(EventType.UNSUBSCRIBE, count=20, occurred_at=NOW - dt.timedelta(days=3)),
            ev(EventType.DELIVERED, count=998, occurred_at=NOW - dt.timedelta(days=30)),
            ev(EventType.SENT, count=3000, occurred_at=NOW - dt.timedelta(days=30)),
            ev(EventType.BOUNCE, count=30, bounce_kind=BounceKind.PERMANENT, occurred_at=NOW),
        ],
        P,
    )
    windows = {w.window: w for w in await store.rates(now=NOW, guard=VolumeGuard(1000, 1000))}
    assert windows[Window.HOUR].since == dt.datetime(2025, 3, 10, 9, tzinfo=dt.UTC)
    (hour,) = windows[Window.HOUR].rows
    assert hour.rates.complaint_rate == pytest.approx(0.003)
    assert hour.rates.bounce_rate is None  # nothing sent in the hour: not meaningful
    (day,) = windows[Window.DAY].rows
    assert day.totals.delivered == 2000
    assert day.rates.complaint_rate == pytest.approx(0.0015)
    assert day.rates.unsubscribe_rate == 0.0
    (week,) = windows[Window.WEEK].rows
    assert week.rates.unsubscribe_rate == pytest.approx(0.01)
    (life,) = windows[Window.LIFETIME].rows
    assert (life.totals.delivered, life.totals.sent) == (2998, 3000)
    assert life.rates.bounce_rate == pytest.approx(0.01)
    small = await store.rates(now=NOW, guard=VolumeGuard(min_delivered=5000))
    assert all(row.rates.complaint_rate is None for w in small for row in w.rows)


async def test_rates_break_down_by_registered_category_and_consent(store: SqlStore) -> None:
    await store.upsert_campaign(
        "spring", category=Category.COMMERCIAL, consent=Consent.SINGLE_OPT_IN
    )
    await store.upsert_campaign("receipts", category=Category.TRANSACTIONAL, consent=None)
    await store.add_events(
        [
            ev(EventType.COMPLAINT, count=2),
            ev(EventType.COMPLAINT, campaign="receipts"),
            ev(EventType.COMPLAINT, campaign="unregistered"),
        ],
        P,
    )
    lifetime_window = (await store.rates(by=("category", "consent"), now=NOW))[-1]
    assert [(r.category, r.consent, r.totals.complaints) for r in lifetime_window.rows] == [
        ("commercial", "single_opt_in", 2),
        ("transactional", "unknown", 1),
        ("unknown", "unknown", 1),
    ]


async def test_campaigns_are_registered_and_replaced(store: SqlStore) -> None:
    assert await store.get_campaign("spring") is None
    created = await store.upsert_campaign(
        "spring", category=Category.COMMERCIAL, consent=Consent.DOUBLE_OPT_IN,
        sending_domain="news.example.com",
    )  # fmt: skip
    replaced = await store.upsert_campaign(
        "spring", category=Category.COMMERCIAL, consent=Consent.SINGLE_OPT_IN
    )
    assert replaced.consent is Consent.SINGLE_OPT_IN
    assert replaced.sending_domain is None
    assert replaced.created_at == created.created_at
    assert replaced.created_at.tzinfo is dt.UTC
    assert await store.get_campaign("spring") == replaced


async def test_the_same_report_twice_is_a_duplicate_and_its_events_count_once(
    store: SqlStore,
) -> None:
    record = ReportRecord(
        raw_sha256=SHA, received_at=NOW, feedback_type="abuse", campaign="spring",
        provider=Provider.YAHOO, recipients=("a@example.com",),
    )  # fmt: skip
    events = [ev(EventType.COMPLAINT, source=Source.ARF, recipient="a@example.com")]
    first = await store.add_report(record, events, P)
    second = await store.add_report(record, events, P)
    assert (first.duplicate, second.duplicate, second.id) == (False, True, first.id)
    assert (await lifetime(store)).complaints == 1
    assert await store.is_suppressed(P.pseudonym("a@example.com"))


async def test_the_raw_report_is_kept_only_with_store_raw(store: SqlStore) -> None:
    from sqlalchemy import select

    from monitor.store.schema import feedback_reports

    raw = b"Feedback-Type: abuse\r\n"
    await store.add_report(ReportRecord(SHA, NOW, "abuse", "spring", raw=raw), [], P)
    await store.add_report(
        ReportRecord("cd" * 32, NOW, "abuse", "spring", raw=raw), [], P, store_raw=True
    )
    async with store._engine.connect() as conn:
        rows = await conn.execute(select(feedback_reports.c.raw_sha256, feedback_reports.c.raw))
        kept = {row.raw_sha256: row.raw for row in rows}
    assert kept == {SHA: None, "cd" * 32: raw}


async def test_a_bad_recipient_refuses_the_whole_batch_and_stores_nothing(store: SqlStore) -> None:
    with pytest.raises(PrivacyError):
        await store.add_events(
            [ev(EventType.SENT, idempotency_key="x"), ev(EventType.SENT, recipient="no-at-sign")], P
        )
    assert await store.counts() == ()
    assert await store.add_events([ev(EventType.SENT, idempotency_key="x")], P) == AddResult(1, 0)


async def test_ping_answers_and_an_unreachable_database_is_unavailable(
    store: SqlStore, store_url: str, tmp_path: Path
) -> None:
    await store.ping()
    if store_url.startswith("sqlite"):
        (tmp_path / "a-file").write_text("")  # a directory that cannot be made
        bad = f"sqlite:///{tmp_path / 'a-file' / 'x' / 'delivermon.db'}"
    else:
        bad = store_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(StoreUnavailableError):
        await open_store(bad)


async def test_a_store_migrated_by_a_newer_delivermon_is_refused_saying_so(store_url: str) -> None:
    """A rollback to an older version: its migrations do not know the store's revision."""
    first = await open_store(store_url)
    async with first._engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    await first.close()
    with pytest.raises(StoreUnavailableError, match=r"revision 9999.*newer delivermon") as info:
        await open_store(store_url)
    assert str(info.value).endswith("(give delivermon a database of its own)")
    # Two rows (two applications' Alembic, or a hand edit): the same words, not Alembic's.
    engine = _engine_of(store_url)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0011'"))
        await conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0010')"))
    await engine.dispose()
    with pytest.raises(StoreUnavailableError, match=r"revision 0011, 0010|revision 0010, 0011"):
        await open_store(store_url)


def _engine_of(store_url: str) -> AsyncEngine:
    from monitor.store.engine import build_engine
    from monitor.store.url import async_url

    return build_engine(async_url(store_url))


async def test_a_claim_is_taken_once_with_its_events_and_a_failed_write_takes_none(
    store: SqlStore,
) -> None:
    """The Mailgun token's claim (monitor/http/feedback_api.py), on both backends: taken
    with the events in one transaction; taken again, nothing is written (replayed); a
    transaction that fails (an unusable campaign here) claims nothing, so a retry works."""
    claim = ("mailgun-token", "ab" * 32)
    bad = Event(EventType.COMPLAINT, "x" * 300, NOW, Source.MAILGUN, recipient="a@example.com")
    with pytest.raises(ValueError):  # noqa: PT011 (the store's refusal of the campaign)
        await store.add_events([bad], P, claim=claim)
    first = await store.add_events(
        [ev(EventType.COMPLAINT, recipient="a@example.com")], P, claim=claim
    )
    assert (first.accepted, first.replayed) == (1, False)
    again = await store.add_events(
        [ev(EventType.UNSUBSCRIBE, recipient="b@example.com")], P, claim=claim
    )
    assert (again.accepted, again.duplicates, again.replayed) == (0, 0, True)
    totals = sum(r.totals.unsubscribes for r in await store.counts())
    assert totals == 0
    assert not await store.is_suppressed(P.pseudonym("b@example.com"))
    alone = await store.add_events([], P, claim=("mailgun-token", "cd" * 32))
    assert (alone.accepted, alone.replayed) == (0, False)
    assert (await store.add_events([], P, claim=("mailgun-token", "cd" * 32))).replayed

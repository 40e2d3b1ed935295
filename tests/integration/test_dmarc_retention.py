"""DMARC aggregate reports counted once and purged after ``[dmarc] retention_days``.

The counters (``delivermon_dmarc_messages_total``, ``delivermon_dmarc_reports_total``)
come from tallies the dmarc job adds each report to once, with the class it gave each
source then: purging the reports, or reclassifying a source, changes no counted value.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from daemon import offline_config
from dmarcreports import Row, aggregate_xml, ingest_context
from sqlalchemy import Boolean, Connection, Integer, String, column, insert, select, table

from monitor.config import parse_config
from monitor.daemon.app import Daemon, DaemonOptions
from monitor.ingest.dmarc.analysis import FigureKey
from monitor.ingest.dmarc.service import ingest_dmarc
from monitor.store import open_store
from monitor.store.engine import build_engine
from monitor.store.schema import UtcDateTime, dmarc_reports
from monitor.store.store import SqlStore
from monitor.store.url import async_url

T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
OWN_IP = "192.0.2.10"
OTHER_IP = "198.51.100.7"


def report(
    report_id: str, rows: list[Row], *, org: str = "google.com", begin: dt.datetime
) -> bytes:
    return aggregate_xml(
        rows,
        report_id=report_id,
        org=org,
        email=f"noreply-dmarc@{org}",
        begin=int(begin.timestamp()),
    )


async def ingest(store: SqlStore, raw: bytes, at: dt.datetime) -> bool:
    """Store ``raw`` as received at ``at``; whether it was a duplicate."""
    return (await ingest_dmarc(raw, ingest_context(store, at))).duplicate


def own_else_unknown(_domain: str, ip: str) -> str:
    return "own" if ip == OWN_IP else "unknown"


async def tally(
    store: SqlStore, classify: Callable[[str, str], str]
) -> tuple[dict[tuple[str, str, str, str], int], dict[tuple[str, str], int]]:
    """What the dmarc job does: take the uncounted reports, then count them."""
    return await store.tally_dmarc_reports(await store.uncounted_dmarc_reports(), classify)


async def test_reports_are_counted_once_and_only_counted_ones_are_purged(
    store: SqlStore,
) -> None:
    day = dt.timedelta(days=1)
    first = report("a", [Row(OWN_IP, 100), Row(OTHER_IP, 7, dkim="fail", spf="fail")], begin=T0)
    second = report("b", [Row(OWN_IP, 40)], org="yahoo.com", begin=T0 + 10 * day)
    assert not await ingest(store, first, T0 + day)
    assert not await ingest(store, second, T0 + 11 * day)

    messages, reports = await tally(store, own_else_unknown)
    assert messages == {
        ("example.com", "own", "pass", "none"): 140,
        ("example.com", "unknown", "fail", "none"): 7,
    }
    assert reports == {("example.com", "google"): 1, ("example.com", "yahoo"): 1}
    # Counted once: asked again (with another class for every source), nothing is added.
    assert await tally(store, lambda _d, _ip: "forwarder") == (messages, reports)

    # An old report arriving now is stored uncounted: the purge leaves it until counted.
    late = report("c", [Row(OWN_IP, 5)], begin=T0 - 30 * day)
    assert not await ingest(store, late, T0 - 20 * day)
    assert await store.purge_dmarc_reports(T0 + 5 * day) == 1  # "a" only
    assert await store.dmarc_report_count("example.com") == 2  # "b" and "c"
    totals = await store.dmarc_totals(T0 - 60 * day)
    assert sorted((t.source_ip, t.messages) for t in totals) == [(OWN_IP, 5), (OWN_IP, 40)]

    messages, reports = await tally(store, own_else_unknown)
    assert messages[("example.com", "own", "pass", "none")] == 145  # "c" counted, "a" kept
    assert messages[("example.com", "unknown", "fail", "none")] == 7
    assert reports == {("example.com", "google"): 2, ("example.com", "yahoo"): 1}
    assert await store.purge_dmarc_reports(T0 + 5 * day) == 1  # now "c" too
    assert await store.purge_dmarc_reports(T0 + 5 * day) == 0
    assert await tally(store, own_else_unknown) == (messages, reports)
    assert await store.dmarc_totals(T0 - 60 * day) == [
        t for t in totals if t.messages == 40
    ]  # "b", received after the cut-off, stays


async def test_a_report_stored_after_the_job_took_its_ids_waits_for_the_next_run(
    store: SqlStore,
) -> None:
    # The job takes the ids before it classifies: a report stored meanwhile has sources
    # it has not classified, so it is left for the next run rather than counted blind.
    assert not await ingest(store, report("a", [Row(OWN_IP, 3)], begin=T0), T0)
    ids = await store.uncounted_dmarc_reports()
    assert not await ingest(store, report("b", [Row(OTHER_IP, 4)], begin=T0), T0)
    messages, reports = await store.tally_dmarc_reports(ids, own_else_unknown)
    assert (messages, reports) == (
        {("example.com", "own", "pass", "none"): 3},
        {("example.com", "google"): 1},
    )
    messages, reports = await tally(store, own_else_unknown)
    assert messages == {
        ("example.com", "own", "pass", "none"): 3,
        ("example.com", "unknown", "pass", "none"): 4,
    }
    assert reports == {("example.com", "google"): 2}


async def test_two_tallies_at_once_count_each_report_once(store: SqlStore) -> None:
    # One replica runs the job; two at once (a misconfigured cluster) still count once:
    # each batch claims its reports (counted = true) before it counts them.
    for n in range(700):
        assert not await ingest(store, report(f"r{n}", [Row(OWN_IP, 1)], begin=T0), T0)
    ids = await store.uncounted_dmarc_reports()
    await asyncio.gather(
        store.tally_dmarc_reports(ids, own_else_unknown),
        store.tally_dmarc_reports(ids[::-1], own_else_unknown),
    )
    messages, reports = await tally(store, own_else_unknown)
    assert messages == {("example.com", "own", "pass", "none"): 700}
    assert reports == {("example.com", "google"): 700}


async def test_a_purge_bigger_than_a_batch_takes_every_counted_report(store: SqlStore) -> None:
    for n in range(1_203):  # more than two batches of 500
        raw = report(f"r{n}", [Row(OWN_IP, 1)], begin=T0)
        assert not await ingest(store, raw, T0)
    # Counted at most `limit` per run, first received first: a backlog takes several runs.
    first = await store.uncounted_dmarc_reports(limit=1_000)
    messages, reports = await store.tally_dmarc_reports(first, own_else_unknown)
    assert messages == {("example.com", "own", "pass", "none"): 1_000}
    messages, reports = await tally(store, own_else_unknown)
    assert messages == {("example.com", "own", "pass", "none"): 1_203}
    assert reports == {("example.com", "google"): 1_203}
    assert await store.uncounted_dmarc_reports() == []
    assert await store.purge_dmarc_reports(T0 + dt.timedelta(seconds=1)) == 1_203
    assert await store.dmarc_report_count("example.com") == 0
    assert await tally(store, own_else_unknown) == (messages, reports)


def _migrations(conn: Connection) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(Path(__file__).parents[2] / "monitor" / "store" / "migrations")
    )
    config.attributes["connection"] = conn
    return config


def _upgrade_to(conn: Connection, revision: str) -> None:
    command.upgrade(_migrations(conn), revision)


# dmarc_rows as migrations 0004 to 0010 made it (0011 took domain, begin_at and reporter
# off it): a row written then must read the same after the upgrade.
OLD_DMARC_ROWS = table(
    "dmarc_rows",
    column("report", String()),
    column("domain", String()),
    column("begin_at", UtcDateTime()),
    column("reporter", String()),
    *(column(name, String()) for name in ("source_ip", "header_from", "disposition", "dmarc")),
    column("dkim_aligned", Boolean()),
    column("spf_aligned", Boolean()),
    *(
        column(name, String())
        for name in ("dkim_domain", "dkim_selector", "dkim_result", "spf_domain", "spf_result")
    ),
    column("messages", Integer()),
)


async def test_reports_stored_before_the_upgrade_are_counted_by_the_first_tally(
    store_url: str,
) -> None:
    engine = build_engine(async_url(store_url))
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to, "0007")  # the schema before the tallies
        # The schema's own tables (their types bind the datetimes), only 0007's columns.
        report = {"org": "google.com", "report_id": "a", "org_name": "google.com"}
        await conn.execute(
            insert(dmarc_reports).values(
                id="r1",
                domain="example.com",
                reporter="google",
                begin_at=T0,
                end_at=T0,
                received_at=T0,
                records=1,
                messages=9,
                policy="none",
                flavour="rfc7489",
                **report,
            )
        )
        await conn.execute(
            insert(OLD_DMARC_ROWS).values(
                report="r1",
                domain="example.com",
                begin_at=T0,
                reporter="google",
                source_ip=OWN_IP,
                header_from="example.com",
                disposition="none",
                dmarc="pass",
                dkim_aligned=True,
                spf_aligned=True,
                dkim_domain="example.com",
                dkim_selector="s1",
                dkim_result="pass",
                spf_domain="example.com",
                spf_result="pass",
                messages=9,
            )
        )
    await engine.dispose()
    store = await open_store(store_url)  # migrates to head: the report is not counted yet
    try:
        # Read through its report since 0011: the window, the reporter, the domain.
        figures = await store.dmarc_source_figures("example.com", T0)
        assert [(f.source_ip, f.messages, f.dmarc_pass) for f in figures] == [(OWN_IP, 9, 9)]
        assert await store.dmarc_source_figures("example.com", T0 + dt.timedelta(hours=1)) == []
        assert await store.dmarc_reporter_figures("example.com") == [("google", OWN_IP, "pass", 9)]
        assert await store.purge_dmarc_reports(T0 + dt.timedelta(days=1)) == 0
        messages, reports = await tally(store, own_else_unknown)
        assert messages == {("example.com", "own", "pass", "none"): 9}
        assert reports == {("example.com", "google"): 1}
        assert await store.purge_dmarc_reports(T0 + dt.timedelta(days=1)) == 1
    finally:
        await store.close()


async def test_a_downgrade_from_0011_gives_each_row_its_report_values_again(
    store_url: str,
) -> None:
    store = await open_store(store_url)
    try:
        ctx = ingest_context(store, T0 + dt.timedelta(days=2))
        xml = report("down", [Row(OWN_IP, 4), Row(OTHER_IP, 3, dkim="fail", spf="fail")], begin=T0)
        await ingest_dmarc(xml, ctx)
    finally:
        await store.close()
    engine = build_engine(async_url(store_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade_to, "0010")
            rows = await conn.execute(
                select(
                    OLD_DMARC_ROWS.c.domain,
                    OLD_DMARC_ROWS.c.begin_at,
                    OLD_DMARC_ROWS.c.reporter,
                    OLD_DMARC_ROWS.c.source_ip,
                ).order_by(OLD_DMARC_ROWS.c.source_ip)
            )
            assert [tuple(r) for r in rows] == [
                ("example.com", T0, "google", OWN_IP),
                ("example.com", T0, "google", OTHER_IP),
            ]
    finally:
        await engine.dispose()
    store = await open_store(store_url)  # and up again
    try:
        figures = await store.dmarc_source_figures("example.com")
        assert sorted((f.source_ip, f.messages) for f in figures) == [(OWN_IP, 4), (OTHER_IP, 3)]
    finally:
        await store.close()


def _downgrade_to(conn: Connection, revision: str) -> None:
    command.downgrade(_migrations(conn), revision)


# --- the dmarc job, in the daemon -------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


def config_text(tmp_path: Path, sending_ips: list[str]) -> str:
    # DNS at a closed loopback port: SPF cannot tell, so a source not in sending_ips
    # stays "unclassified"; one in sending_ips is "own" without DNS.
    return offline_config(
        f"sqlite:///{tmp_path / 'd.db'}",
        extra=f"""[dmarc]
retention_days = 30
[[domains]]
name = "example.com"
sending_ips = {sending_ips!r}
""",
    )


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[tuple[Daemon, Clock, Path]]:
    clock = Clock()
    path = tmp_path / "delivermon.toml"
    text = config_text(tmp_path, [OWN_IP])
    path.write_text(text)
    started = Daemon(
        parse_config(text), DaemonOptions(config_path=path, listen="127.0.0.1:0"), clock=clock
    )
    await started.start()
    yield started, clock, path
    await started.stop()


def key(classification: str, dmarc: str = "pass") -> FigureKey:
    return FigureKey("example.com", classification, dmarc, "none")


async def test_the_job_counts_with_the_class_of_the_day_and_purges_after_retention(
    daemon: tuple[Daemon, Clock, Path], tmp_path: Path
) -> None:
    running, clock, path = daemon
    job: Callable[[], Awaitable[None]] = running.services.dmarc.classify
    begin = T0 - dt.timedelta(days=1)
    first = report("a", [Row(OWN_IP, 100), Row(OTHER_IP, 50, dkim="fail", spf="fail")], begin=begin)
    assert not await ingest(running.store, first, T0)
    await job()
    snap = running.services.dmarc.snapshot()
    assert snap.messages[key("own")] == 100
    assert snap.messages[key("unclassified", "fail")] == 50  # SPF could not tell
    assert snap.reports[("example.com", "google")] == 1
    # The source count says so too: one not told, never read as no unknown source.
    assert {c: n for (d, c), n in snap.sources.items() if d == "example.com"} == {
        "own": 1,
        "forwarder": 0,
        "unknown": 0,
        "unclassified": 1,
    }

    # The other source becomes "own" (added to sending_ips): what was counted stays where
    # it was counted; the 72-hour gauge and new reports follow the new class.
    path.write_text(config_text(tmp_path, [OWN_IP, OTHER_IP]))
    assert (await running.reload()).ok
    clock.now = T0 + dt.timedelta(hours=1)
    second = report("b", [Row(OTHER_IP, 20, dkim="fail", spf="fail")], org="yahoo.com", begin=begin)
    assert not await ingest(running.store, second, clock.now)
    await job()
    snap = running.services.dmarc.snapshot()
    assert snap.messages[key("unclassified", "fail")] == 50
    assert snap.messages[key("own", "fail")] == 20
    assert snap.recent[key("own", "fail")] == 70
    assert snap.recent[key("unclassified", "fail")] == 0
    counted = (dict(snap.messages), dict(snap.reports))

    # 31 days later: both reports are past retention_days = 30 and are deleted; the
    # counters keep every message and report they counted.
    clock.now = T0 + dt.timedelta(days=31, hours=2)
    await job()
    assert await running.store.dmarc_report_count("example.com") == 0
    snap = running.services.dmarc.snapshot()
    assert (dict(snap.messages), dict(snap.reports)) == counted
    assert snap.recent[key("own", "fail")] == 0

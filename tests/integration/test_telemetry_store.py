"""Telemetry in the store, on SQLite and PostgreSQL: a re-import of a day overwrites it (no
duplicate, no sum), a failed import keeps the stored values and compliance, the SNDS block
list is replaced whole, and the view reads no data as absent, never as 0."""

from __future__ import annotations

import datetime as dt

from monitor.model.telemetry import (
    FilterResult,
    GmailCompliance,
    GmailDomainImport,
    GmailStat,
    GmailState,
    SndsBlock,
    SndsImport,
    SndsRow,
    TelemetrySource,
)
from monitor.store import SqlStore
from monitor.telemetry.views import TelemetryView, build_view

NOW = dt.datetime(2026, 12, 5, 6, tzinfo=dt.UTC)
D1, D2 = dt.date(2026, 12, 2), dt.date(2026, 12, 3)


def ok(domain: str, *stats: tuple[dt.date, str, float]) -> GmailDomainImport:
    return GmailDomainImport(
        domain,
        GmailState.OK,
        tuple(GmailStat(domain, d, m, v) for d, m, v in stats),
        (GmailCompliance("spf", "compliant"), GmailCompliance("dkim", "needs_work")),
    )


def row(ip: str, end: dt.datetime, result: FilterResult, traps: int = 0) -> SndsRow:
    return SndsRow(
        ip,
        end - dt.timedelta(hours=23),
        end,
        10,
        10,
        10,
        result,
        "< 0.1%",
        None,
        None,
        traps,
        "mta.example.com",
        "",
        "",
    )


async def view(store: SqlStore, *, ips: tuple[str, ...] = ("192.0.2.10",)) -> TelemetryView:
    return build_view(
        gmail_domains=["example.com"],
        stats=await store.gmail_stats(since=dt.date(2026, 11, 1)),
        statuses=await store.telemetry_statuses(),
        snds_ips=ips,
        snds_rows=await store.snds_rows(since=NOW - dt.timedelta(days=30)),
        blocks=await store.snds_blocks(),
    )


async def test_gmail_reimport_overwrites_and_an_outage_keeps_what_was_stored(
    store: SqlStore,
) -> None:
    await store.save_gmail(
        [ok("example.com", (D1, "spam_rate", 0.001), (D2, "spam_rate", 0.002))], NOW
    )
    # the same window again, D2 revised by Google: one row per day and metric, the new value
    await store.save_gmail(
        [ok("example.com", (D1, "spam_rate", 0.001), (D2, "spam_rate", 0.004))],
        NOW + dt.timedelta(hours=6),
    )
    stats = await store.gmail_stats(since=D1)
    assert [(s.day, s.value) for s in stats] == [(D1, 0.001), (D2, 0.004)]
    outage = GmailDomainImport("example.com", GmailState.UNAVAILABLE, reason="http_503")
    await store.save_gmail([outage], NOW + dt.timedelta(hours=12))
    v = await view(store)
    d = v.gmail["example.com"]
    assert (d.state, d.reason, d.spam_rate, d.spam_rate_day) == (
        GmailState.UNAVAILABLE,
        "http_503",
        0.004,
        D2,
    )
    assert dict(d.compliance) == {"dkim": "needs_work", "spf": "compliant"}
    assert d.recovery_date == D2 + dt.timedelta(days=7)
    [status] = [s for s in await store.telemetry_statuses() if s.source is TelemetrySource.GMAIL]
    assert status.last_ok_at == NOW + dt.timedelta(hours=6)  # the last import that got through


async def test_a_domain_without_data_has_no_rate(store: SqlStore) -> None:
    await store.save_gmail(
        [GmailDomainImport("example.com", GmailState.NO_DATA, compliance=())], NOW
    )
    d = (await view(store)).gmail["example.com"]
    assert (d.state, d.spam_rate, dict(d.latest)) == (GmailState.NO_DATA, None, {})


async def test_a_block_list_read_in_part_adds_its_blocks_and_clears_nobody(
    store: SqlStore,
) -> None:
    """A list with an unreadable line was thrown away whole, so the range a readable line
    said blocks our IP read as "not blocked" from the last whole list (and so did the risk
    factor); its blocked ranges are now added, and nothing is cleared."""
    other = SndsBlock("198.51.100.0", "198.51.100.255", True, "Blocked due to user complaints")
    await store.save_snds(SndsImport((), (other,)), NOW)  # the last list read whole
    ours = SndsBlock("192.0.2.0", "192.0.2.255", True, "Blocked due to user complaints")
    failed = {"ip_status": "refused_lines:1"}
    await store.save_snds(SndsImport((), None, failed, (ours,)), NOW + dt.timedelta(days=1))
    v = await view(store)
    assert v.snds["192.0.2.10"].blocked is True
    assert v.snds_blocks_up is False  # the endpoint's import still failed
    assert {(b.first_ip, b.blocked) for b in await store.snds_blocks()} == {
        ("198.51.100.0", True),
        ("192.0.2.0", True),
    }
    # The same range again in a later partial list: one row, not two.
    await store.save_snds(SndsImport((), None, failed, (ours,)), NOW + dt.timedelta(days=2))
    assert len(await store.snds_blocks()) == 2


async def test_snds_rows_upsert_and_blocks_are_replaced_whole(store: SqlStore) -> None:
    end = NOW - dt.timedelta(days=1)
    blocked = SndsBlock("192.0.2.0", "192.0.2.31", True, "Blocked due to user complaints")
    await store.save_snds(
        SndsImport((row("192.0.2.10", end, FilterResult.GREEN),), (blocked,)), NOW
    )
    await store.save_snds(
        SndsImport(
            (
                row("192.0.2.10", end, FilterResult.RED, traps=2),
                row("198.51.100.7", end, FilterResult.GREEN),
            ),
            (),
        ),
        NOW + dt.timedelta(days=1),
    )
    rows = await store.snds_rows(since=NOW - dt.timedelta(days=7))
    assert [(r.ip, r.filter_result, r.trap_hits) for r in rows] == [
        ("192.0.2.10", FilterResult.RED, 2),
        ("198.51.100.7", FilterResult.GREEN, 0),
    ]
    assert await store.snds_blocks() == []
    v = await view(store)
    ip = v.snds["192.0.2.10"]
    assert (ip.filter_result, ip.trap_hits, ip.blocked, ip.configured) == (
        FilterResult.RED,
        2,
        False,
        True,
    )
    assert v.snds["198.51.100.7"].configured is False
    # a failed ipStatus import keeps the last list; the view says the endpoint is down
    await store.save_snds(SndsImport(None, (blocked,)), NOW + dt.timedelta(days=2))
    await store.save_snds(
        SndsImport(None, None, {"data": "http_503", "ip_status": "http_503"}),
        NOW + dt.timedelta(days=3),
    )
    v = await view(store)
    assert v.snds["192.0.2.10"].blocked is True
    assert (v.snds_data_up, v.snds_blocks_up) == (False, False)

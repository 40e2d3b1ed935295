"""What a stored DMARC row says: its alignment, and which reports a window holds.

On the real stores (SQLite and PostgreSQL), through ``ingest_dmarc`` and the store's
own queries, as the API and the dmarc job read them.
"""

from __future__ import annotations

import datetime as dt
import re

from dmarcreports import Row, aggregate_xml, ingest_context

from monitor.ingest.dmarc.service import ingest_dmarc
from monitor.store.store import SqlStore

NOW = dt.datetime(2026, 12, 5, 1, 30, tzinfo=dt.UTC)


def without_auth_results(xml: bytes) -> bytes:
    return re.sub(rb"<auth_results>.*?</auth_results>", b"", xml)


async def test_a_record_without_auth_results_is_aligned_as_policy_evaluated_says(
    store: SqlStore,
) -> None:
    rows = [
        Row("192.0.2.1", 50, dkim="pass", spf="fail"),
        Row("192.0.2.2", 7, dkim="fail", spf="pass"),
    ]
    xml = without_auth_results(aggregate_xml(rows, report_id="no-auth", begin=1764806400))
    assert b"auth_results" not in xml
    await ingest_dmarc(xml, ingest_context(store, NOW))
    figures = {f.source_ip: f for f in await store.dmarc_source_figures("example.com")}
    assert (figures["192.0.2.1"].dkim_aligned, figures["192.0.2.1"].spf_aligned) == (50, 0)
    assert (figures["192.0.2.2"].dkim_aligned, figures["192.0.2.2"].spf_aligned) == (0, 7)
    # With auth_results, they decide: an unaligned DKIM pass is not aligned, whatever
    # policy_evaluated says.
    listed = [Row("192.0.2.3", 5, dkim="pass", dkim_domain="esp.example.net", spf_result="fail")]
    await ingest_dmarc(
        aggregate_xml(listed, report_id="listed", begin=1764806400), ingest_context(store, NOW)
    )
    figures = {f.source_ip: f for f in await store.dmarc_source_figures("example.com")}
    assert (figures["192.0.2.3"].dkim_aligned, figures["192.0.2.3"].dmarc_pass) == (0, 5)


async def test_a_window_holds_the_reports_whose_range_reaches_into_it(store: SqlStore) -> None:
    # NOW is 01:30 on Dec 5: yesterday's daily report (Dec 4, whole day) arrived just now,
    # the one of Dec 2 two days ago.
    yesterday = int(dt.datetime(2026, 12, 4, tzinfo=dt.UTC).timestamp())
    older = int(dt.datetime(2026, 12, 2, tzinfo=dt.UTC).timestamp())
    for report_id, begin, ip in (("dec4", yesterday, "192.0.2.4"), ("dec2", older, "192.0.2.2")):
        xml = aggregate_xml([Row(ip, 10)], report_id=report_id, begin=begin)
        await ingest_dmarc(xml, ingest_context(store, NOW))
    day = NOW - dt.timedelta(days=1)
    assert [f.source_ip for f in await store.dmarc_source_figures("example.com", day)] == [
        "192.0.2.4"
    ]
    assert await store.dmarc_report_count("example.com", day) == 1
    assert await store.dmarc_reporter_figures("example.com", day) == [
        ("google", "192.0.2.4", "pass", 10)
    ]
    assert [t.source_ip for t in await store.dmarc_totals(day)] == ["192.0.2.4"]
    # The end of a range is in its window: Dec 2's ended at 23:59:59.
    end_of_dec2 = dt.datetime(2026, 12, 2, 23, 59, 59, tzinfo=dt.UTC)
    assert await store.dmarc_report_count("example.com", end_of_dec2) == 2
    assert await store.dmarc_report_count("example.com", end_of_dec2 + dt.timedelta(seconds=1)) == 1

"""A DMARC aggregate report is stored all or nothing, in one transaction, its rows written in
bounded batches (``ROW_BATCH`` rows per statement): a report of more rows than one batch is
stored completely and once; one refused near its end stores nothing. SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import gzip

import pytest
from dmarcreports import Row, aggregate_xml, ingest_context

from monitor.ingest.dmarc.service import ingest_dmarc
from monitor.ingest.errors import MalformedReportError
from monitor.ingest.kinds import IngestContext
from monitor.store.dmarc import ROW_BATCH
from monitor.store.store import SqlStore

NOW = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
SOURCES = 2 * ROW_BATCH + 7  # three statements' worth, the last one partly full


def context(store: SqlStore) -> IngestContext:
    return ingest_context(store, NOW)


def rows() -> list[Row]:
    # One distinct source per record (RFC 3849 addresses), so each is a row of its own.
    return [Row(f"2001:db8::{n:x}", n % 50 + 1) for n in range(1, SOURCES + 1)]


async def test_report_larger_than_one_batch_is_stored_completely_once(store: SqlStore) -> None:
    report = gzip.compress(aggregate_xml(rows(), report_id="batches-1"))
    want = {row.ip: row.count for row in rows()}
    first = await ingest_dmarc(report, context(store))
    assert not first.duplicate
    assert (first.fields["records"], first.fields["messages"]) == (SOURCES, sum(want.values()))
    figures = await store.dmarc_source_figures("example.com")
    assert {f.source_ip: f.messages for f in figures} == want
    again = await ingest_dmarc(report, context(store))
    assert again.duplicate
    assert again.id == first.id
    figures = await store.dmarc_source_figures("example.com")
    assert {f.source_ip: f.messages for f in figures} == want
    assert await store.dmarc_report_count("example.com") == 1


async def test_report_refused_near_its_end_stores_nothing(store: SqlStore) -> None:
    bad = [*rows(), Row("not-an-address", 1)]
    with pytest.raises(MalformedReportError) as refused:
        await ingest_dmarc(gzip.compress(aggregate_xml(bad, report_id="batches-2")), context(store))
    assert refused.value.reason == "bad_source_ip"
    assert await store.dmarc_report_count("example.com") == 0
    assert await store.dmarc_source_figures("example.com") == []

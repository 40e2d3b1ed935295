"""A report with more distinct rows than the parser holds at once (``Limits.hand_over_rows``)
is handed to the store in batches while it is parsed, staged, and summed into its rows by
the report's own transaction: the stored rows are the same as a parse held in memory
gives, once, through both ways a report reaches the thread (a large body, and a small
gzip whose rows outgrow one batch on the event loop). A refusal after rows were staged,
a duplicate, and a parse started over (invalid UTF-8) leave nothing staged and nothing
counted twice. SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections import Counter
from pathlib import Path

import pytest
from cli import run_cli
from dmarcreports import Row, aggregate_xml, ingest_context
from sqlalchemy import func, select

from monitor.daemon.dmarcjobs import STAGE_KEPT
from monitor.ingest.dmarc import DEFAULT_LIMITS, parse_dmarc
from monitor.ingest.dmarc.service import ingest_dmarc
from monitor.ingest.errors import MalformedReportError
from monitor.ingest.kinds import IngestContext
from monitor.store.dmarc import DmarcReportRecord, DmarcRowRecord
from monitor.store.models import ReportResult
from monitor.store.schema import dmarc_row_stage, dmarc_rows
from monitor.store.store import SqlStore

NOW = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
# Distinct sources: more than two batches' worth, and each source twice, a batch apart,
# so the same row is handed over in two batches and must be summed back into one.
SOURCES = 2 * DEFAULT_LIMITS.hand_over_rows + 300


def context(store: SqlStore) -> IngestContext:
    return ingest_context(store, NOW)


def source(n: int) -> str:
    return f"2001:db8::{n + 1:x}"  # RFC 3849, in the normal form the parser gives


def rows() -> list[Row]:
    first = [Row(source(n), n % 7 + 1) for n in range(SOURCES)]
    again = [Row(source(n), 2) for n in range(SOURCES)]
    return first + again


def want() -> Counter[str]:
    sums: Counter[str] = Counter()
    for row in rows():
        sums[row.ip] += row.count
    return sums


async def stored_rows(store: SqlStore) -> int:
    async with store._engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(dmarc_rows)) or 0)


async def staged_rows(store: SqlStore) -> int:
    async with store._engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(dmarc_row_stage)) or 0)


@pytest.mark.parametrize("container", ["xml", "gzip"])
async def test_large_report_is_staged_and_stored_as_one_report(
    store: SqlStore, container: str
) -> None:
    xml = aggregate_xml(rows(), report_id=f"stage-{container}")
    body = xml if container == "xml" else gzip.compress(xml)
    # The XML is over the size parsed in a thread, the gzip under it: its rows
    # outgrow one batch on the event loop and it is parsed again in a thread.
    assert (len(body) > 256 * 1024) == (container == "xml")
    in_memory = parse_dmarc(body)  # no sink: every row summed in memory
    assert in_memory.handed_over == 0
    assert len(in_memory.rows) == SOURCES

    first = await ingest_dmarc(body, context(store))
    assert not first.duplicate
    assert first.fields["records"] == 2 * SOURCES
    assert first.fields["messages"] == sum(want().values())
    figures = await store.dmarc_source_figures("example.com")
    assert {f.source_ip: f.messages for f in figures} == want()
    assert await stored_rows(store) == SOURCES  # one row per source: the parts were summed
    assert await staged_rows(store) == 0

    again = await ingest_dmarc(body, context(store))
    assert again.duplicate
    assert again.id == first.id
    assert await stored_rows(store) == SOURCES
    assert await staged_rows(store) == 0
    assert await store.dmarc_report_count("example.com") == 1


async def test_cli_process_stages_a_large_report(
    tmp_path: Path, store: SqlStore, store_url: str
) -> None:
    # A real `delivermon ingest dmarc` process (its default event loop, uvloop): the
    # parse thread hands its batches to that loop while the loop waits for the parse.
    conf = tmp_path / "delivermon.toml"
    conf.write_text(f'[store]\nurl = "{store_url}"\n[privacy]\npseudonym_key = "{"k" * 32}"\n')
    path = tmp_path / "large.xml.gz"
    path.write_bytes(gzip.compress(aggregate_xml(rows(), report_id="stage-cli")))
    done = run_cli("ingest", "dmarc", "--config", str(conf), "--json", str(path))
    assert done.returncode == 0, done.stderr
    [document] = json.loads(done.stdout)
    assert document["status"] == "stored"
    assert (document["report"]["records"], document["report"]["messages"]) == (
        2 * SOURCES,
        sum(want().values()),
    )
    figures = await store.dmarc_source_figures("example.com")
    assert {f.source_ip: f.messages for f in figures} == want()
    assert await stored_rows(store) == SOURCES
    assert await staged_rows(store) == 0


async def test_refusal_after_rows_were_staged_stores_nothing(store: SqlStore) -> None:
    bad = [*rows(), Row("not-an-address", 1)]
    with pytest.raises(MalformedReportError) as refused:
        await ingest_dmarc(aggregate_xml(bad, report_id="stage-bad"), context(store))
    assert refused.value.reason == "bad_source_ip"
    assert await store.dmarc_report_count("example.com") == 0
    assert await stored_rows(store) == 0
    assert await staged_rows(store) == 0


async def test_parse_started_over_counts_staged_rows_once(store: SqlStore) -> None:
    # Invalid UTF-8 after the first batches were handed over: the report is read a
    # second time with the byte replaced, and what the first read staged is dropped.
    xml = aggregate_xml(rows(), report_id="stage-utf8")
    body = xml.replace(b"</feedback>", b"<note>caf\xe9</note></feedback>")
    outcome = await ingest_dmarc(body, context(store))
    assert not outcome.duplicate
    figures = await store.dmarc_source_figures("example.com")
    assert {f.source_ip: f.messages for f in figures} == want()
    assert await stored_rows(store) == SOURCES
    assert await staged_rows(store) == 0


async def test_rows_left_staged_by_a_killed_process_are_purged(store: SqlStore) -> None:
    row = DmarcRowRecord(
        source_ip=source(1),
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
        messages=3,
    )
    await store.stage_dmarc_rows("old-load", [row, row], NOW - dt.timedelta(days=2))
    await store.stage_dmarc_rows("live-load", [row], NOW)
    assert await store.purge_dmarc_stage(NOW - dt.timedelta(days=1)) == 2
    assert await staged_rows(store) == 1
    await store.drop_dmarc_stage("live-load")
    assert await staged_rows(store) == 0
    assert await stored_rows(store) == 0


async def test_a_purge_while_a_report_is_staged_spares_its_rows(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The dmarc job's purge runs between the report's last batch and its own
    # transaction (called from here at that moment: the race, without its timing),
    # and the ingest's clock is three days behind the job's. Staged rows carry the
    # wall clock, not the ingest's, so the purge leaves them to the report.
    store_report = store.add_dmarc_report
    purged: list[int] = []

    async def purge_first(record: DmarcReportRecord) -> ReportResult:
        assert await staged_rows(store) > 0  # the race's moment: rows staged, not stored
        purged.append(await store.purge_dmarc_stage(dt.datetime.now(dt.UTC) - STAGE_KEPT))
        return await store_report(record)

    monkeypatch.setattr(store, "add_dmarc_report", purge_first)
    behind = ingest_context(store, dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
    outcome = await ingest_dmarc(aggregate_xml(rows(), report_id="stage-race"), behind)
    assert purged == [0]
    assert not outcome.duplicate
    figures = await store.dmarc_source_figures("example.com")
    assert {f.source_ip: f.messages for f in figures} == want()
    assert await stored_rows(store) == SOURCES
    assert await staged_rows(store) == 0

"""DMARC failure reports (ARF auth-failure, RFC 6591 / RFC 9991) from the corpus: their
DMARC fields are parsed, they are stored with recipients pseudonymised like complaints,
and counted by the domain they are about and what failed."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from corpus import CORPUS

from monitor.ingest.arf import parse_arf
from monitor.ingest.service import ArfIngestResult, ingest_arf
from monitor.model.privacy import Pseudonymizer
from monitor.store.store import SqlStore

NOW = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)


async def ingest(store: SqlStore, raw: bytes, at: dt.datetime) -> ArfIngestResult:
    return await ingest_arf(
        raw,
        store=store,
        pseudonymizer=Pseudonymizer(b"k" * 32),
        campaign_headers=(),
        store_raw=False,
        now=at,
    )


def samples(corpus_dir: Path) -> list[Path]:
    return sorted((corpus_dir / "arf").glob("authfailure-*.eml"))


def test_failure_report_fields_are_parsed(corpus_dir: Path) -> None:
    by_name = {p.name.split("__")[0] + "__" + p.name.split("__")[1]: p for p in samples(corpus_dir)}
    rfc = parse_arf(by_name["authfailure-rfc6591__mail-auth"].read_bytes())
    assert (rfc.auth_failure, rfc.dkim_domain, rfc.reported_domains) == (
        "bodyhash",
        "example.net",
        ("example.net",),
    )
    netease = parse_arf(by_name["authfailure-netease__parsedmarc"].read_bytes())
    assert (netease.auth_failure, netease.identity_alignment) == (None, "dkim,spf")
    opendmarc = parse_arf(by_name["authfailure-opendmarc__mail-auth"].read_bytes())
    assert opendmarc.source_ip == "148.163.85.135"  # the "(hostname)" comment dropped


async def test_failure_reports_are_counted_by_domain_and_failure(
    corpus_dir: Path, store: SqlStore
) -> None:
    assert CORPUS.is_dir()
    for path in samples(corpus_dir):
        result = await ingest(store, path.read_bytes(), NOW)
        assert result.feedback_type == "auth-failure"
    assert await store.dmarc_failure_counts() == {
        ("example.com", "dmarc"): 1,  # LinkedIn
        ("domain.de", "dmarc"): 1,
        ("example.net", "dmarc"): 2,  # sisimai arf-18 and arf-20
        ("cardinal.com", "dmarc"): 1,  # NetEase: no Auth-Failure, no Reported-Domain
        ("interpublication.org", "dmarc"): 1,
        ("example.net", "bodyhash"): 1,  # the RFC 6591 example
    }
    # Counted as no complaint: the complaint counters stay empty.
    assert await store.counts() == ()


async def test_the_failure_tally_counts_each_report_once_and_never_falls(
    corpus_dir: Path, store: SqlStore
) -> None:
    """The metric's source: the retention purge deletes the reports, not their count."""
    paths = samples(corpus_dir)
    for path in paths[1:]:
        await ingest(store, path.read_bytes(), NOW)
    assert await store.tally_dmarc_failures(NOW - dt.timedelta(seconds=1)) == {}
    counted = await store.tally_dmarc_failures(NOW + dt.timedelta(minutes=1))
    assert counted == await store.dmarc_failure_counts()
    assert sum(counted.values()) == len(paths) - 1
    # Asked again for the same span: nothing is added twice.
    assert await store.tally_dmarc_failures(NOW + dt.timedelta(minutes=1)) == counted

    purged = await store.purge(NOW + dt.timedelta(days=1))
    assert purged.reports == len(paths) - 1
    assert await store.dmarc_failure_counts() == {}
    assert await store.tally_dmarc_failures(NOW + dt.timedelta(days=2)) == counted

    later = NOW + dt.timedelta(days=3)
    await ingest(store, paths[0].read_bytes(), later)
    after = await store.tally_dmarc_failures(later + dt.timedelta(minutes=1))
    assert sum(after.values()) == len(paths)
    assert all(after[key] >= n for key, n in counted.items())


async def test_two_failure_tallies_at_once_count_each_report_once(
    corpus_dir: Path, store: SqlStore
) -> None:
    for path in samples(corpus_dir):
        await ingest(store, path.read_bytes(), NOW)
    until = NOW + dt.timedelta(minutes=1)
    await asyncio.gather(*(store.tally_dmarc_failures(until) for _ in range(4)))
    counted = await store.tally_dmarc_failures(until)
    assert counted == await store.dmarc_failure_counts()


async def test_rows_counted_under_raw_domains_are_labelled_once_and_stay(
    corpus_dir: Path, store: SqlStore
) -> None:
    """A tally written before labels were (one row per raw domain) is labelled at the
    first call, by the label the export used to read it through; after that, rows stay
    where they were counted, whatever the labels become."""
    from sqlalchemy import delete

    from monitor.store.schema import tally_watermarks

    for path in samples(corpus_dir):
        await ingest(store, path.read_bytes(), NOW)
    until = NOW + dt.timedelta(minutes=1)
    before = await store.tally_dmarc_failures(until)  # raw domains: every label is its own
    assert len({domain for domain, _ in before}) == 5
    async with store._writer.begin() as conn:  # as a store from before labels left it
        await conn.execute(
            delete(tally_watermarks).where(tally_watermarks.c.name == "dmarc_failures_labelled")
        )

    def net_only(domain: str) -> str:
        return domain if domain == "example.net" else "_other"

    labelled = await store.tally_dmarc_failures(until, net_only)
    assert labelled == {
        ("example.net", "dmarc"): 2,
        ("example.net", "bodyhash"): 1,
        ("_other", "dmarc"): 4,
    }
    # Every domain its own label from now on: nothing counted moves back.
    assert await store.tally_dmarc_failures(until, lambda domain: domain) == labelled


async def test_the_domain_of_a_failure_report_is_a_domain_name_as_configured(
    corpus_dir: Path, sqlite_store: SqlStore, sqlite_path: Path
) -> None:
    """An address where Reported-Domain belongs gives its domain (the address was stored
    as the report's domain, against "no address appears in the database"); junk is no
    domain, so the original's From gives it; an IDN (here in the original's From, no
    Reported-Domain) is the A-label the config spells, so it is counted for that domain."""
    raw = (corpus_dir / "arf" / "authfailure-rfc6591__mail-auth__003.eml").read_bytes()
    variants = {
        b"Reported-Domain: jane.doe@example.com": "example.com",
        b"Reported-Domain: <script>@evil": "example.net",
        b"X-Reported: none": "xn--bcher-kva.example",
    }
    for line in variants:
        message = raw.replace(b"Reported-Domain: example.net", line)
        if line.startswith(b"X-"):
            message = message.replace(
                b"From: randomuser@example.net",
                "From: M\u00fcller <m@B\u00fccher.example>".encode(),
            )
        await ingest(sqlite_store, message, NOW)
    counts = await sqlite_store.dmarc_failure_counts()
    assert counts == {
        ("example.com", "bodyhash"): 1,
        ("example.net", "bodyhash"): 1,
        ("xn--bcher-kva.example", "bodyhash"): 1,
    }
    from sqlitefile import database_bytes

    assert b"jane.doe" not in database_bytes(sqlite_path)

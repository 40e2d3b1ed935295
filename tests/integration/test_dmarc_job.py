"""The daemon's ``dmarc`` job against a resolver that never answers: a domain whose DNS
times out holds up no other (the domains are classified side by side)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import dns.message
import pytest
from daemon import PSEUDONYM_KEY
from dmarcreports import Row, aggregate_xml, ingest_context

from monitor.config import parse_config
from monitor.daemon.app import Daemon, DaemonOptions
from monitor.ingest.dmarc.service import ingest_dmarc

BEGIN = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
NOW = BEGIN + dt.timedelta(days=2)
# Reported, not configured: only the dmarc job asks for them (the auth checks ask for
# configured domains only).
DOMAINS = frozenset({"a.example", "b.example", "c.example"})


class Recorder(asyncio.DatagramProtocol):
    """A UDP "resolver" on 127.0.0.1 that reads every query and answers none."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.all_asked = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        for question in dns.message.from_wire(data).question:
            self.names.add(question.name.to_text(omit_final_dot=True).lower())
        if self.names >= DOMAINS:
            self.all_asked.set()


def job_daemon(
    tmp_path: Path,
    nameserver: str,
    *,
    timeout: int,
    extra: str = "",
    clock: Callable[[], dt.datetime] = lambda: NOW,
) -> Daemon:
    """A daemon on a SQLite store of its own, its DNS at ``nameserver`` (no cache, one
    attempt), no DNSBL zones, the clock at NOW (or ``clock``)."""
    text = f"""
[dns]
nameservers = ["{nameserver}"]
timeout = {timeout}
attempts = 1
cache_entries = 0
[dnsbl]
zones = []
[store]
url = "sqlite:///{tmp_path / "d.db"}"
[privacy]
pseudonym_key = "{PSEUDONYM_KEY}"
{extra}"""
    return Daemon(
        parse_config(text),
        DaemonOptions(config_path=None, listen="127.0.0.1:0", grace_seconds=1),
        clock=clock,
    )


async def test_a_domain_whose_dns_never_answers_holds_up_no_other(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    transport, recorder = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    daemon = job_daemon(tmp_path, f"127.0.0.1:{port}", timeout=20)
    await daemon.start()
    try:
        for n, domain in enumerate(sorted(DOMAINS)):
            raw = aggregate_xml(
                [Row("198.51.100.7", 5, dkim="fail", spf="fail")],
                report_id=f"r-{n}",
                domain=domain,
                begin=int(BEGIN.timestamp()),
            )
            await ingest_dmarc(raw, ingest_context(daemon.store, NOW))
        job = asyncio.create_task(daemon.services.dmarc.classify())
        try:
            # One domain after another, the second domain's SPF record would be asked
            # for only once the first one's query had timed out (20 s): all three asked
            # within 15 s means none waited for another.
            await asyncio.wait_for(recorder.all_asked.wait(), 15)
            assert not job.done()  # still waiting on the resolver, as it should
        finally:
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
    finally:
        transport.close()
        await daemon.stop()


async def test_a_stored_source_that_is_not_a_plain_address_stops_no_run(
    tmp_path: Path, closed_udp_port: str
) -> None:
    """A scoped IPv6 source (``fe80::1%eth0``), as ingest stored it before it refused
    them, is left unclassified: the run finishes and classifies the other sources and
    domains, where SPF's macro code used to raise and fail the whole run, every run."""
    from monitor.store.dmarc import DmarcReportRecord, DmarcRowRecord

    domains = "".join(
        f'[[domains]]\nname = "{name}"\nsending_ips = ["{ip}"]\n'
        for name, ip in (("a.example", "198.51.100.7"), ("b.example", "198.51.100.8"))
    )
    daemon = job_daemon(tmp_path, closed_udp_port, timeout=1, extra=domains)
    await daemon.start()
    try:
        raw = aggregate_xml(
            [Row("198.51.100.7", 5)], domain="a.example", begin=int(BEGIN.timestamp())
        )
        await ingest_dmarc(raw, ingest_context(daemon.store, NOW))

        def row(ip: str) -> DmarcRowRecord:
            return DmarcRowRecord(
                ip, "b.example", "none", "fail", False, False, "", "", "", "", "", 3
            )

        await daemon.store.add_dmarc_report(
            DmarcReportRecord(
                org="google.com",
                report_id="legacy",
                domain="b.example",
                org_name="google.com",
                reporter="google",
                begin=BEGIN,
                end=BEGIN + dt.timedelta(days=1),
                received_at=NOW,
                records=2,
                messages=6,
                policy="none",
                flavour="rfc7489",
                rows=[row("fe80::1%eth0"), row("198.51.100.8")],
            )
        )
        await daemon.services.dmarc.classify()  # raised AddressValueError before
        sources = daemon.services.dmarc.snapshot().sources
        assert sources[("a.example", "own")] == 1
        assert sources[("b.example", "own")] == 1
        assert sources[("b.example", "unclassified")] == 1
        stored = {s.source_ip: s.classification for s in await daemon.store.dmarc_sources()}
        assert stored == {"198.51.100.7": "own", "198.51.100.8": "own"}
    finally:
        await daemon.stop()


async def test_failure_reports_stay_under_the_label_they_were_counted_under(
    tmp_path: Path, closed_udp_port: str, corpus_dir: Path
) -> None:
    """Failure reports about example.net, neither configured nor reported on: _other.
    An aggregate report for example.net then gives it a series of its own, from 0: what
    _other counted stays there. The review saw _other fall from 184 to 111 when its share
    moved to example.net, which Prometheus reads as a reset and counts again (and
    DelivermonDmarcFailureReports fired for reports nobody had sent)."""
    from monitor.ingest.service import ingest_arf

    raw = (corpus_dir / "arf" / "authfailure-rfc6591__mail-auth__003.eml").read_bytes()

    now = [NOW]

    async def failure(message: bytes) -> None:
        await ingest_arf(
            message,
            store=daemon.store,
            pseudonymizer=ingest_context(daemon.store, NOW).pseudonymizer,
            campaign_headers=(),
            store_raw=False,
            now=now[0],
        )

    async def counted() -> dict[tuple[str, str], int]:
        now[0] += dt.timedelta(minutes=10)  # past the job's settling time
        await daemon.services.dmarc.classify()
        return dict(daemon.services.dmarc.snapshot().failures)

    daemon = job_daemon(tmp_path, closed_udp_port, timeout=1, clock=lambda: now[0])
    await daemon.start()
    try:
        await failure(raw)
        assert await counted() == {("_other", "bodyhash"): 1}
        report = aggregate_xml(
            [Row("198.51.100.7", 5)],
            report_id="r-net",
            domain="example.net",
            begin=int(BEGIN.timestamp()),
        )
        await ingest_dmarc(report, ingest_context(daemon.store, now[0]))
        assert await counted() == {("_other", "bodyhash"): 1}
        await failure(raw.replace(b"Subject:", b"X-Resent: 1\r\nSubject:", 1))
        assert await counted() == {
            ("_other", "bodyhash"): 1,
            ("example.net", "bodyhash"): 1,
        }
    finally:
        await daemon.stop()


async def test_dmarc_counters_stay_under_the_labels_they_were_counted_under(
    tmp_path: Path, closed_udp_port: str
) -> None:
    """example.net is not configured: its messages had their own series while it had
    reports stored, and went to _other once the retention purge deleted them (a jump in
    _other, counted by increase() as new mail). And the reporters with their own label
    were the 10 largest, so one that grew past another moved both. Now each report
    keeps the labels it was counted under."""
    now = [NOW]
    daemon = job_daemon(
        tmp_path,
        closed_udp_port,
        timeout=1,
        clock=lambda: now[0],
        extra="[dmarc]\nretention_days = 1\n",
    )

    async def report(n: int, reporter: str, domain: str = "example.com") -> None:
        raw = aggregate_xml(
            [Row("198.51.100.7", 2)],
            report_id=f"r-{reporter}-{n}",
            org=reporter,
            email=f"dmarc@{reporter}",
            domain=domain,
            begin=int((now[0] - dt.timedelta(days=1)).timestamp()),
        )
        await ingest_dmarc(raw, ingest_context(daemon.store, now[0]))

    async def counted() -> tuple[dict[str, int], dict[str, int]]:
        await daemon.services.dmarc.classify()
        snapshot = daemon.services.dmarc.snapshot()
        by_domain: dict[str, int] = {}
        for key, n in snapshot.messages.items():
            by_domain[key.domain] = by_domain.get(key.domain, 0) + n
        by_reporter: dict[str, int] = {}
        for (_domain, reporter), n in snapshot.reports.items():
            by_reporter[reporter] = by_reporter.get(reporter, 0) + n
        return by_domain, by_reporter

    await daemon.start()
    try:
        for n in range(10):
            await report(0, f"r{n}.example")
        await report(0, "late.example")  # the 11th other reporter: _other
        await report(0, "google.com", domain="example.net")
        domains, reporters = await counted()
        assert domains == {"example.com": 22, "example.net": 2}
        labelled = set(reporters) - {"_other"}  # google and the first 10 others counted
        assert len(labelled) == 11
        assert reporters["_other"] == 1
        # late.example grows past the others; example.net's report passes retention.
        now[0] += dt.timedelta(days=3)
        for n in range(1, 4):
            await report(n, "late.example")
        after_domains, after_reporters = await counted()
        assert after_domains == {"example.com": 28, "example.net": 2}
        assert set(after_reporters) - {"_other"} == labelled
        if "late.example" in labelled:
            assert (after_reporters["late.example"], after_reporters["_other"]) == (4, 1)
        else:
            assert after_reporters["_other"] == 4
    finally:
        await daemon.stop()


async def test_a_restarted_daemon_exports_the_stored_counters_before_its_first_run(
    tmp_path: Path, closed_udp_port: str
) -> None:
    """The counters came back at 0 after a restart until the first run had finished
    (SPF for every source): Prometheus read 0 then the lifetime total as a reset and an
    increase of the whole total. The restarted daemon's resolver never answers here, so
    its first run cannot finish while the test reads."""
    first = job_daemon(tmp_path, closed_udp_port, timeout=1)
    await first.start()
    try:
        report = aggregate_xml([Row("198.51.100.7", 5)], begin=int(BEGIN.timestamp()))
        await ingest_dmarc(report, ingest_context(first.store, NOW))
        await first.services.dmarc.classify()
        counted = first.services.dmarc.snapshot()
    finally:
        await first.stop()
    assert sum(counted.messages.values()) == 5

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    second = job_daemon(tmp_path, f"127.0.0.1:{port}", timeout=20)
    await second.start()
    try:
        restarted = second.services.dmarc.snapshot()
        assert {k: n for k, n in restarted.messages.items() if n} == {
            k: n for k, n in counted.messages.items() if n
        }
        assert restarted.reports == counted.reports
        assert restarted.failures == counted.failures
        # Exported at once: series there at start are no new series (see the next test).
        (pair,) = restarted.reports
        reports = second.metrics.registry.get_sample_value(
            "delivermon_dmarc_reports_total", dict(zip(("domain", "reporter"), pair, strict=True))
        )
        assert reports == 1
    finally:
        transport.close()
        await second.stop()


async def test_a_new_reporters_first_report_is_exported_at_0_first(
    tmp_path: Path, closed_udp_port: str
) -> None:
    """A DMARC counter series that appears after start (a domain's or reporter's first
    report) was exported at its full value at once, so Prometheus' increase() never
    counted that report; DelivermonDmarcFailureReports (increase over 1h) missed a
    domain's first failure report. It is held at 0 for [metrics] new_series_hold first."""
    daemon = job_daemon(
        tmp_path, closed_udp_port, timeout=1, extra='[metrics]\nnew_series_hold = "2s"\n'
    )
    await daemon.start()
    try:
        await daemon.services.dmarc.classify()  # the baseline: no report yet
        report = aggregate_xml([Row("198.51.100.7", 5)], begin=int(BEGIN.timestamp()))
        await ingest_dmarc(report, ingest_context(daemon.store, NOW))
        await daemon.services.dmarc.classify()
        snapshot = daemon.services.dmarc.snapshot()
        (pair,) = snapshot.reports
        labels = dict(zip(("domain", "reporter"), pair, strict=True))
        (key,) = [k for k, n in snapshot.messages.items() if n]
        names = ("domain", "classification", "dmarc", "disposition")
        messages = {name: getattr(key, name) for name in names}

        def exported() -> tuple[float | None, float | None]:
            value = daemon.metrics.registry.get_sample_value
            return (
                value("delivermon_dmarc_reports_total", labels),
                value("delivermon_dmarc_messages_total", messages),
            )

        assert exported() == (0, 0)
        await asyncio.sleep(2.2)
        assert exported() == (1, 5)
    finally:
        await daemon.stop()


async def test_the_first_reporters_received_get_the_labels(
    tmp_path: Path, closed_udp_port: str
) -> None:
    """The ten other reporters with a label of their own were those the database's
    GROUP BY listed first (by name on SQLite, hash order on PostgreSQL): the docs say
    the first ten counted. Now the first received: z-first's report came first, and
    a-last's, the last, is counted under _other though its name sorts first."""
    now = [NOW]
    daemon = job_daemon(tmp_path, closed_udp_port, timeout=1, clock=lambda: now[0])
    await daemon.start()
    try:
        names = ["z-first.example", *(f"m{n}.example" for n in range(10)), "a-last.example"]
        for name in names:
            now[0] += dt.timedelta(seconds=1)
            raw = aggregate_xml(
                [Row("198.51.100.7", 1)],
                report_id=f"r-{name}",
                org=name,
                email=f"dmarc@{name}",
                begin=int(BEGIN.timestamp()),
            )
            await ingest_dmarc(raw, ingest_context(daemon.store, now[0]))
        await daemon.services.dmarc.classify()
        reporters = {r for _, r in daemon.services.dmarc.snapshot().reports}
        assert reporters == {*names[:10], "_other"}  # m9 and a-last: _other
    finally:
        await daemon.stop()


async def test_on_a_fresh_store_a_report_stored_before_the_first_run_is_held_too(
    tmp_path: Path, closed_udp_port: str
) -> None:
    """A report ingested (by the CLI) before the daemon's first start was counted by its
    first run and shown at once: a fresh store had no baseline, so increase() never
    counted that report."""
    from monitor.store.store import open_store

    store = await open_store(f"sqlite:///{tmp_path / 'd.db'}")
    report = aggregate_xml([Row("198.51.100.7", 5)], begin=int(BEGIN.timestamp()))
    await ingest_dmarc(report, ingest_context(store, NOW))
    await store.close()
    daemon = job_daemon(
        tmp_path, closed_udp_port, timeout=1, extra='[metrics]\nnew_series_hold = "30s"\n'
    )
    await daemon.start()
    try:
        await daemon.services.dmarc.classify()
        (pair,) = daemon.services.dmarc.snapshot().reports
        labels = dict(zip(("domain", "reporter"), pair, strict=True))
        assert (
            daemon.metrics.registry.get_sample_value("delivermon_dmarc_reports_total", labels) == 0
        )
    finally:
        await daemon.stop()


async def test_a_source_past_the_cap_keeps_its_stored_class_in_the_gauge(
    tmp_path: Path, closed_udp_port: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``delivermon_dmarc_sources`` counted a source classified in an earlier run, now
    below the MAX_SOURCES largest, as unclassified, where the API (and the recent
    messages) read its stored class (an outside review, with 9,104 sources). The cap is
    lowered here to make the case with three sources."""
    import monitor.daemon.dmarcjobs as dmarcjobs

    ips = ("198.51.100.7", "198.51.100.8", "198.51.100.9")
    domains = f'[[domains]]\nname = "a.example"\nsending_ips = {list(ips)!r}\n'.replace("'", '"')
    daemon = job_daemon(tmp_path, closed_udp_port, timeout=1, extra=domains)
    await daemon.start()
    try:
        rows = [Row(ip, 10 - n) for n, ip in enumerate(ips)]
        raw = aggregate_xml(rows, domain="a.example", begin=int(BEGIN.timestamp()))
        await ingest_dmarc(raw, ingest_context(daemon.store, NOW))
        await daemon.services.dmarc.classify()
        assert daemon.services.dmarc.snapshot().sources[("a.example", "own")] == 3
        monkeypatch.setattr(dmarcjobs, "MAX_SOURCES", 1)
        await daemon.services.dmarc.classify()
        sources = daemon.services.dmarc.snapshot().sources
        assert (sources[("a.example", "own")], sources[("a.example", "unclassified")]) == (3, 0)
    finally:
        await daemon.stop()

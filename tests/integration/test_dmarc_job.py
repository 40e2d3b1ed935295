"""The daemon's ``dmarc`` job against a resolver that never answers: a domain whose DNS
times out holds up no other (the domains are classified side by side)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import dns.message
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


async def test_a_domain_whose_dns_never_answers_holds_up_no_other(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    transport, recorder = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    text = f"""
[dns]
nameservers = ["127.0.0.1:{port}"]
timeout = 20
attempts = 1
cache_entries = 0
[dnsbl]
zones = []
[store]
url = "sqlite:///{tmp_path / "d.db"}"
[privacy]
pseudonym_key = "{PSEUDONYM_KEY}"
"""
    daemon = Daemon(
        parse_config(text),
        DaemonOptions(config_path=None, listen="127.0.0.1:0", grace_seconds=1),
        clock=lambda: NOW,
    )
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

"""The operations scenario's world: the zones NSD serves and the daemon's config.

Used by the end-to-end operations test (a real Prometheus and Alertmanager) and by the
fresh-scrape test: NSD serves ``zen.spamhaus.org`` (the catalogue's RFC 5782 test
points, and 192.0.2.10 listed with 127.0.0.2, a critical list), ``bl.spamcop.net`` is
served broken (it fails its self-test, its results are unknown), and ``example.com`` is
compliant (SPF, DMARC p=reject, a 2048-bit DKIM key, MX, forward-confirmed PTR for its
sending IP). The daemon runs with 1-second intervals, tokens, a webhook notifier and
campaign ``promo-7`` registered with ``[[campaigns]]``.
"""

from __future__ import annotations

from pathlib import Path

from daemon import fast_config
from dnsserver import NsdServer
from unit.test_dkim_keygen import rsa_record
from zonefile import txt

IP = "192.0.2.10"
# DMARC sources (issue 13): own by SPF only (in the record, not in sending_ips), a
# forwarder (aligned DKIM, its own SPF), and an unknown sender (spoofing).
SPF_ONLY_IP = "192.0.2.11"
FORWARDER_IP = "198.51.100.7"
UNKNOWN_IP = "203.0.113.66"
LISTING_ZONE = "zen.spamhaus.org"  # catalogue severity critical
BROKEN_ZONE = "bl.spamcop.net"  # served broken: unhealthy, its results unknown
CAMPAIGN = "promo-7"
INGEST = "ingest-token-for-tests"
ADMIN = "admin-token-for-tests"


def spf_record(*extra_ips: str) -> str:
    ips = " ".join(f"ip4:{ip}" for ip in (IP, SPF_ONLY_IP, *extra_ips))
    return f"@ IN TXT {txt(f'v=spf1 {ips} -all')}"


def zones(*spf_extra_ips: str) -> dict[str, list[str]]:
    # The catalogue's test points of zen.spamhaus.org: test_listed 127.0.0.2 and
    # ::ffff:7f00:2 (the zone has IPv6 on; its families are self-tested separately).
    test_points = [
        "2.0.0.127 IN A 127.0.0.2",
        "2.0.0.0.0.0.f.7.f.f.f.f" + ".0" * 20 + " IN A 127.0.0.2",
    ]
    return {
        LISTING_ZONE: [*test_points, "10.2.0.192 IN A 127.0.0.2", '10.2.0.192 IN TXT "e2e"'],
        "example.com": [
            spf_record(*spf_extra_ips),
            f"bounce IN TXT {txt(f'v=spf1 ip4:{IP} -all')}",  # the envelope (MAIL FROM) domain
            f"_dmarc IN TXT {txt('v=DMARC1; p=reject; rua=mailto:dmarc@example.com')}",
            f"s1._domainkey IN TXT {txt(rsa_record(2048))}",
            "@ IN MX 10 mail.example.com.",
            f"mail IN A {IP}",
        ],
        "com": [],  # the DMARC tree walk may ask _dmarc.com
        "2.0.192.in-addr.arpa": ["10 IN PTR mail.example.com."],
        # The unknown DMARC source's forward-confirmed name (the dmarc job looks it up).
        "113.0.203.in-addr.arpa": ["66 IN PTR relay.example.org."],
        "example.org": [f"relay IN A {UNKNOWN_IP}"],
    }


def write_config(
    path: Path, nsd: NsdServer, notify_hook: str, *, extra: str = "", mta_log: Path | None = None
) -> None:
    """``extra``: more sections (the ops test adds [telemetry] pointed at its stand-ins);
    ``mta_log``: a Postfix log the mtalog job follows."""
    bounces = (
        "" if mta_log is None else f'[bounces]\nmta_logs = ["{mta_log}"]\nlog_interval = "1s"\n'
    )

    path.write_text(
        fast_config(
            nameserver=nsd.address,
            zones=[LISTING_ZONE, BROKEN_ZONE],
            store_url=f"sqlite:///{path.parent / 'delivermon.db'}",
            notify_url=notify_hook,
            new_series_hold="3s",
            extra=f"""
[http]
admin_token = "{ADMIN}"
ingest_token = "{INGEST}"

[[domains]]
name = "example.com"
sending_ips = ["{IP}"]
dkim_selectors = ["s1"]
envelope_domains = ["bounce.example.com"]

[dmarc]
interval = "1s"

[[campaigns]]
id = "{CAMPAIGN}"
category = "commercial"
consent = "single_opt_in"
sending_domain = "example.com"
"""
            + extra
            + bounces,
        )
    )

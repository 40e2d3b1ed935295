"""A DNSSEC-signed zone file for the test's NSD, and the DS record to trust it with.

dnspython signs the zone (ECDSA P-256, one key as KSK and ZSK, RRSIGs and NSEC records);
the test gives the DS to its validating resolver as the zone's trust anchor, so the
resolver can validate the zone without the root.
"""

from __future__ import annotations

import time
from pathlib import Path

import dns.dnssec
import dns.dnssectypes
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ec

SERIAL = 1


def write_signed_zone(origin: str, records: list[str], path: Path) -> str:
    """Write ``origin``'s zone (SOA, NS and ``records``), signed; return its DS as text."""
    name = dns.name.from_text(origin)
    text = "\n".join(
        [
            "$TTL 300",
            f"@ IN SOA localhost. hostmaster.{name} {SERIAL} 3600 600 86400 60",
            "@ IN NS localhost.",
            *records,
        ]
    )
    zone = dns.zone.from_text(text, origin=name, relativize=False)
    key = ec.generate_private_key(ec.SECP256R1())
    dnskey = dns.dnssec.make_dnskey(
        key.public_key(), dns.dnssectypes.Algorithm.ECDSAP256SHA256, flags=257
    )
    now = int(time.time())
    with zone.writer() as txn:
        dns.dnssec.sign_zone(
            zone,
            txn=txn,
            keys=[(key, dnskey)],
            add_dnskey=True,
            dnskey_ttl=300,
            inception=now - 3600,
            expiration=now + 30 * 86400,
        )
    zone.to_file(str(path), relativize=False)
    ds = dns.dnssec.make_ds(name, dnskey, dns.dnssec.DSDigest.SHA256)
    return f"{name} IN DS {ds}"

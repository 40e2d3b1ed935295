"""Targets and RFC 5782 query names: reversed IPv4, IPv6 nibbles, registered domains."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from checks.domains import DomainError, registered_domain, to_a_label
from checks.errors import ChecksError

__all__ = ["Target", "TargetError", "TargetKind", "ip_query_label", "parse_target"]


class TargetError(ChecksError):
    """A target that is neither an IP address nor a registrable domain name."""


class TargetKind(StrEnum):
    IP = "ip"
    DOMAIN = "domain"


@dataclass(frozen=True, slots=True)
class Target:
    """A checked target. ``query_label`` is what goes in front of a zone name."""

    text: str
    kind: TargetKind
    ip_version: int | None
    query_label: str


def ip_query_label(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """RFC 5782 §2.1 (IPv4 octets reversed) and §2.4 (IPv6: 32 nibbles reversed)."""
    return address.reverse_pointer.rsplit(".", 2)[0]


def parse_target(text: str) -> Target:
    """Classify and normalise a target.

    IPv4-mapped IPv6 addresses are checked as the IPv4 address they carry.
    Domains are converted to A-labels (IDNA 2008 with UTS #46 mapping), and
    domain lists are queried with the registered domain (the PSL), since they
    list registered domains only (URIBL) or ignore host labels (DBL, ZRD).

    Raises:
        TargetError: empty, malformed, or a public suffix itself.
    """
    raw = text.strip()
    if not raw:
        raise TargetError("empty target")
    if "%" in raw:
        raise TargetError(f"{raw!r}: scoped (link-local) addresses cannot be checked")
    try:
        address = ipaddress.ip_address(raw.removesuffix("."))
    except ValueError:
        pass
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return Target(str(address), TargetKind.IP, address.version, ip_query_label(address))
    try:
        domain = to_a_label(raw)
    except DomainError as exc:
        raise TargetError(str(exc).replace("domain name", "domain name or IP address")) from None
    registered = registered_domain(domain)
    if registered is None:
        raise TargetError(f"{raw!r} is a public suffix, not a registrable domain")
    return Target(domain, TargetKind.DOMAIN, None, registered)

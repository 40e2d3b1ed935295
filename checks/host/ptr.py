"""Reverse DNS of a sending IP: PTR names and forward confirmation (FCrDNS), IPv4 and IPv6.

Gmail requires that the sending IP has a PTR and that the PTR's host name resolves (A for
IPv4, AAAA for IPv6) back to the same IP. Every PTR name returned is checked; the IP is
forward-confirmed when at least one of them resolves back.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass

from checks.dns import Answer, DnsClient, DnsOutcome, NoData, NxDomain, RdataType, Unknown
from checks.findings import Finding, FindingSeverity
from checks.status import CheckStatus, status_of

__all__ = [
    "PtrPolicy",
    "PtrResult",
    "check_ptr",
    "evaluate_ptr",
    "is_generic_name",
    "parse_ip",
]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Labels (or label prefixes followed by a digit or hyphen) that ISPs use for end-user pools.
# Deliberately short: words like "static", "client" or "host" also name real mail servers.
_POOL_WORDS = ("dynamic", "dhcp", "dialup", "ppp", "pool", "dsl", "adsl", "cable")
_POOL_LABEL = re.compile(rf"(?:{'|'.join(_POOL_WORDS)})(?:[-0-9].*)?")


@dataclass(frozen=True, slots=True)
class PtrPolicy:
    """``expected_domains``: when set, some PTR name should lie under one of them."""

    expected_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PtrResult:
    """``names`` as returned (no trailing dot); ``forward_confirmed`` None when unknown."""

    ip: str
    status: CheckStatus
    names: tuple[str, ...]
    forward_confirmed: bool | None
    confirmed_names: tuple[str, ...]
    findings: tuple[Finding, ...]


def parse_ip(ip: str) -> IpAddress:
    """The address to check; an IPv4-mapped IPv6 address is the IPv4 address it carries.

    Raises:
        ValueError: ``ip`` is not an IP address.
    """
    address = ipaddress.ip_address(ip.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


async def check_ptr(ip: str, *, dns: DnsClient, policy: PtrPolicy) -> PtrResult:
    """PTR names of ``ip`` and whether one of them resolves back to it.

    Raises:
        ValueError: ``ip`` is not an IP address.
    """
    address = parse_ip(ip)
    ptr = await dns.query(address.reverse_pointer, RdataType.PTR)
    forward: dict[str, DnsOutcome] = {}
    if isinstance(ptr, Answer):
        rdtype = RdataType.A if address.version == 4 else RdataType.AAAA
        names = _names(ptr.records)
        outcomes = await asyncio.gather(*(dns.query(name, rdtype) for name in names))
        forward = dict(zip(names, outcomes, strict=True))
    return evaluate_ptr(address, ptr, forward, policy)


def _names(records: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.rstrip(".").lower() for r in records if r.rstrip(".")))


def evaluate_ptr(
    address: IpAddress,
    ptr: DnsOutcome,
    forward: Mapping[str, DnsOutcome],
    policy: PtrPolicy,
) -> PtrResult:
    """The verdict from the PTR lookup and each PTR name's forward lookup (sans-I/O)."""
    ip = str(address)
    if isinstance(ptr, Unknown):
        finding = _lookup_failed(f"PTR lookup for {ip} failed ({ptr.reason})", ptr)
        return PtrResult(ip, CheckStatus.UNKNOWN, (), None, (), (finding,))
    if isinstance(ptr, NxDomain | NoData):
        finding = Finding(
            "ptr.missing",
            FindingSeverity.ERROR,
            f"{ip} has no PTR record",
            {"nxdomain": isinstance(ptr, NxDomain)},
        )
        return PtrResult(ip, status_of([finding]), (), False, (), (finding,))

    names = _names(ptr.records)
    confirmed = tuple(n for n in names if _resolves_to(forward.get(n), address))
    failed = [n for n in names if isinstance(forward.get(n), Unknown) or n not in forward]
    findings: list[Finding] = []
    forward_confirmed: bool | None = True if confirmed else (None if failed else False)
    if forward_confirmed is None:
        outcome = forward.get(failed[0])
        findings.append(
            _lookup_failed(f"forward lookup of {failed[0]} failed", outcome, name=failed[0])
        )
    elif not forward_confirmed:
        findings.append(
            Finding(
                "ptr.not_forward_confirmed",
                FindingSeverity.ERROR,
                f"no PTR name of {ip} ({', '.join(names)}) resolves back to it",
                {"names": ", ".join(names)},
            )
        )
    unconfirmed = [n for n in names if n not in confirmed and n not in failed]
    if confirmed and unconfirmed:
        findings.append(
            Finding(
                "ptr.name_not_forward_confirmed",
                FindingSeverity.WARNING,
                f"PTR name(s) of {ip} that do not resolve back: {', '.join(unconfirmed)}; "
                "a receiver that looks at one of them sees no FCrDNS",
                {"names": ", ".join(unconfirmed)},
            )
        )
    if len(names) > 1:
        findings.append(
            Finding(
                "ptr.multiple_names",
                FindingSeverity.WARNING,
                f"{ip} has {len(names)} PTR names; receivers may look at any one of them",
                {"count": len(names), "confirmed": len(confirmed)},
            )
        )
    for name in names:
        if is_generic_name(name, address):
            findings.append(
                Finding(
                    "ptr.generic_name",
                    FindingSeverity.WARNING,
                    f"PTR name {name} looks like an ISP's generic (end-user pool) name",
                    {"name": name},
                )
            )
    expected = tuple(d.lower().rstrip(".") for d in policy.expected_domains)
    if expected and not any(_under(n, d) for n in names for d in expected):
        findings.append(
            Finding(
                "ptr.unexpected_domain",
                FindingSeverity.WARNING,
                f"no PTR name of {ip} is under {', '.join(expected)}",
                {"expected": ", ".join(expected)},
            )
        )
    status = status_of(findings, unknown=forward_confirmed is None)
    return PtrResult(ip, status, names, forward_confirmed, confirmed, tuple(findings))


def _resolves_to(outcome: DnsOutcome | None, address: IpAddress) -> bool:
    if not isinstance(outcome, Answer):
        return False
    for record in outcome.records:
        try:
            if ipaddress.ip_address(record) == address:
                return True
        except ValueError:
            continue
    return False


def _lookup_failed(message: str, outcome: DnsOutcome | None, *, name: str = "") -> Finding:
    reason = str(outcome.reason) if isinstance(outcome, Unknown) else "not_queried"
    detail: dict[str, str | int | bool | None] = {"reason": reason}
    if name:
        detail["name"] = name
    return Finding("ptr.lookup_failed", FindingSeverity.WARNING, message, detail)


def _under(name: str, domain: str) -> bool:
    return name == domain or name.endswith("." + domain)


def is_generic_name(name: str, address: IpAddress) -> bool:
    """Whether a PTR name looks like an ISP's generic name for end-user space.

    Conservative on purpose: true when the name embeds all four IPv4 octets in order or
    reversed (separated by '-', '.' or '_', or as twelve zero-padded digits), or when a
    label is, or starts with, a pool word (dynamic, dhcp, dialup, ppp, pool, dsl, adsl,
    cable) followed by nothing, a digit or a hyphen. IPv6 names get the label test only.
    Hex-encoded addresses and words like "static" or "client" are not flagged.
    """
    host = name.lower().rstrip(".")
    if any(_POOL_LABEL.fullmatch(label) for label in host.split(".")):
        return True
    if address.version != 4:
        return False
    octets = str(address).split(".")
    for order in (octets, octets[::-1]):
        separated = r"[-._]".join(rf"0{{0,{3 - len(o)}}}{o}" for o in order)
        if re.search(rf"(?<![0-9]){separated}(?![0-9])", host):
            return True
        padded = "".join(o.zfill(3) for o in order)
        if re.search(rf"(?<![0-9]){padded}(?![0-9])", host):
            return True
    return False

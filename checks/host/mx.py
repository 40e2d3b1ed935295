"""MX of a sending domain: none (implicit MX), null MX (RFC 7505), and hosts that don't resolve.

A sending domain needs working MX so that bounces, replies and feedback reach it. Each MX
host is resolved for A and AAAA, as a sending MTA would.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from checks.dns import Answer, DnsClient, DnsOutcome, NoData, NxDomain, RdataType, Unknown
from checks.domains import to_a_label
from checks.findings import Finding, FindingSeverity
from checks.status import CheckStatus, status_of

__all__ = ["MxHost", "MxPolicy", "MxResult", "check_mx", "evaluate_mx", "parse_mx_record"]

AddressOutcomes = tuple[DnsOutcome, DnsOutcome]
"""The outcomes of the A and the AAAA lookup of one name."""

_ERROR = FindingSeverity.ERROR
_WARNING = FindingSeverity.WARNING


@dataclass(frozen=True, slots=True)
class MxPolicy:
    """No options yet; here so that every check has the same signature."""


@dataclass(frozen=True, slots=True)
class MxHost:
    """One MX host; ``resolved`` is None when its address lookups failed."""

    preference: int
    name: str
    addresses: tuple[str, ...]
    resolved: bool | None


@dataclass(frozen=True, slots=True)
class MxResult:
    domain: str
    status: CheckStatus
    hosts: tuple[MxHost, ...]
    null_mx: bool
    findings: tuple[Finding, ...]


def parse_mx_record(text: str) -> tuple[int, str] | None:
    """``"10 mx.example.com."`` -> ``(10, "mx.example.com")``; the null MX target is ``"."``."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit():
        return None
    target = parts[1].lower()
    return int(parts[0]), ("." if target == "." else target.rstrip("."))


def _is_ip_literal(target: str) -> bool:
    try:
        ipaddress.ip_address(target.strip("[]"))
    except ValueError:
        return False
    return True


async def check_mx(domain: str, *, dns: DnsClient, policy: MxPolicy) -> MxResult:
    """MX records of ``domain`` and the addresses of each MX host.

    Raises:
        DomainError: ``domain`` is not a valid domain name.
    """
    name = to_a_label(domain)
    mx = await dns.query(name, RdataType.MX)
    if isinstance(mx, NoData):
        fallback = await _addresses(dns, name)
        return evaluate_mx(name, mx, {}, fallback=fallback)
    hosts: dict[str, AddressOutcomes] = {}
    if isinstance(mx, Answer):
        parsed = (parse_mx_record(r) for r in mx.records)
        targets = sorted({p[1] for p in parsed if p is not None and _resolvable_target(p[1])})
        outcomes = await asyncio.gather(*(_addresses(dns, t) for t in targets))
        hosts = dict(zip(targets, outcomes, strict=True))
    return evaluate_mx(name, mx, hosts)


def _resolvable_target(target: str) -> bool:
    # RFC 1123 §2.1 / RFC 3696 §2: a top-level label is never all-numeric, so an IP literal
    # cannot resolve as a host name; it is not looked up.
    return target != "." and not _is_ip_literal(target)


async def _addresses(dns: DnsClient, name: str) -> AddressOutcomes:
    a, aaaa = await asyncio.gather(dns.query(name, RdataType.A), dns.query(name, RdataType.AAAA))
    return a, aaaa


def evaluate_mx(
    domain: str,
    mx: DnsOutcome,
    hosts: Mapping[str, AddressOutcomes],
    *,
    fallback: AddressOutcomes | None = None,
) -> MxResult:
    """The verdict from the MX lookup and each host's A/AAAA lookups (sans-I/O).

    ``fallback`` holds the domain's own A/AAAA outcomes, used when it has no MX (RFC 5321
    §5.1 implicit MX).
    """
    if isinstance(mx, Unknown):
        finding = Finding(
            "mx.lookup_failed",
            _WARNING,
            f"MX lookup for {domain} failed ({mx.reason})",
            {"reason": str(mx.reason), "name": domain},
        )
        return MxResult(domain, CheckStatus.UNKNOWN, (), False, (finding,))
    if isinstance(mx, NxDomain):
        finding = Finding("mx.domain_not_found", _ERROR, f"{domain} does not exist (NXDOMAIN)")
        return MxResult(domain, status_of([finding]), (), False, (finding,))
    if isinstance(mx, NoData):
        finding = _missing(domain, fallback)
        return MxResult(domain, status_of([finding]), (), False, (finding,))

    records = sorted(p for p in map(parse_mx_record, mx.records) if p is not None)
    null = [r for r in records if r[1] == "."]
    real = [r for r in records if r[1] != "."]
    findings: list[Finding] = []
    if null and not real:
        findings.append(
            Finding(
                "mx.null_mx",
                # RFC 7505 §4.2: receivers may reject mail whose domain publishes a null MX.
                _ERROR,
                f"{domain} publishes a null MX: it accepts no mail, so bounces and replies "
                "fail and receivers may reject mail from it (RFC 7505 §4.2)",
            )
        )
        return MxResult(domain, status_of(findings), (), True, tuple(findings))
    if null:
        findings.append(
            Finding(
                "mx.null_mx_mixed",
                _ERROR,
                f"{domain} publishes a null MX together with {len(real)} other MX record(s)",
            )
        )
    unknown = False
    mx_hosts: list[MxHost] = []
    for preference, target in real:
        host, host_findings, host_unknown = _evaluate_host(preference, target, hosts.get(target))
        mx_hosts.append(host)
        findings += host_findings
        unknown = unknown or host_unknown
    # An unresolvable host is a failure we can see even if another host's lookup failed.
    status = status_of(findings, unknown=unknown and status_of(findings) is not CheckStatus.FAIL)
    return MxResult(domain, status, tuple(mx_hosts), bool(null), tuple(findings))


def _missing(domain: str, fallback: AddressOutcomes | None) -> Finding:
    addresses = _records(fallback) if fallback else ()
    lookup_failed = fallback is not None and any(isinstance(o, Unknown) for o in fallback)
    if addresses:
        tail = f"mail to it goes to its A/AAAA address ({', '.join(addresses)}), implicit MX"
        implicit = "yes"
    elif lookup_failed:
        tail = "whether it has an A/AAAA address for implicit MX could not be determined"
        implicit = "unknown"
    else:
        tail = "and it has no A/AAAA address either, so mail to it cannot be delivered"
        implicit = "no"
    return Finding(
        "mx.missing",
        # No route at all: replies and bounces cannot be delivered, and receivers that
        # check the sender's domain can reject its mail.
        _ERROR if implicit == "no" else _WARNING,
        f"{domain} has no MX record; {tail}",
        {"implicit_mx": implicit, "addresses": ", ".join(addresses)},
    )


def _records(outcomes: AddressOutcomes) -> tuple[str, ...]:
    return tuple(r for o in outcomes if isinstance(o, Answer) for r in o.records)


def _evaluate_host(
    preference: int, target: str, outcomes: AddressOutcomes | None
) -> tuple[MxHost, list[Finding], bool]:
    findings: list[Finding] = []
    if _is_ip_literal(target):
        findings.append(
            Finding(
                "mx.target_is_ip_literal",
                _WARNING,
                f"MX {target} is an IP address, not a host name",
                {"host": target},
            )
        )
        outcomes = None
    addresses = _records(outcomes) if outcomes is not None else ()
    failed = outcomes is not None and any(isinstance(o, Unknown) for o in outcomes)
    chain = next((o.cname_chain for o in outcomes or () if isinstance(o, Answer)), ())
    if chain:
        findings.append(
            Finding(
                "mx.target_is_cname",
                _WARNING,
                f"MX {target} is an alias (CNAME to {chain[-1]})",
                {"host": target, "cname_target": chain[-1]},
            )
        )
    resolved: bool | None = True if addresses else (None if failed else False)
    if resolved is None:
        reason = next(str(o.reason) for o in outcomes or () if isinstance(o, Unknown))
        findings.append(
            Finding(
                "mx.lookup_failed",
                _WARNING,
                f"addresses of MX {target} could not be looked up ({reason})",
                {"reason": reason, "name": target},
            )
        )
    elif not resolved:
        findings.append(
            Finding(
                "mx.host_unresolvable",
                _ERROR,
                f"MX {target} has no A or AAAA record",
                {"host": target},
            )
        )
    return MxHost(preference, target, addresses, resolved), findings, resolved is None

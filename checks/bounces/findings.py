"""Findings from classified bounces over a window: pure, the daemon passes its view.

* ``bounce.blocklist_cited``: a receiver cited a list; joined with the DNSBL sweep's
  verdicts for the IPs the replies name (``sweep``: listed, not_listed, unknown,
  not_in_sweep).
* ``bounce.reputation_ratelimit``: reputation rate limiting at a provider (a burst).
* ``bounce.dmarc_rejected``: DMARC rejections at a provider.
* ``bounce.hard_bounce_rate``: a campaign's dead-address share above the line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from checks.bounces.classify import OWN_LIST_NAMES
from checks.findings import Finding, FindingSeverity

__all__ = ["BounceCount", "BounceThresholds", "bounce_findings", "cited_ips"]

_IP = re.compile(r"(?<![\w.:])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.])")
# IPv6 candidates (an address or a network such as 2001:db8::/32); ipaddress decides.
_IP6 = re.compile(r"(?<![\w.])((?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?:/\d{1,3})?)(?![\w:.])", re.I)

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class BounceCount:
    campaign: str
    provider: str
    cls: str
    blocklist: str  # "" when not blocklisted
    bounces: int
    deferrals: int


@dataclass(frozen=True, slots=True)
class BounceThresholds:
    ratelimit: int = 10
    dmarc: int = 1
    hard_bounce_rate: float = 0.02
    min_volume: int = 1000


def cited_ips(reply: str) -> set[str]:
    """The IP addresses a reply names (the blocked client host): IPv4, and IPv6 addresses
    or networks (``2001:db8::/32``: a receiver blocking a whole range), compressed."""
    found = set()
    for text in _IP.findall(reply):
        try:
            address = ipaddress.IPv4Address(text)
        except ValueError:
            continue
        if not address.is_loopback:
            found.add(str(address))
    for text in _IP6.findall(reply):
        try:
            network = ipaddress.IPv6Network(text, strict=False)
        except ValueError:
            continue
        if network.network_address.is_loopback or network.network_address.is_unspecified:
            continue
        found.add(str(network) if "/" in text else str(network.network_address))
    return found


def _address(text: str) -> _Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None  # a domain target of a domain list


def _covered(cited: str, per_ip: Mapping[str, str]) -> list[str]:
    """The swept IPs (keys of ``per_ip``) that a cited address or network covers."""
    try:
        network = ipaddress.ip_network(cited, strict=False)
    except ValueError:
        return []
    return sorted(
        ip for ip in per_ip if (address := _address(ip)) is not None and address in network
    )


def _where(blocklist: str, sweep: str, swept: bool) -> str:
    """The cited list in words: a provider's own, one the reply does not name, or a named
    public list (which the sweep may not ask, or asks about other IPs only: ``swept``)."""
    if blocklist in OWN_LIST_NAMES:
        return "the provider's internal list"
    if blocklist == "unknown":
        return "a list it does not name"
    if sweep == "not_in_sweep" and swept:
        return f"list {blocklist}, which the sweep asks about other IPs, not the one cited"
    if sweep == "not_in_sweep":
        return f"list {blocklist}, which the sweep does not ask"
    return f"list {blocklist}"


def _sweep(
    blocklist: str, ips: set[str], verdicts: Mapping[str, Mapping[str, str]]
) -> tuple[str, str | None]:
    """(listed | not_listed | unknown | not_in_sweep, the IP it is about).

    ``verdicts[blocklist]`` is present (perhaps empty) when the sweep asks that list:
    ``unknown`` when it has no answer yet for the IPs, or could not tell (listed wins,
    then could-not-tell: it is never read as not listed).
    """
    first = next(iter(sorted(ips)), None)
    per_ip = verdicts.get(blocklist)
    if per_ip is None:
        return "not_in_sweep", first
    if not per_ip:
        return "unknown", first
    asked = [ip for cited in sorted(ips) for ip in _covered(cited, per_ip)]
    for ip in asked:
        if per_ip[ip] == "listed":
            return "listed", ip
    for ip in asked:
        if per_ip[ip] != "not_listed":
            return "unknown", ip
    if asked:
        return "not_listed", asked[0]
    return "not_in_sweep", first


def bounce_findings(
    counts: Iterable[BounceCount],
    *,
    attempts: Mapping[str, int],
    cited: Mapping[tuple[str, str], set[str]],
    verdicts: Mapping[str, Mapping[str, str]],
    thresholds: BounceThresholds,
) -> tuple[Finding, ...]:
    """The findings over one window.

    ``attempts``: per campaign, delivered plus bounced (the hard-bounce denominator);
    ``cited``: (provider, blocklist) -> IPs the replies named; ``verdicts``: blocklist
    name -> IP -> the sweep's verdict on that operator's zones (listed wins).
    """
    rows = list(counts)
    findings: list[Finding] = []
    lists: dict[tuple[str, str], int] = {}
    ratelimit: dict[str, int] = {}
    dmarc: dict[str, int] = {}
    dead: dict[str, int] = {}
    for r in rows:
        total = r.bounces + r.deferrals
        if r.cls == "blocklisted":
            key = (r.provider, r.blocklist or "unknown")
            lists[key] = lists.get(key, 0) + total
        elif r.cls == "reputation_ratelimit":
            ratelimit[r.provider] = ratelimit.get(r.provider, 0) + total
        elif r.cls == "auth_failure_dmarc":
            dmarc[r.provider] = dmarc.get(r.provider, 0) + total
        elif r.cls == "mailbox_unknown":
            dead[r.campaign] = dead.get(r.campaign, 0) + r.bounces
    for (provider, blocklist), n in sorted(lists.items()):
        sweep, ip = _sweep(blocklist, cited.get((provider, blocklist), set()), verdicts)
        where = _where(blocklist, sweep, blocklist in verdicts)
        findings.append(
            Finding(
                "bounce.blocklist_cited",
                FindingSeverity.CRITICAL,
                f"{n} refusal(s) by {provider} citing {where} ({blocklist}); sweep: {sweep}",
                {
                    "provider": provider,
                    "blocklist": blocklist,
                    "sweep": sweep,
                    "ip": ip,
                    "count": n,
                },
            )
        )
    per_provider = (
        (
            "bounce.reputation_ratelimit",
            FindingSeverity.WARNING,
            ratelimit,
            thresholds.ratelimit,
            "reputation rate-limit replies",
        ),
        (
            "bounce.dmarc_rejected",
            FindingSeverity.CRITICAL,
            dmarc,
            thresholds.dmarc,
            "DMARC rejection(s)",
        ),
    )
    for code, severity, counted, line, what in per_provider:
        for provider, n in sorted(counted.items()):
            if n >= line:
                findings.append(
                    Finding(
                        code,
                        severity,
                        f"{n} {what} at {provider}",
                        {"provider": provider, "count": n},
                    )
                )
    for campaign, n in sorted(dead.items()):
        total = attempts.get(campaign, 0)
        if total < thresholds.min_volume:
            continue  # below the volume guard a rate says nothing
        rate = n / total
        if rate >= thresholds.hard_bounce_rate:
            findings.append(
                Finding(
                    "bounce.hard_bounce_rate",
                    FindingSeverity.WARNING,
                    f"{rate:.2%} of campaign {campaign}'s attempts hit a dead address",
                    {"campaign": campaign, "count": n, "attempts": total},
                )
            )
    return tuple(findings)
